// The `braintune` command line: job commands against a coordinator (submit, status, list,
// watch, cancel, logs; cli.cc), a local evaluation (eval; eval_command.cc) and local dataset
// tools (dataset validate, inspect, synth, import-lebel; dataset_commands.cc).
#ifndef BRAINTUNE_CLI_CLI_H_
#define BRAINTUNE_CLI_CLI_H_

namespace braintune::cli {

// Exit codes: 0 success; 1 the command failed (coordinator unreachable, job failed, bad spec);
// 2 bad usage.
int RunCli(int argc, char** argv);

}  // namespace braintune::cli

#endif  // BRAINTUNE_CLI_CLI_H_

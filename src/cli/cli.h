// The `braintune` command line: job commands against a coordinator (submit, status, list,
// watch, cancel) and local dataset tools (dataset synth, dataset inspect).
#ifndef BRAINTUNE_CLI_CLI_H_
#define BRAINTUNE_CLI_CLI_H_

namespace braintune::cli {

// Exit codes: 0 success; 1 the command failed (coordinator unreachable, job failed, bad spec);
// 2 bad usage.
int RunCli(int argc, char** argv);

}  // namespace braintune::cli

#endif  // BRAINTUNE_CLI_CLI_H_

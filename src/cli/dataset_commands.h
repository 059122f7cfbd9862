// `braintune dataset ...`: validate, inspect, synth, import-lebel. Local tools: no coordinator.
#ifndef BRAINTUNE_CLI_DATASET_COMMANDS_H_
#define BRAINTUNE_CLI_DATASET_COMMANDS_H_

namespace braintune::cli {

// argv[1] == "dataset"; argv[2] names the tool. Returns the process exit code.
int RunDatasetCommand(int argc, char** argv);

}  // namespace braintune::cli

#endif  // BRAINTUNE_CLI_DATASET_COMMANDS_H_

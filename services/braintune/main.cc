#include "cli/cli.h"

int main(int argc, char** argv) { return braintune::cli::RunCli(argc, argv); }

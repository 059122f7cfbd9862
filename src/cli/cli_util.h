// Shared by the CLI's command files: exit codes, error printing, the --output flag.
#ifndef BRAINTUNE_CLI_CLI_UTIL_H_
#define BRAINTUNE_CLI_CLI_UTIL_H_

#include <string>

#include "common/flags.h"
#include "common/json.h"

namespace braintune::cli {

// 0 success; 1 the command failed; 2 bad usage.
constexpr int kOk = 0, kFailed = 1, kUsage = 2;

// Prints "braintune: error: <msg>" to stderr and returns `code`.
int Fail(const std::string& msg, int code = kFailed);

// kOk when --output is "table" or "json"; otherwise prints the usage error and returns kUsage.
int CheckOutputFlag(const Flags& f);

}  // namespace braintune::cli

#endif  // BRAINTUNE_CLI_CLI_UTIL_H_

// Shared by the CLI's command files: exit codes, error printing, JSON output.
#ifndef BRAINTUNE_CLI_CLI_UTIL_H_
#define BRAINTUNE_CLI_CLI_UTIL_H_

#include <google/protobuf/message.h>

#include <string>

namespace braintune::cli {

// 0 success; 1 the command failed; 2 bad usage.
constexpr int kOk = 0, kFailed = 1, kUsage = 2;

// Prints "braintune: error: <msg>" to stderr and returns `code`.
int Fail(const std::string& msg, int code = kFailed);

// Protobuf message as JSON with the .proto field names (what Python users index by).
std::string ToJson(const google::protobuf::Message& m, bool one_line = false);

}  // namespace braintune::cli

#endif  // BRAINTUNE_CLI_CLI_UTIL_H_

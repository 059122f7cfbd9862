// A small command-line parser for the braintune programs: positional arguments plus
// --name value / --name=value / boolean --name flags, each declared with a help line, and
// --help generated from the declarations. A server's flags may also come from the environment
// (FromEnvironment: containers are configured that way); the command line wins.
#ifndef BRAINTUNE_COMMON_FLAGS_H_
#define BRAINTUNE_COMMON_FLAGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace braintune {

class Flags {
 public:
  // `usage` is the first help line, e.g. "braintune submit FILE [flags]".
  Flags(std::string usage, std::string description);

  // Declares a flag that takes a value, with its default ("" = none) and help.
  Flags& Value(const std::string& name, const std::string& default_value, const std::string& help);
  // Declares a boolean flag (present = true).
  Flags& Bool(const std::string& name, const std::string& help);
  // Every flag not given on the command line is read from the environment variable
  // <prefix><NAME>, the name upper-cased with '-' as '_' (BRAINTUNE_WORKER_TOKEN_FILE for
  // --token-file), when set; a boolean takes "true"/"1" or "false"/"0". --help lists the names.
  Flags& FromEnvironment(std::string prefix);
  // The environment variable of flag `name` ("" without FromEnvironment).
  std::string EnvName(const std::string& name) const;

  // Parses argv[first..]; unknown flags and missing values are InvalidArgument errors naming
  // the flag. `--help` sets help_requested().
  absl::Status Parse(int argc, char** argv, int first = 1);

  // The one entry for a program's (or a CLI command's) flags: parses argv[first..]; on a bad
  // flag prints "<error_prefix>: <message>" to stderr and exits 2 (usage); on --help prints
  // Help() to stdout and exits 0. Returns only when the flags parsed and no help was asked for.
  void ParseOrExit(int argc, char** argv, int first, const std::string& error_prefix);

  const std::string& Get(const std::string& name) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name) const;
  absl::StatusOr<double> GetDouble(const std::string& name) const;
  bool IsSet(const std::string& name) const;  // boolean flags, or values given explicitly
  const std::vector<std::string>& positional() const { return positional_; }
  bool help_requested() const { return help_; }
  std::string Help() const;

 private:
  struct Spec {
    std::string default_value;
    std::string help;
    bool is_bool = false;
  };
  std::string usage_, description_, env_prefix_;
  std::map<std::string, Spec> specs_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

}  // namespace braintune

#endif  // BRAINTUNE_COMMON_FLAGS_H_

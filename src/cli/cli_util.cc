#include "cli/cli_util.h"

#include <iostream>

namespace braintune::cli {

int Fail(const std::string& msg, int code) {
  std::cerr << "braintune: error: " << msg << "\n";
  return code;
}

int CheckOutputFlag(const Flags& f) {
  if (f.Get("output") == "table" || f.Get("output") == "json") return kOk;
  return Fail("--output must be table or json", kUsage);
}

}  // namespace braintune::cli

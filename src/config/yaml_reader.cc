#include "config/yaml_reader.h"

namespace braintune::config {

absl::StatusOr<YAML::Node> LoadYaml(const std::string& text, const std::string& source, const char* what) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1, ": not valid ", what, ": ", e.msg));
  }
}

absl::Status GuardYaml(const std::string& source, const std::function<absl::Status()>& parse) {
  try {
    return parse();
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1, ": ", e.msg));
  }
}

}  // namespace braintune::config

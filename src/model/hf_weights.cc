#include "model/hf_weights.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "common/status_macros.h"
#include "model/safetensors.h"

namespace braintune::model {

using torch::Tensor;

std::shared_ptr<torch::nn::Module> Child(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

absl::StatusOr<std::string> FindHfWeights(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string path = (fs::path(dir) / "model.safetensors").string();
  if (fs::exists(path)) return path;
  std::error_code ec;
  std::string found;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".safetensors" && (found.empty() || e.path().string() < found)) found = e.path().string();
  }
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat(dir, ": no model.safetensors (pytorch_model.bin needs Python to read; ",
                                            "convert it with safetensors' convert script)"));
  }
  return found;
}

absl::Status CopyHfTensors(torch::nn::Module& module, const std::map<std::string, Tensor>& by_name,
                           const std::string& source, const std::set<std::string>& optional,
                           std::vector<std::string>* kept) {
  std::vector<std::string> missing, mis_shaped, absent_optional;
  auto params = module.named_parameters();
  for (const auto& item : params) {
    if (absl::StrContains(item.key(), "lora_")) continue;
    auto it = by_name.find(item.key());
    if (it == by_name.end()) {
      (optional.count(item.key()) ? absent_optional : missing).push_back(item.key());
    } else if (it->second.sizes() != item.value().sizes()) {
      mis_shaped.push_back(absl::StrCat(item.key(), " (file ", c10::str(it->second.sizes()), ", model ",
                                        c10::str(item.value().sizes()), ")"));
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : by_name) {
    if (params.find(name) == nullptr) unexpected.push_back(name);
  }
  auto first = [](const std::vector<std::string>& v) {
    std::vector<std::string> head(v.begin(), v.begin() + std::min<size_t>(v.size(), 5));
    return absl::StrCat(absl::StrJoin(head, ", "), v.size() > 5 ? absl::StrCat(" and ", v.size() - 5, " more") : "");
  };
  if (!mis_shaped.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", mis_shaped.size(), " tensors have the wrong shape for this config: ", first(mis_shaped)));
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", missing.size(), " parameters are missing: ", first(missing)));
  }
  if (!unexpected.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", unexpected.size(), " unexpected tensors: ", first(unexpected)));
  }
  torch::NoGradGuard no_grad;
  for (auto& item : params) {
    auto it = by_name.find(item.key());
    if (it != by_name.end()) item.value().copy_(it->second);
  }
  if (kept != nullptr) kept->insert(kept->end(), absent_optional.begin(), absent_optional.end());
  return absl::OkStatus();
}

absl::Status WriteHfDirectory(const std::string& dir, const std::vector<std::pair<std::string, Tensor>>& state,
                              const std::string& config_json, const std::vector<std::pair<std::string, Tensor>>& extra,
                              const std::string& extra_file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create: ", ec.message()));
  RETURN_IF_ERROR(WriteSafetensors((fs::path(dir) / "model.safetensors").string(), state, {{"format", "pt"}}));
  if (!extra.empty()) RETURN_IF_ERROR(WriteSafetensors((fs::path(dir) / extra_file).string(), extra, {{"format", "pt"}}));
  return WriteFileAtomically((fs::path(dir) / "config.json").string(), config_json);
}

}  // namespace braintune::model

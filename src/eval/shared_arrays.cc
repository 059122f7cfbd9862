#include "eval/shared_arrays.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace braintune::eval {

std::string LayerArray(const std::string& model, int layer, const std::string& what) {
  return absl::StrCat("models/", model, "/layer_", layer, "/", what);
}

std::string RemovalArray(const std::string& model) { return absl::StrCat("models/", model, "/removal/r"); }
std::string ErasureArray(const std::string& model) { return absl::StrCat("models/", model, "/erasure/r"); }
std::string ControlArray(const std::string& model, const std::string& control, const std::string& what) {
  return absl::StrCat("models/", model, "/", control, "/", what);
}

std::string SweepArray(const std::string& model, int layer, size_t point, const std::string& what) {
  return absl::StrCat("models/", model, "/sweep/", point, "/layer_", layer, "/", what);
}

SharedArrays::SharedArrays(std::vector<int64_t> offsets, int64_t total_targets)
    : offsets_(std::move(offsets)), total_targets_(total_targets) {}

void SharedArrays::Declare(const std::string& key, bool per_target) {
  const int64_t size = per_target ? total_targets_ : participants();
  if (arrays_.try_emplace(key, size, 0.0f).second && !per_target) per_participant_.insert(key);
}

void SharedArrays::PutTargets(const std::string& key, int p, const torch::Tensor& values) {
  Declare(key);
  torch::Tensor v = values.to(torch::kCPU, torch::kFloat32).contiguous();
  std::copy(v.data_ptr<float>(), v.data_ptr<float>() + v.numel(), arrays_.at(key).begin() + offsets_[p]);
}

void SharedArrays::PutValue(const std::string& key, int p, double value) {
  Declare(key, /*per_target=*/false);
  arrays_.at(key)[p] = static_cast<float>(value);
}

absl::Status SharedArrays::Reduce(dist::Communicator* comm) {
  // std::map: every rank sums its arrays in the same (key) order, whatever order it declared them in.
  for (auto& [key, values] : arrays_) {
    if (reduced_.insert(key).second) RETURN_IF_ERROR(comm->AllReduceSum(values.data(), static_cast<int64_t>(values.size())));
  }
  return absl::OkStatus();
}

int64_t SharedArrays::Targets(int p) const {
  return (p + 1 < participants() ? offsets_[p + 1] : total_targets_) - offsets_[p];
}

std::vector<float> SharedArrays::Values(const std::string& key, int p) const {
  const std::vector<float>& values = At(key);
  return std::vector<float>(values.begin() + offsets_[p], values.begin() + offsets_[p] + Targets(p));
}

torch::Tensor SharedArrays::Slice(const std::string& key, int p) const {
  return torch::tensor(Values(key, p)).to(torch::kFloat64);
}

}  // namespace braintune::eval

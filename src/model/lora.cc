#include "model/lora.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace braintune::model {

namespace nn = torch::nn;
namespace F = torch::nn::functional;
using torch::Tensor;

std::string LoraOptionsRecord(const LoraOptions& o) {
  return absl::StrCat("rank=", o.rank, " alpha=", o.alpha, " targets=", absl::StrJoin(o.targets, ","));
}

absl::StatusOr<LoraOptions> ParseLoraOptionsRecord(const std::string& record) {
  LoraOptions o;
  o.dropout = 0;
  bool rank = false, alpha = false, targets = false;
  for (absl::string_view field : absl::StrSplit(record, ' ', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(field, absl::MaxSplits('=', 1));
    if (kv.first == "rank") {
      rank = absl::SimpleAtoi(kv.second, &o.rank) && o.rank >= 1 && o.rank <= 4096;
    } else if (kv.first == "alpha") {
      alpha = absl::SimpleAtod(kv.second, &o.alpha) && std::isfinite(o.alpha) && o.alpha > 0;
    } else if (kv.first == "targets") {
      o.targets = absl::StrSplit(kv.second, ',', absl::SkipEmpty());
      targets = !o.targets.empty() && o.targets.size() <= 64 &&
                std::all_of(o.targets.begin(), o.targets.end(), [](const std::string& t) { return t.size() <= 64; });
    }
  }
  if (!rank) return absl::InvalidArgumentError("the LoRA record has no valid rank (1-4096)");
  if (!alpha) return absl::InvalidArgumentError("the LoRA record has no valid alpha (> 0)");
  if (!targets) return absl::InvalidArgumentError("the LoRA record has no valid targets (1-64 names of 1-64 characters)");
  return o;
}

absl::Status CheckLoraTargets(const LoraOptions& o, const std::vector<std::string>& known,
                              const std::string& model_type) {
  for (const std::string& t : o.targets) {
    if (std::find(known.begin(), known.end(), t) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("lora target '", t, "' is not a layer of ", model_type,
                                                     " (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

LoraLinearImpl::LoraLinearImpl(int64_t in, int64_t out) {
  // HF's initialisation of linear layers: N(0, 0.02), zero bias.
  weight = register_parameter("weight", torch::randn({out, in}) * 0.02);
  bias = register_parameter("bias", torch::zeros({out}));
}

void LoraLinearImpl::EnableLora(const LoraOptions& o) {
  const int64_t out = weight.size(0), in = weight.size(1);
  // As in the LoRA paper and peft: A Kaiming-uniform, B zero.
  Tensor a = torch::empty({o.rank, in}, weight.options());
  nn::init::kaiming_uniform_(a, std::sqrt(5.0));
  lora_A = register_parameter("lora_A", a);
  lora_B = register_parameter("lora_B", torch::zeros({out, o.rank}, weight.options()));
  scale_ = o.alpha / o.rank;
  dropout_ = o.dropout;
}

Tensor LoraLinearImpl::forward(const Tensor& x) {
  Tensor y = F::linear(x, weight, bias);
  if (!has_lora()) return y;
  Tensor d = dropout_ > 0 ? F::dropout(x, F::DropoutFuncOptions().p(dropout_).training(is_training())) : x;
  return y + F::linear(F::linear(d, lora_A), lora_B) * scale_;
}

Tensor LoraLinearImpl::MergedWeight() const {
  if (!has_lora()) return weight.detach();
  return (weight + torch::matmul(lora_B, lora_A) * scale_).detach();
}

std::vector<std::pair<std::string, Tensor>> MergedParameters(nn::Module& module) {
  std::map<std::string, Tensor> merged;
  for (const auto& item : module.named_modules()) {
    if (auto* lin = dynamic_cast<LoraLinearImpl*>(item.value().get()); lin != nullptr && lin->has_lora()) {
      merged[item.key() + ".weight"] = lin->MergedWeight();
    }
  }
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& item : module.named_parameters()) {
    if (absl::StrContains(item.key(), "lora_")) continue;
    auto it = merged.find(item.key());
    out.emplace_back(item.key(), it != merged.end() ? it->second : item.value().detach());
  }
  return out;
}

}  // namespace braintune::model

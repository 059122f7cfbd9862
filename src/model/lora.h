// LoRA (Hu et al. 2021) on a linear layer: y = W x + b + (alpha / r) B A dropout(x), with A [r, in]
// random and B [out, r] zero, so a fresh adapter leaves the output unchanged. Shared by every
// encoder (wav2vec2 / HuBERT, GPT-2, BERT); adapters are merged into W on export.
#ifndef BRAINTUNE_MODEL_LORA_H_
#define BRAINTUNE_MODEL_LORA_H_

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace braintune::model {

struct LoraOptions {
  int rank = 8;
  double alpha = 32;
  double dropout = 0.1;
  // Linear layers of each transformer layer that get an adapter, by the encoder's names
  // (wav2vec2: q_proj, k_proj, v_proj, out_proj, intermediate_dense, output_dense; GPT-2 and
  // BERT: model/text_encoder.h).
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "out_proj"};
};

// The options as one line of text, "rank=8 alpha=32 targets=q_proj,k_proj,v_proj,out_proj" (a
// tuned checkpoint records the adapters it carries with it: train/checkpoints.h), and back.
// Dropout is not recorded (it does not change a trained adapter's output). Parse errors name
// the field; the caller adds where the text came from.
std::string LoraOptionsRecord(const LoraOptions& options);
absl::StatusOr<LoraOptions> ParseLoraOptionsRecord(const std::string& record);

// InvalidArgument naming the first of options.targets that is not in `known` (the layers of a
// `model_type` encoder that can carry an adapter), listing them; OK otherwise.
absl::Status CheckLoraTargets(const LoraOptions& options, const std::vector<std::string>& known,
                              const std::string& model_type);

// A linear layer (weight [out, in]) that can carry a LoRA adapter (parameters lora_A, lora_B once
// enabled). Single-threaded, as any module.
class LoraLinearImpl : public torch::nn::Module {
 public:
  LoraLinearImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  void EnableLora(const LoraOptions& options);
  bool has_lora() const { return lora_A.defined(); }
  // W + (alpha / r) B A: the weight to export (no adapter needed to load it).
  torch::Tensor MergedWeight() const;

  torch::Tensor weight, bias, lora_A, lora_B;

 private:
  double scale_ = 0;
  double dropout_ = 0;
};
TORCH_MODULE(LoraLinear);

// The parameters of `module` by name, adapters merged into their weights and left out.
std::vector<std::pair<std::string, torch::Tensor>> MergedParameters(torch::nn::Module& module);

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_LORA_H_

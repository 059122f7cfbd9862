// wav2vec2 / HuBERT encoder in LibTorch, parameter for parameter Hugging Face's Wav2Vec2Model /
// HubertModel (same names, so pretrained checkpoints load by name and exports load in Python):
//
//   audio [B, T] --> feature_extractor: conv layers (GELU; GroupNorm after the first ("group"),
//                    or LayerNorm after each ("layer"))                     [B, C, frames]
//   --> feature_projection: (LayerNorm) + Linear                            [B, frames, hidden]
//   --> encoder: + pos_conv_embed (grouped conv, weight norm, GELU)
//       post-norm (base):  LayerNorm, then layers x = LN(x + attn(x)); x = LN(x + ffn(x))
//       pre-norm (large):  layers x = x + attn(LN(x)); x = x + ffn(LN(x)); then LayerNorm
//
// LoRA (model/lora.h) on any of the linear layers.
// bench/reference/wav2vec2_reference.py is the same architecture in plain PyTorch; the tests
// compare the two to 1e-5.
#ifndef BRAINTUNE_MODEL_WAV2VEC2_H_
#define BRAINTUNE_MODEL_WAV2VEC2_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "model/hf_config.h"
#include "model/lora.h"

namespace braintune::model {

// The names LoraOptions::targets may use for this encoder.
const std::vector<std::string>& LoraTargetNames();

class Wav2Vec2ModelImpl : public torch::nn::Module {
 public:
  explicit Wav2Vec2ModelImpl(const Wav2Vec2Config& config);

  // audio [B, T] -> HF's hidden_states: [layers + 1] x [B, frames, hidden]. Post-norm: entry 0
  // is the first layer's input (after the encoder LayerNorm), entry k layer k's output.
  // Pre-norm: entry 0 is the un-normalised input, the last is after the final LayerNorm.
  std::vector<torch::Tensor> Layers(torch::Tensor audio);
  torch::Tensor forward(torch::Tensor audio) { return Layers(std::move(audio)).back(); }

  // The convolutional feature encoder stops learning (and runs without autograd).
  void FreezeFeatureEncoder();
  // Adds adapters to options.targets of every layer and freezes every other parameter.
  // InvalidArgument naming a target this model does not have (q_proj, k_proj, v_proj,
  // out_proj, intermediate_dense, output_dense), before any change.
  absl::Status EnableLora(const LoraOptions& options);

  // Parameters by HF name, adapters merged into their weights (for export).
  std::vector<std::pair<std::string, torch::Tensor>> HfStateDict();
  // Copies a HF state dict in: a "wav2vec2." or "hubert." prefix is stripped, the newer
  // parametrizations names of the weight-normed position conv are accepted, and pre-training or
  // task heads (quantizer, project_q/hid, lm_head, final_proj, masked_spec_embed) are skipped
  // and listed in `skipped`. A missing, unexpected or mis-shaped tensor is an error naming it
  // and `source`; nothing is copied then.
  absl::Status LoadHfStateDict(const std::map<std::string, torch::Tensor>& tensors, const std::string& source,
                               std::vector<std::string>* skipped = nullptr);

  const Wav2Vec2Config& config() const { return config_; }
  int num_layers() const { return static_cast<int>(config_.num_hidden_layers); }

 private:
  torch::Tensor FeatureEncoder(torch::Tensor audio);
  torch::Tensor EncoderLayer(int i, torch::Tensor x);

  Wav2Vec2Config config_;
  struct ConvLayer {
    torch::nn::Conv1d conv{nullptr};
    torch::nn::GroupNorm group_norm{nullptr};
    torch::nn::LayerNorm layer_norm{nullptr};
  };
  std::vector<ConvLayer> conv_layers_;
  torch::nn::LayerNorm projection_norm_{nullptr};
  torch::nn::Linear projection_{nullptr};
  torch::Tensor pos_weight_g_, pos_weight_v_, pos_bias_;
  torch::nn::LayerNorm encoder_norm_{nullptr};
  struct Layer {
    LoraLinear q{nullptr}, k{nullptr}, v{nullptr}, out{nullptr}, intermediate{nullptr}, output{nullptr};
    torch::nn::LayerNorm norm{nullptr}, final_norm{nullptr};
  };
  std::vector<Layer> layers_;
  bool feature_encoder_frozen_ = false;
};
TORCH_MODULE(Wav2Vec2Model);

// Reads a Hugging Face checkpoint directory: config.json, and model.safetensors (or, failing
// that, the first *.safetensors). Errors name the file.
struct HfCheckpoint {
  Wav2Vec2Config config;
  std::map<std::string, torch::Tensor> tensors;
  std::string weights_path;
};
absl::StatusOr<HfCheckpoint> ReadHfCheckpoint(const std::string& dir);

// Writes `model` as a HF directory: config.json + model.safetensors (adapters merged), plus
// `extra` tensors (heads) in extra_file when not empty.
absl::Status ExportHf(Wav2Vec2Model& model, const std::string& dir,
                      const std::vector<std::pair<std::string, torch::Tensor>>& extra = {},
                      const std::string& extra_file = "");

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_WAV2VEC2_H_

// The skeleton's speech encoder (wav2vec2-shaped, sized for CPU) and the heads that map its
// pooled representation to each `space`'s targets.
//
//   audio [B, T] --> conv front end (strides 5,4,4,2: 160x down, GELU; no per-clip or per-channel
//   normalisation, which would erase the energy of a channel across the window, and no norm over
//   channels inside the stack, which amplifies gradients of silent frames ~300x per layer)
//   --> LayerNorm + Linear
//   --> + convolutional position embedding --> post-norm transformer layers --> mean over time
//   --> head[space] --> targets [B, n_targets]
#ifndef BRAINTUNE_MODEL_BRAIN_MODEL_H_
#define BRAINTUNE_MODEL_BRAIN_MODEL_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace braintune::model {

struct EncoderConfig {
  int conv_channels = 64;
  int hidden = 64;
  int layers = 2;
  int heads = 4;
  int ffn = 128;
};

// Samples of audio per encoder frame.
constexpr int kEncoderStride = 160;

class SpeechEncoderImpl : public torch::nn::Module {
 public:
  explicit SpeechEncoderImpl(const EncoderConfig& config);
  // audio [B, T] -> hidden states [B, frames, hidden]
  torch::Tensor forward(torch::Tensor audio);
  // audio [B, T] -> the hidden states of every layer, [layers + 1] x [B, frames, hidden]:
  // entry 0 is the transformer's input, entry k the output of transformer layer k.
  std::vector<torch::Tensor> Layers(torch::Tensor audio);
  int num_layers() const { return static_cast<int>(layers_.size()); }

 private:
  std::vector<torch::nn::Conv1d> convs_;
  torch::nn::LayerNorm feature_norm_{nullptr};
  torch::nn::Linear projection_{nullptr};
  torch::nn::Conv1d position_conv_{nullptr};
  torch::nn::LayerNorm encoder_norm_{nullptr};
  std::vector<torch::nn::TransformerEncoderLayer> layers_;
};
TORCH_MODULE(SpeechEncoder);

// Encoder plus one linear head per space (shared by the participants of that space).
class BrainModelImpl : public torch::nn::Module {
 public:
  // `spaces` maps a space name to its number of targets.
  BrainModelImpl(const EncoderConfig& config, const std::map<std::string, int64_t>& spaces);
  // audio [B, T] -> pooled representation [B, hidden]
  torch::Tensor Embed(torch::Tensor audio);
  // pooled [B, hidden] -> predictions [B, n_targets of space]
  torch::Tensor Head(const std::string& space, torch::Tensor pooled);
  SpeechEncoder& encoder() { return encoder_; }

 private:
  SpeechEncoder encoder_{nullptr};
  std::map<std::string, torch::nn::Linear> heads_;
};
TORCH_MODULE(BrainModel);

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_BRAIN_MODEL_H_

// The brain-tuning model: a wav2vec2 / HuBERT encoder (model/wav2vec2.h), a pooling of its last
// hidden state over time, and linear heads to each target set (one per `space`, shared by its
// participants, or one per participant).
//
//   audio [B, T] --> encoder --> [B, frames, hidden] --> pool (mean | last | attention)
//   --> head[name] --> targets [B, n_targets]
#ifndef BRAINTUNE_MODEL_BRAIN_MODEL_H_
#define BRAINTUNE_MODEL_BRAIN_MODEL_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "model/wav2vec2.h"

namespace braintune::model {

class BrainModelImpl : public torch::nn::Module {
 public:
  // `heads` maps a head name (a space, or a participant) to its number of targets. `pooling`:
  // "mean", "last" (the newest frame) or "attention" (a learned softmax weighting of frames).
  BrainModelImpl(const Wav2Vec2Config& config, const std::map<std::string, int64_t>& heads,
                 const std::string& pooling = "mean");
  // audio [B, T] -> pooled representation [B, hidden]
  torch::Tensor Embed(torch::Tensor audio);
  // pooled [B, hidden] -> predictions [B, n_targets of the head]
  torch::Tensor Head(const std::string& name, torch::Tensor pooled);
  Wav2Vec2Model& encoder() { return encoder_; }
  // The parameters of the heads and the pooling (the rest is the encoder).
  std::vector<torch::Tensor> HeadParameters();
  // Heads and pooling by name ("heads.<name>.weight", ...), for export beside the encoder.
  std::vector<std::pair<std::string, torch::Tensor>> HeadStateDict();

 private:
  Wav2Vec2Model encoder_{nullptr};
  std::string pooling_;
  torch::nn::Linear attention_pool_{nullptr};
  std::map<std::string, torch::nn::Linear> heads_;
};
TORCH_MODULE(BrainModel);

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_BRAIN_MODEL_H_

// The brain-tuning model: a wav2vec2 / HuBERT encoder (model/wav2vec2.h), a pooling of its last
// hidden state over time, and linear heads to each target set (one per `space`, shared by its
// participants, or one per participant).
//
//   audio [B, T] --> encoder --> [B, frames, hidden] --> pool (mean | last | attention)
//   --> head[name] --> targets [B, n_targets]
//
// Or the same with a GPT-2 / BERT encoder (model/text_encoder.h), pooled over the states of its
// last layer at the last token of each word of the sample (train/text_sample.h):
//
//   ids [B, T] --> encoder --> [B, T, hidden] --> at word ends [B, W, hidden] --> pool --> heads
#ifndef BRAINTUNE_MODEL_BRAIN_MODEL_H_
#define BRAINTUNE_MODEL_BRAIN_MODEL_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "model/text_encoder.h"
#include "model/wav2vec2.h"

namespace braintune::model {

class BrainModelImpl : public torch::nn::Module {
 public:
  // `heads` maps a head name (a space, or a participant) to its number of targets. `pooling`:
  // "mean", "last" (the newest frame) or "attention" (a learned softmax weighting of frames).
  BrainModelImpl(const Wav2Vec2Config& config, const std::map<std::string, int64_t>& heads,
                 const std::string& pooling = "mean");
  // A text model: the same heads and pooling on `text`'s last layer.
  BrainModelImpl(std::shared_ptr<TextEncoderImpl> text, const std::map<std::string, int64_t>& heads,
                 const std::string& pooling = "mean");
  // audio [B, T] -> pooled representation [B, hidden]
  torch::Tensor Embed(torch::Tensor audio);
  // A text model: ids [B, T] (padding on the right), mask [B, T] (1: a token), words [B, W]
  // (positions of each word's last token, padded with 0), word_mask [B, W] (1: a word) ->
  // pooled [B, hidden]; a sample without words pools to zeros.
  torch::Tensor EmbedText(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& words,
                          const torch::Tensor& word_mask);
  bool is_text() const { return text_ != nullptr; }
  // "wav2vec2", "hubert", "gpt2" or "bert".
  std::string model_type() const;
  // The text encoder (is_text()), else null.
  const std::shared_ptr<TextEncoderImpl>& text_encoder() { return text_; }
  // pooled [B, hidden] -> predictions [B, n_targets of the head]
  torch::Tensor Head(const std::string& name, torch::Tensor pooled);
  // The speech encoder (null for a text model).
  Wav2Vec2Model& encoder() { return encoder_; }
  // The parameters of the heads and the pooling (the rest is the encoder).
  std::vector<torch::Tensor> HeadParameters();
  // Heads and pooling by name ("heads.<name>.weight", ...), for export beside the encoder.
  std::vector<std::pair<std::string, torch::Tensor>> HeadStateDict();

 private:
  void AddHeads(int64_t hidden, const std::map<std::string, int64_t>& heads);

  Wav2Vec2Model encoder_{nullptr};
  std::shared_ptr<TextEncoderImpl> text_;
  std::string pooling_;
  torch::nn::Linear attention_pool_{nullptr};
  std::map<std::string, torch::nn::Linear> heads_;
};
TORCH_MODULE(BrainModel);

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_BRAIN_MODEL_H_

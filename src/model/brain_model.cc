#include "model/brain_model.h"

namespace braintune::model {

namespace nn = torch::nn;

BrainModelImpl::BrainModelImpl(const Wav2Vec2Config& config, const std::map<std::string, int64_t>& heads,
                               const std::string& pooling)
    : pooling_(pooling) {
  encoder_ = register_module("encoder", Wav2Vec2Model(config));
  AddHeads(config.hidden_size, heads);
}

BrainModelImpl::BrainModelImpl(std::shared_ptr<TextEncoderImpl> text, const std::map<std::string, int64_t>& heads,
                               const std::string& pooling)
    : text_(std::move(text)), pooling_(pooling) {
  register_module("encoder", text_);
  AddHeads(text_->config().hidden_size, heads);
}

void BrainModelImpl::AddHeads(int64_t hidden, const std::map<std::string, int64_t>& heads) {
  if (pooling_ == "attention") attention_pool_ = register_module("attention_pool", nn::Linear(hidden, 1));
  auto holder = register_module("heads", std::make_shared<nn::Module>());
  for (const auto& [name, targets] : heads) {
    heads_.emplace(name, holder->register_module(name, nn::Linear(hidden, targets)));
  }
}

std::string BrainModelImpl::model_type() const {
  return text_ ? text_->config().model_type : encoder_->config().model_type;
}

torch::Tensor BrainModelImpl::EmbedText(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& words,
                                        const torch::Tensor& word_mask) {
  torch::Tensor h = text_->Layers(ids, mask).back();  // [B, T, hidden]
  const int64_t b = h.size(0), w = words.size(1), hidden = h.size(2);
  // [B, W, hidden]: the state at each word's last token.
  torch::Tensor at = h.gather(1, words.unsqueeze(2).expand({b, w, hidden}));
  torch::Tensor m = word_mask.to(h.dtype()).unsqueeze(2);  // [B, W, 1]
  if (pooling_ == "last") {
    // The newest word: the last one the mask keeps (words are in order, padding after them).
    torch::Tensor count = word_mask.sum(1);  // [B]
    torch::Tensor index = (count - 1).clamp_min(0).view({b, 1, 1}).expand({b, 1, hidden});
    return at.gather(1, index).squeeze(1) * (count > 0).to(h.dtype()).unsqueeze(1);
  }
  if (pooling_ == "attention") {
    torch::Tensor score = attention_pool_(at).masked_fill(word_mask.unsqueeze(2) == 0, -1e9);  // [B, W, 1]
    return (torch::softmax(score, 1) * m * at).sum(1);
  }
  return (at * m).sum(1) / m.sum(1).clamp_min(1.0);
}

torch::Tensor BrainModelImpl::Embed(torch::Tensor audio) {
  torch::Tensor h = encoder_(audio);  // [B, frames, hidden]
  if (pooling_ == "last") return h.select(1, h.size(1) - 1);
  if (pooling_ == "attention") {
    torch::Tensor w = torch::softmax(attention_pool_(h), 1);  // [B, frames, 1]
    return (w * h).sum(1);
  }
  return h.mean(1);
}

torch::Tensor BrainModelImpl::Head(const std::string& name, torch::Tensor pooled) { return heads_.at(name)(pooled); }

std::vector<torch::Tensor> BrainModelImpl::HeadParameters() {
  std::vector<torch::Tensor> out;
  for (const auto& item : named_parameters()) {
    if (item.key().rfind("encoder.", 0) != 0) out.push_back(item.value());
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> BrainModelImpl::HeadStateDict() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters()) {
    if (item.key().rfind("encoder.", 0) != 0) out.emplace_back(item.key(), item.value().detach());
  }
  return out;
}

}  // namespace braintune::model

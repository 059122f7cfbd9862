#include "model/brain_model.h"

namespace braintune::model {

namespace nn = torch::nn;

BrainModelImpl::BrainModelImpl(const Wav2Vec2Config& config, const std::map<std::string, int64_t>& heads,
                               const std::string& pooling)
    : pooling_(pooling) {
  encoder_ = register_module("encoder", Wav2Vec2Model(config));
  if (pooling_ == "attention") attention_pool_ = register_module("attention_pool", nn::Linear(config.hidden_size, 1));
  auto holder = register_module("heads", std::make_shared<nn::Module>());
  for (const auto& [name, targets] : heads) {
    heads_.emplace(name, holder->register_module(name, nn::Linear(config.hidden_size, targets)));
  }
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

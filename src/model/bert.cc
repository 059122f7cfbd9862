// BERT (model/text_encoder.h).
#include "model/attention.h"
#include "model/hf_weights.h"
#include "model/text_encoder.h"

namespace braintune::model {

namespace nn = torch::nn;
namespace F = torch::nn::functional;
using torch::Tensor;

namespace {

class BertEncoderImpl final : public TextEncoderImpl {
 public:
  explicit BertEncoderImpl(const TextModelConfig& c) : TextEncoderImpl(c) {
    const int64_t h = c.hidden_size;
    auto ln = [&](nn::Module& m) {
      return m.register_module("LayerNorm", nn::LayerNorm(nn::LayerNormOptions({h}).eps(c.layer_norm_eps)));
    };
    auto emb = Child(*this, "embeddings");
    word_ = emb->register_module("word_embeddings", nn::Embedding(c.vocab_size, h));
    position_ = emb->register_module("position_embeddings", nn::Embedding(c.max_position_embeddings, h));
    token_type_ = emb->register_module("token_type_embeddings", nn::Embedding(c.type_vocab_size, h));
    {
      torch::NoGradGuard no_grad;  // HF's initialisation: N(0, 0.02)
      for (auto* e : {&word_, &position_, &token_type_}) (*e)->weight.normal_(0, 0.02);
    }
    embedding_norm_ = ln(*emb);
    auto layers = Child(*Child(*this, "encoder"), "layer");
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      auto layer = Child(*layers, std::to_string(i));
      auto attention = Child(*layer, "attention");
      auto self = Child(*attention, "self");
      auto attention_output = Child(*attention, "output");
      Layer l;
      l.query = self->register_module("query", LoraLinear(h, h));
      l.key = self->register_module("key", LoraLinear(h, h));
      l.value = self->register_module("value", LoraLinear(h, h));
      l.attention_output = attention_output->register_module("dense", LoraLinear(h, h));
      l.attention_norm = ln(*attention_output);
      l.intermediate = Child(*layer, "intermediate")->register_module("dense", LoraLinear(h, c.intermediate_size));
      auto output = Child(*layer, "output");
      l.output = output->register_module("dense", LoraLinear(c.intermediate_size, h));
      l.output_norm = ln(*output);
      layers_.push_back(l);
    }
    pooler_ = Child(*this, "pooler")->register_module("dense", nn::Linear(h, h));
  }

  std::vector<Tensor> Layers(const Tensor& ids, const Tensor& mask) override {
    const double p = is_training() ? config_.dropout : 0.0;
    auto drop = [&](const Tensor& y) { return p > 0 ? F::dropout(y, F::DropoutFuncOptions().p(p).training(true)) : y; };
    const int64_t b = ids.size(0), t = ids.size(1), heads = config_.num_attention_heads, h = config_.hidden_size;
    Tensor positions = torch::arange(t, ids.options().dtype(torch::kLong));
    Tensor x = word_(ids) + position_(positions).unsqueeze(0) + token_type_(torch::zeros_like(positions)).unsqueeze(0);
    x = drop(embedding_norm_(x));
    std::vector<Tensor> out{x};
    auto split = [&](const Tensor& y) { return y.view({b, t, heads, h / heads}).transpose(1, 2); };
    for (Layer& l : layers_) {
      Tensor ctx = MaskedAttention(split(l.query(x)), split(l.key(x)), split(l.value(x)), mask, /*causal=*/false, p);
      x = l.attention_norm(x + drop(l.attention_output(ctx.transpose(1, 2).reshape({b, t, h}))));
      x = l.output_norm(x + drop(l.output(torch::gelu(l.intermediate(x)))));
      out.push_back(x);
    }
    return out;
  }

 protected:
  std::map<std::string, LoraLinear> LoraTargets(int i) override {
    Layer& l = layers_[i];
    return {{"query", l.query},
            {"key", l.key},
            {"value", l.value},
            {"attention_output", l.attention_output},
            {"intermediate", l.intermediate},
            {"output", l.output}};
  }

 private:
  struct Layer {
    LoraLinear query{nullptr}, key{nullptr}, value{nullptr}, attention_output{nullptr}, intermediate{nullptr},
        output{nullptr};
    nn::LayerNorm attention_norm{nullptr}, output_norm{nullptr};
  };
  nn::Embedding word_{nullptr}, position_{nullptr}, token_type_{nullptr};
  nn::LayerNorm embedding_norm_{nullptr};
  std::vector<Layer> layers_;
  nn::Linear pooler_{nullptr};
};

}  // namespace

std::shared_ptr<TextEncoderImpl> MakeBertEncoder(const TextModelConfig& config) {
  return std::make_shared<BertEncoderImpl>(config);
}

}  // namespace braintune::model

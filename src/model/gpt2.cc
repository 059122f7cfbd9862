// GPT-2 (model/text_encoder.h).
#include <cmath>

#include "model/attention.h"
#include "model/hf_weights.h"
#include "model/text_encoder.h"

namespace braintune::model {

namespace nn = torch::nn;
namespace F = torch::nn::functional;
using torch::Tensor;

namespace {

// GPT-2's "gelu_new": the tanh approximation.
Tensor GeluTanh(const Tensor& x) {
  return 0.5 * x * (1.0 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

class Gpt2EncoderImpl final : public TextEncoderImpl {
 public:
  explicit Gpt2EncoderImpl(const TextModelConfig& c) : TextEncoderImpl(c) {
    const int64_t h = c.hidden_size;
    auto ln = [&](nn::Module& m, const std::string& name) {
      return m.register_module(name, nn::LayerNorm(nn::LayerNormOptions({h}).eps(c.layer_norm_eps)));
    };
    wte_ = register_module("wte", nn::Embedding(c.vocab_size, h));
    wpe_ = register_module("wpe", nn::Embedding(c.max_position_embeddings, h));
    {
      torch::NoGradGuard no_grad;  // HF's initialisation: N(0, 0.02)
      wte_->weight.normal_(0, 0.02);
      wpe_->weight.normal_(0, 0.02);
    }
    auto blocks = Child(*this, "h");
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      auto block = Child(*blocks, std::to_string(i));
      Block b;
      b.ln_1 = ln(*block, "ln_1");
      auto attn = Child(*block, "attn");
      b.c_attn = attn->register_module("c_attn", LoraLinear(h, 3 * h));
      b.c_proj = attn->register_module("c_proj", LoraLinear(h, h));
      b.ln_2 = ln(*block, "ln_2");
      auto mlp = Child(*block, "mlp");
      b.c_fc = mlp->register_module("c_fc", LoraLinear(h, c.intermediate_size));
      b.mlp_c_proj = mlp->register_module("c_proj", LoraLinear(c.intermediate_size, h));
      blocks_.push_back(b);
    }
    ln_f_ = ln(*this, "ln_f");
    // As HF (and the GPT-2 paper): the projections back into the residual stream start smaller,
    // N(0, 0.02 / sqrt(2 x layers)).
    torch::NoGradGuard no_grad;
    for (Block& b : blocks_) {
      for (LoraLinear* proj : {&b.c_proj, &b.mlp_c_proj}) (*proj)->weight.normal_(0, 0.02 / std::sqrt(2.0 * c.num_hidden_layers));
    }
  }

  std::vector<Tensor> Layers(const Tensor& ids, const Tensor& mask) override { return Run(ids, mask, -1, {}); }

  absl::StatusOr<Tensor> NextTokenLogits(const Tensor& ids, const Tensor& mask, int layer,
                                         const std::function<Tensor(const Tensor&)>& edit) override {
    if (edit && (layer < 0 || layer > num_layers())) {
      return absl::InvalidArgumentError(absl::StrCat("layer ", layer, " is not in [0, ", num_layers(), "]"));
    }
    return torch::matmul(Run(ids, mask, layer, edit).back(), wte_->weight.t());
  }

 private:
  // Layers, with hidden state `edit_layer` replaced by edit(state) when `edit` is set.
  std::vector<Tensor> Run(const Tensor& ids, const Tensor& mask, int edit_layer,
                          const std::function<Tensor(const Tensor&)>& edit) {
    auto patch = [&](int k, Tensor x) { return edit && k == edit_layer ? edit(x) : x; };
    const double p = is_training() ? config_.dropout : 0.0;
    auto drop = [&](const Tensor& y) { return p > 0 ? F::dropout(y, F::DropoutFuncOptions().p(p).training(true)) : y; };
    const int64_t b = ids.size(0), t = ids.size(1), heads = config_.num_attention_heads, h = config_.hidden_size;
    Tensor x = patch(0, drop(wte_(ids) + wpe_(torch::arange(t, ids.options().dtype(torch::kLong))).unsqueeze(0)));
    std::vector<Tensor> out{x};
    auto split = [&](const Tensor& y) { return y.view({b, t, heads, h / heads}).transpose(1, 2); };
    for (Block& blk : blocks_) {
      std::vector<Tensor> qkv = blk.c_attn(blk.ln_1(x)).split(h, -1);
      Tensor ctx = MaskedAttention(split(qkv[0]), split(qkv[1]), split(qkv[2]), mask, /*causal=*/true, p);
      x = x + drop(blk.c_proj(ctx.transpose(1, 2).reshape({b, t, h})));
      x = x + drop(blk.mlp_c_proj(GeluTanh(blk.c_fc(blk.ln_2(x)))));
      const int k = static_cast<int>(out.size());
      // The last state is after ln_f (HF's convention), and is edited there.
      if (k < num_layers()) x = patch(k, x);
      out.push_back(x);
    }
    out.back() = ln_f_(x);
    if (num_layers() > 0) out.back() = patch(num_layers(), out.back());
    return out;
  }

 protected:
  std::map<std::string, LoraLinear> LoraTargets(int i) override {
    Block& b = blocks_[i];
    return {{"c_attn", b.c_attn}, {"c_proj", b.c_proj}, {"c_fc", b.c_fc}, {"mlp_c_proj", b.mlp_c_proj}};
  }

 private:
  struct Block {
    nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
    LoraLinear c_attn{nullptr}, c_proj{nullptr}, c_fc{nullptr}, mlp_c_proj{nullptr};
  };
  nn::Embedding wte_{nullptr}, wpe_{nullptr};
  std::vector<Block> blocks_;
  nn::LayerNorm ln_f_{nullptr};
};

}  // namespace

std::shared_ptr<TextEncoderImpl> MakeGpt2Encoder(const TextModelConfig& config) {
  return std::make_shared<Gpt2EncoderImpl>(config);
}

}  // namespace braintune::model

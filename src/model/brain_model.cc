#include "model/brain_model.h"

#include <cmath>

namespace braintune::model {

namespace nn = torch::nn;

namespace {

// GELU from erf. Debian's LibTorch 1.13 fused GELU backward reads garbage when the incoming
// gradient is laid out differently from the input (a transposed view, as after the time/channel
// transposes here): gradients of 1e24 that change from run to run. Elementwise ops are right.
// tests/model/brain_model_test.cc checks that gradients are finite and repeatable.
torch::Tensor Gelu(const torch::Tensor& x) { return x * 0.5 * (1.0 + torch::erf(x * M_SQRT1_2)); }

// LayerNorm over the last dimension from elementwise ops, for the same reason (its input and
// gradient here are transposed views).
torch::Tensor LayerNormLastDim(const torch::Tensor& x, const nn::LayerNorm& norm) {
  auto mean = x.mean(-1, /*keepdim=*/true);
  auto centered = x - mean;
  auto var = centered.pow(2).mean(-1, /*keepdim=*/true);
  return centered * torch::rsqrt(var + 1e-5) * norm->weight + norm->bias;
}

}  // namespace


SpeechEncoderImpl::SpeechEncoderImpl(const EncoderConfig& c) {
  const int ch = c.conv_channels;
  struct ConvSpec {
    int in, kernel, stride;
  };
  const ConvSpec specs[] = {{1, 10, 5}, {ch, 8, 4}, {ch, 4, 4}, {ch, 2, 2}};
  for (size_t i = 0; i < std::size(specs); ++i) {
    convs_.push_back(register_module(
        "conv" + std::to_string(i),
        nn::Conv1d(nn::Conv1dOptions(specs[i].in, ch, specs[i].kernel).stride(specs[i].stride))));
  }
  feature_norm_ = register_module("feature_norm", nn::LayerNorm(nn::LayerNormOptions({ch})));
  projection_ = register_module("projection", nn::Linear(ch, c.hidden));
  int groups = c.heads;
  position_conv_ = register_module(
      "position_conv", nn::Conv1d(nn::Conv1dOptions(c.hidden, c.hidden, 15).padding(7).groups(groups)));
  encoder_norm_ = register_module("encoder_norm", nn::LayerNorm(nn::LayerNormOptions({c.hidden})));
  for (int i = 0; i < c.layers; ++i) {
    layers_.push_back(register_module(
        "layer" + std::to_string(i),
        nn::TransformerEncoderLayer(nn::TransformerEncoderLayerOptions(c.hidden, c.heads)
                                        .dim_feedforward(c.ffn)
                                        .dropout(0.0)
                                        .activation(torch::kGELU))));
  }
}

torch::Tensor SpeechEncoderImpl::forward(torch::Tensor audio) { return Layers(audio).back(); }

std::vector<torch::Tensor> SpeechEncoderImpl::Layers(torch::Tensor audio) {
  auto x = audio.unsqueeze(1);  // [B, 1, T]
  for (size_t i = 0; i < convs_.size(); ++i) {
    x = Gelu(convs_[i](x));
  }
  x = x.transpose(1, 2);                                  // [B, frames, ch]
  x = projection_(LayerNormLastDim(x, feature_norm_));    // [B, frames, hidden]
  auto pos = Gelu(position_conv_(x.transpose(1, 2))).transpose(1, 2);
  // Contiguous: the transformer layers' own fused kernels then see plain layouts.
  x = LayerNormLastDim(x + pos, encoder_norm_).transpose(0, 1).contiguous();  // [frames, B, hidden]
  std::vector<torch::Tensor> out = {x.transpose(0, 1)};
  for (auto& layer : layers_) {
    x = layer(x);
    out.push_back(x.transpose(0, 1));
  }
  return out;
}

BrainModelImpl::BrainModelImpl(const EncoderConfig& config, const std::map<std::string, int64_t>& spaces) {
  encoder_ = register_module("encoder", SpeechEncoder(config));
  for (const auto& [space, targets] : spaces) {
    heads_.emplace(space, register_module("head_" + space, nn::Linear(config.hidden, targets)));
  }
}

torch::Tensor BrainModelImpl::Embed(torch::Tensor audio) { return encoder_(audio).mean(1); }

torch::Tensor BrainModelImpl::Head(const std::string& space, torch::Tensor pooled) {
  return heads_.at(space)(pooled);
}

}  // namespace braintune::model

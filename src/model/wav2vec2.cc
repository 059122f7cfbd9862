#include "model/wav2vec2.h"

#include <torch/version.h>

#include <cmath>
#include <filesystem>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "model/attention.h"
#include "model/hf_weights.h"
#include "model/safetensors.h"

namespace braintune::model {

namespace nn = torch::nn;
namespace F = torch::nn::functional;
using torch::Tensor;

namespace {

// GELU from erf where its gradient may arrive as a transposed view: Debian's LibTorch 1.13 fused
// GELU backward reads such gradients wrongly (values of 1e24 that change from run to run).
// Where no gradient is needed (a frozen feature encoder) the fused kernel is fine.
Tensor Gelu(const Tensor& x) {
  if (!x.requires_grad()) return torch::gelu(x);
  return x * 0.5 * (1.0 + torch::erf(x * M_SQRT1_2));
}

// LayerNorm over the last dimension from elementwise ops, for the same reason, on the
// transposed paths of the feature encoder.
Tensor LayerNormComposite(const Tensor& x, const nn::LayerNorm& norm, double eps) {
  auto mean = x.mean(-1, /*keepdim=*/true);
  auto centered = x - mean;
  auto var = centered.pow(2).mean(-1, /*keepdim=*/true);
  return centered * torch::rsqrt(var + eps) * norm->weight + norm->bias;
}

nn::LayerNorm MakeLayerNorm(int64_t n, double eps) { return nn::LayerNorm(nn::LayerNormOptions({n}).eps(eps)); }

}  // namespace

const std::vector<std::string>& LoraTargetNames() {
  static const std::vector<std::string> names = {"q_proj", "k_proj", "v_proj", "out_proj", "intermediate_dense",
                                                 "output_dense"};
  return names;
}

// ---- Wav2Vec2Model ----------------------------------------------------------------------

Wav2Vec2ModelImpl::Wav2Vec2ModelImpl(const Wav2Vec2Config& c) : config_(c) {
  const double eps = c.layer_norm_eps;
  auto fe = Child(*this, "feature_extractor");
  auto convs = Child(*fe, "conv_layers");
  for (size_t i = 0; i < c.conv_dim.size(); ++i) {
    auto layer = Child(*convs, std::to_string(i));
    ConvLayer cl;
    const int64_t in = i == 0 ? 1 : c.conv_dim[i - 1];
    cl.conv = layer->register_module(
        "conv", nn::Conv1d(nn::Conv1dOptions(in, c.conv_dim[i], c.conv_kernel[i]).stride(c.conv_stride[i]).bias(c.conv_bias)));
    nn::init::kaiming_normal_(cl.conv->weight);
    if (c.feat_extract_norm == "group" && i == 0) {
      cl.group_norm = layer->register_module("layer_norm", nn::GroupNorm(nn::GroupNormOptions(c.conv_dim[0], c.conv_dim[0])));
    } else if (c.feat_extract_norm == "layer") {
      cl.layer_norm = layer->register_module("layer_norm", MakeLayerNorm(c.conv_dim[i], 1e-5));
    }
    conv_layers_.push_back(cl);
  }
  auto fp = Child(*this, "feature_projection");
  const int64_t conv_out = c.conv_dim.back();
  if (c.feat_proj_layer_norm) projection_norm_ = fp->register_module("layer_norm", MakeLayerNorm(conv_out, eps));
  projection_ = fp->register_module("projection", nn::Linear(conv_out, c.hidden_size));

  auto enc = Child(*this, "encoder");
  auto pos = Child(*Child(*enc, "pos_conv_embed"), "conv");
  const int64_t k = c.num_conv_pos_embeddings, groups = c.num_conv_pos_embedding_groups;
  // HF's initialisation: N(0, 2 / sqrt(K * channels)) for the direction, g its norm per tap.
  Tensor v = torch::randn({c.hidden_size, c.hidden_size / groups, k}) * (2.0 / std::sqrt(double(k * c.hidden_size)));
  pos_weight_g_ = pos->register_parameter("weight_g", torch::norm_except_dim(v, 2, 2));
  pos_weight_v_ = pos->register_parameter("weight_v", v);
  pos_bias_ = pos->register_parameter("bias", torch::zeros({c.hidden_size}));
  encoder_norm_ = enc->register_module("layer_norm", MakeLayerNorm(c.hidden_size, eps));
  auto layers = Child(*enc, "layers");
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    auto layer = Child(*layers, std::to_string(i));
    auto attn = Child(*layer, "attention");
    Layer l;
    l.q = attn->register_module("q_proj", LoraLinear(c.hidden_size, c.hidden_size));
    l.k = attn->register_module("k_proj", LoraLinear(c.hidden_size, c.hidden_size));
    l.v = attn->register_module("v_proj", LoraLinear(c.hidden_size, c.hidden_size));
    l.out = attn->register_module("out_proj", LoraLinear(c.hidden_size, c.hidden_size));
    l.norm = layer->register_module("layer_norm", MakeLayerNorm(c.hidden_size, eps));
    auto ff = Child(*layer, "feed_forward");
    l.intermediate = ff->register_module("intermediate_dense", LoraLinear(c.hidden_size, c.intermediate_size));
    l.output = ff->register_module("output_dense", LoraLinear(c.intermediate_size, c.hidden_size));
    l.final_norm = layer->register_module("final_layer_norm", MakeLayerNorm(c.hidden_size, eps));
    layers_.push_back(l);
  }
}

Tensor Wav2Vec2ModelImpl::FeatureEncoder(Tensor audio) {
  std::optional<torch::NoGradGuard> no_grad;
  if (feature_encoder_frozen_) no_grad.emplace();
  Tensor x = audio.unsqueeze(1);  // [B, 1, T]
  for (ConvLayer& cl : conv_layers_) {
    x = cl.conv(x);
    if (cl.group_norm) x = cl.group_norm(x);
    if (cl.layer_norm) x = LayerNormComposite(x.transpose(1, 2), cl.layer_norm, 1e-5).transpose(1, 2);
    x = Gelu(x);
  }
  return x.transpose(1, 2).contiguous();  // [B, frames, C]
}

Tensor Wav2Vec2ModelImpl::EncoderLayer(int i, Tensor x) {
  Layer& l = layers_[i];
  const double p = is_training() ? config_.dropout : 0.0;
  const int64_t b = x.size(0), t = x.size(1), h = config_.num_attention_heads, d = config_.hidden_size / h;
  auto attention = [&](const Tensor& in) {
    auto split = [&](const Tensor& y) { return y.view({b, t, h, d}).transpose(1, 2); };  // [B, h, T, d]
    Tensor q = split(l.q(in)), k = split(l.k(in)), v = split(l.v(in));
#if TORCH_VERSION_MAJOR >= 2
    Tensor ctx = at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, p, /*is_causal=*/false);
#else
    Tensor ctx;
    if (p == 0) {
      ctx = SliceWiseAttention(q, k, v);  // model/attention.h: no T x T tensor in memory
    } else {
      Tensor w = torch::softmax(torch::matmul(q * (1.0 / std::sqrt(double(d))), k.transpose(2, 3)), -1);
      ctx = torch::matmul(F::dropout(w, F::DropoutFuncOptions().p(p).training(true)), v);
    }
#endif
    return l.out(ctx.transpose(1, 2).reshape({b, t, config_.hidden_size}));
  };
  auto drop = [&](const Tensor& y) { return p > 0 ? F::dropout(y, F::DropoutFuncOptions().p(p).training(true)) : y; };
  auto feed_forward = [&](const Tensor& in) { return drop(l.output(torch::gelu(l.intermediate(in)))); };
  if (config_.do_stable_layer_norm) {
    x = x + drop(attention(l.norm(x)));
    return x + feed_forward(l.final_norm(x));
  }
  x = l.norm(x + drop(attention(x)));
  return l.final_norm(x + feed_forward(x));
}

std::vector<Tensor> Wav2Vec2ModelImpl::Layers(Tensor audio) {
  const double p = is_training() ? config_.dropout : 0.0;
  Tensor x = FeatureEncoder(audio);
  if (projection_norm_) x = projection_norm_(x);
  x = projection_(x);
  if (p > 0) x = F::dropout(x, F::DropoutFuncOptions().p(p).training(true));
  // Position embedding: grouped conv over time, "same" length (an even kernel drops the last frame).
  const int64_t k = config_.num_conv_pos_embeddings;
  Tensor w = torch::_weight_norm(pos_weight_v_, pos_weight_g_, 2);
  Tensor pos = F::conv1d(x.transpose(1, 2), w,
                         F::Conv1dFuncOptions().bias(pos_bias_).padding(k / 2).groups(config_.num_conv_pos_embedding_groups));
  if (k % 2 == 0) pos = pos.narrow(2, 0, pos.size(2) - 1);
  x = x + Gelu(pos).transpose(1, 2);
  std::vector<Tensor> out;
  if (!config_.do_stable_layer_norm) x = encoder_norm_(x);
  if (p > 0) x = F::dropout(x, F::DropoutFuncOptions().p(p).training(true));
  out.push_back(x);
  for (int i = 0; i < num_layers(); ++i) {
    x = EncoderLayer(i, x);
    out.push_back(x);
  }
  if (config_.do_stable_layer_norm) out.back() = encoder_norm_(x);
  return out;
}

void Wav2Vec2ModelImpl::FreezeFeatureEncoder() {
  feature_encoder_frozen_ = true;
  for (auto& p : named_children()["feature_extractor"]->parameters()) p.set_requires_grad(false);
}

absl::Status Wav2Vec2ModelImpl::EnableLora(const LoraOptions& o) {
  static const auto* kTargets = new std::vector<std::string>{"q_proj",   "k_proj",             "v_proj",
                                                             "out_proj", "intermediate_dense", "output_dense"};
  if (absl::Status s = CheckLoraTargets(o, *kTargets, config_.model_type); !s.ok()) return s;
  for (auto& p : parameters()) p.set_requires_grad(false);
  for (Layer& l : layers_) {
    const std::map<std::string, LoraLinear*> by_name = {{"q_proj", &l.q},           {"k_proj", &l.k},
                                                        {"v_proj", &l.v},           {"out_proj", &l.out},
                                                        {"intermediate_dense", &l.intermediate},
                                                        {"output_dense", &l.output}};
    for (const std::string& t : o.targets) (*by_name.at(t))->EnableLora(o);
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, Tensor>> Wav2Vec2ModelImpl::HfStateDict() { return MergedParameters(*this); }

absl::Status Wav2Vec2ModelImpl::LoadHfStateDict(const std::map<std::string, Tensor>& tensors, const std::string& source,
                                                std::vector<std::string>* skipped) {
  static const char* kSkipped[] = {"masked_spec_embed", "quantizer.", "project_q.", "project_hid.", "lm_head.",
                                   "final_proj.", "label_embeddings_concat", "projector.", "classifier."};
  std::map<std::string, Tensor> by_name;
  for (const auto& [raw, t] : tensors) {
    std::string name = raw;
    for (const char* prefix : {"wav2vec2.", "hubert."}) {
      if (absl::StartsWith(name, prefix)) name = name.substr(std::strlen(prefix));
    }
    if (name == "encoder.pos_conv_embed.conv.parametrizations.weight.original0") name = "encoder.pos_conv_embed.conv.weight_g";
    if (name == "encoder.pos_conv_embed.conv.parametrizations.weight.original1") name = "encoder.pos_conv_embed.conv.weight_v";
    bool skip = false;
    for (const char* s : kSkipped) skip = skip || absl::StartsWith(name, s);
    if (skip) {
      if (skipped) skipped->push_back(raw);
      continue;
    }
    by_name[name] = t;
  }
  return CopyHfTensors(*this, by_name, source);
}

absl::StatusOr<HfCheckpoint> ReadHfCheckpoint(const std::string& dir) {
  namespace fs = std::filesystem;
  HfCheckpoint ckpt;
  const std::string config_path = (fs::path(dir) / "config.json").string();
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(config_path, "model config"));
  ASSIGN_OR_RETURN(ckpt.config, ParseHfConfig(text, config_path));
  ASSIGN_OR_RETURN(ckpt.weights_path, FindHfWeights(dir));
  ASSIGN_OR_RETURN(ckpt.tensors, ReadSafetensors(ckpt.weights_path));
  return ckpt;
}

absl::Status ExportHf(Wav2Vec2Model& model, const std::string& dir,
                      const std::vector<std::pair<std::string, Tensor>>& extra, const std::string& extra_file) {
  return WriteHfDirectory(dir, model->HfStateDict(), HfConfigJson(model->config()), extra, extra_file);
}

}  // namespace braintune::model

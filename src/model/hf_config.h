// The architecture of a wav2vec2 / HuBERT encoder, as Hugging Face's config.json describes it
// (the same field names), plus the named sizes braintune knows. Torch-free.
#ifndef BRAINTUNE_MODEL_HF_CONFIG_H_
#define BRAINTUNE_MODEL_HF_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace braintune::model {

struct Wav2Vec2Config {
  std::string model_type = "wav2vec2";        // "wav2vec2" or "hubert" (same architecture)
  // Convolutional feature encoder: one entry per layer.
  std::vector<int64_t> conv_dim = std::vector<int64_t>(7, 512);
  std::vector<int64_t> conv_kernel = {10, 3, 3, 3, 3, 2, 2};
  std::vector<int64_t> conv_stride = {5, 2, 2, 2, 2, 2, 2};
  bool conv_bias = false;
  std::string feat_extract_norm = "group";    // "group": GroupNorm after conv 0; "layer": LayerNorm after each
  bool feat_proj_layer_norm = true;           // LayerNorm before the feature projection (HuBERT base: false)
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t num_conv_pos_embeddings = 128;      // kernel of the convolutional position embedding
  int64_t num_conv_pos_embedding_groups = 16;
  bool do_stable_layer_norm = false;          // false: post-norm ("base"); true: pre-norm ("large")
  double layer_norm_eps = 1e-5;
  // Dropout while training, on the projected features, attention weights and each sub-layer's
  // output (HF's feat_proj_dropout, attention_dropout, hidden_dropout). 0 in eval mode.
  double dropout = 0.0;

  // Audio samples per output frame (320 for the published models: 20 ms at 16 kHz).
  int64_t Stride() const;
  // Output frames of `samples` audio samples (0 when too short for the first kernels).
  int64_t Frames(int64_t samples) const;
  // Checks sizes and consistency; errors name `source` and the field.
  absl::Status Validate(const std::string& source) const;
};

// "tiny" (CPU tests and the quickstart), "base" (wav2vec2-base / HuBERT-base, 94.4M
// parameters), "large" (wav2vec2-large-lv60 / HuBERT-large, pre-norm, 315M). NotFound otherwise.
absl::StatusOr<Wav2Vec2Config> NamedConfig(const std::string& size);
std::vector<std::string> NamedSizes();

// Parses a Hugging Face config.json (Wav2Vec2Config or HubertConfig); unknown fields are
// ignored, missing ones take HF's defaults, wrong types are errors naming `source` and the field.
absl::StatusOr<Wav2Vec2Config> ParseHfConfig(const std::string& json_text, const std::string& source);
// config.json for `c`, loadable by transformers' AutoConfig (architectures: the bare model).
std::string HfConfigJson(const Wav2Vec2Config& c);

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_HF_CONFIG_H_

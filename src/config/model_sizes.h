// The named encoder sizes braintune knows, in one table: the spec parser fills and checks
// model.* from it, and src/model/hf_config.cc builds a size's full architecture from it.
// Torch-free and dependency-free.
#ifndef BRAINTUNE_CONFIG_MODEL_SIZES_H_
#define BRAINTUNE_CONFIG_MODEL_SIZES_H_

#include <string_view>

namespace braintune::config {

struct ModelSize {
  const char* name;
  int hidden;               // transformer width (hidden_size)
  int layers;               // transformer layers (num_hidden_layers)
  int heads;                // attention heads (num_attention_heads)
  int ffn;                  // feed-forward width (intermediate_size)
  int conv_channels;        // channels of every convolutional feature-encoder layer (conv_dim)
  int pos_kernel;           // kernel of the convolutional position embedding (num_conv_pos_embeddings)
  int pos_groups;           // its groups (num_conv_pos_embedding_groups): must divide hidden
  bool pre_norm;            // do_stable_layer_norm: pre-norm transformer, LayerNorm after each conv,
                            // conv biases (wav2vec2-large-lv60 / HuBERT-large)
};

// "tiny" (CPU tests and the quickstart), "base" (wav2vec2-base / HuBERT-base, 94.4M parameters),
// "large" (wav2vec2-large-lv60 / HuBERT-large, pre-norm, 315M).
inline constexpr ModelSize kModelSizes[] = {
    {"tiny", 64, 2, 4, 128, 32, 32, 4, false},
    {"base", 768, 12, 12, 3072, 512, 128, 16, false},
    {"large", 1024, 24, 16, 4096, 512, 128, 16, true},
};

// The size called `name`, or nullptr.
inline const ModelSize* FindModelSize(std::string_view name) {
  for (const auto& s : kModelSizes) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

}  // namespace braintune::config

#endif  // BRAINTUNE_CONFIG_MODEL_SIZES_H_

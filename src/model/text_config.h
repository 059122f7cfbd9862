// The architecture of a text encoder, GPT-2 or BERT, as Hugging Face's config.json describes it,
// plus the named sizes braintune knows. One struct for both: the fields mean the same, only the
// JSON names differ (GPT-2's n_embd is BERT's hidden_size). Torch-free.
#ifndef BRAINTUNE_MODEL_TEXT_CONFIG_H_
#define BRAINTUNE_MODEL_TEXT_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace braintune::model {

struct TextModelConfig {
  // "gpt2": causal, pre-norm (LayerNorm before each sub-layer, one more at the end), learned
  //         positions, GELU tanh approximation; "bert": bidirectional, post-norm, learned
  //         positions and token types, exact GELU, a pooler.
  std::string model_type = "gpt2";
  int64_t vocab_size = 50257;
  int64_t max_position_embeddings = 1024;  // GPT-2: n_positions
  int64_t hidden_size = 768;               // GPT-2: n_embd
  int64_t num_hidden_layers = 12;          // GPT-2: n_layer
  int64_t num_attention_heads = 12;        // GPT-2: n_head
  int64_t intermediate_size = 3072;        // GPT-2: n_inner (null: 4 x n_embd)
  int64_t type_vocab_size = 2;             // BERT only
  double layer_norm_eps = 1e-5;            // GPT-2: layer_norm_epsilon (1e-5); BERT 1e-12
  std::string hidden_act = "gelu_new";     // GPT-2: activation_function; BERT: hidden_act ("gelu")
  // Dropout while training (HF's resid/embd/attn_pdrop, hidden/attention_probs_dropout_prob).
  double dropout = 0.0;

  bool causal() const { return model_type == "gpt2"; }
  // Parameters of the Hugging Face base model (GPT2Model; BertModel with its pooler).
  int64_t NumParameters() const;
  // Checks sizes and consistency; errors name `source` and the field.
  absl::Status Validate(const std::string& source) const;
};

// "tiny" (CPU tests and the quickstart: 64 wide, 2 layers), GPT-2 "small" (gpt2, 124,439,808
// parameters) and BERT "base" (bert-base-uncased, 109,482,240). NotFound otherwise.
absl::StatusOr<TextModelConfig> NamedTextConfig(const std::string& model_type, const std::string& size);
std::vector<std::string> NamedTextSizes(const std::string& model_type);

// Parses a Hugging Face config.json of model_type gpt2 or bert (GPT2Config / BertConfig names);
// unknown fields are ignored, missing ones take HF's defaults, wrong types are errors naming
// `source` and the field.
absl::StatusOr<TextModelConfig> ParseTextConfig(const std::string& json_text, const std::string& source);
// The model_type of a Hugging Face config.json ("" when absent); errors name `source`.
absl::StatusOr<std::string> HfModelType(const std::string& json_text, const std::string& source);
// "gpt2" or "bert".
bool IsTextModelType(const std::string& model_type);
// config.json for `c`, loadable by transformers' AutoConfig (architectures: the bare model).
std::string TextConfigJson(const TextModelConfig& c);

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_TEXT_CONFIG_H_

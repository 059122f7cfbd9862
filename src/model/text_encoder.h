// GPT-2 and BERT encoders in LibTorch, parameter for parameter Hugging Face's GPT2Model and
// BertModel (same names, so pretrained checkpoints load by name and exports load in Python):
//
//   GPT-2 (pre-norm, causal):  x = wte[ids] + wpe[0..T)
//                              h.N: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))   (GELU tanh)
//                              ln_f after the last block
//     attn.c_attn (q, k, v in one), attn.c_proj, mlp.c_fc, mlp.c_proj are HF "Conv1D" layers
//     whose weights are stored [in, out]: transposed on load and export, [out, in] in memory.
//   BERT (post-norm):          x = LayerNorm(word[ids] + position[0..T) + token_type[0])
//                              encoder.layer.N: x = LN(x + attention(x)); x = LN(x + ffn(x)) (GELU)
//                              pooler.dense (kept so exports are whole BertModels; unused here)
//
// Hidden states as HF's output_hidden_states: [layers + 1] x [B, T, hidden]; entry 0 the
// embeddings, entry k block k's output (GPT-2: the last after ln_f). Padding goes on the right and
// is masked out of the keys; the states at padded positions mean nothing.
// LoRA (model/lora.h) on the attention projections by default; merged on export.
// bench/reference/text_reference.py is the same architectures in plain PyTorch; the tests
// compare the two to 1e-5.
#ifndef BRAINTUNE_MODEL_TEXT_ENCODER_H_
#define BRAINTUNE_MODEL_TEXT_ENCODER_H_

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "model/lora.h"
#include "model/text_config.h"

namespace braintune::model {

// The linear layers of each block that may carry an adapter, and those that do by default:
//   gpt2: c_attn, c_proj (attention), c_fc, mlp_c_proj;   default c_attn, c_proj
//   bert: query, key, value, attention_output, intermediate, output;  default query, key, value, attention_output
const std::vector<std::string>& TextLoraTargetNames(const std::string& model_type);
std::vector<std::string> DefaultTextLoraTargets(const std::string& model_type);

// Single-threaded, as any module.
class TextEncoderImpl : public torch::nn::Module {
 public:
  explicit TextEncoderImpl(TextModelConfig config) : config_(std::move(config)) {}

  // ids [B, T] int64 (T <= max_position_embeddings), mask [B, T] (1 = a real token; undefined:
  // all real) -> the hidden states (see above).
  virtual std::vector<torch::Tensor> Layers(const torch::Tensor& ids, const torch::Tensor& mask = {}) = 0;

  // A causal model's next-token logits [B, T, vocab_size] (GPT-2: the last hidden state times
  // wte, tied as GPT2LMHeadModel), with hidden state `layer` (the index of Layers' output)
  // replaced by edit(state) on the way, so later blocks see the edited state: a layer's edit
  // patched back into the forward pass. No edit when `edit` is empty. Unimplemented for BERT.
  virtual absl::StatusOr<torch::Tensor> NextTokenLogits(const torch::Tensor& ids, const torch::Tensor& mask, int layer,
                                                        const std::function<torch::Tensor(const torch::Tensor&)>& edit) {
    return absl::UnimplementedError(absl::StrCat(config_.model_type, " is not a causal language model"));
  }

  // Adds adapters to options.targets (names above) of every block and freezes every other
  // parameter. InvalidArgument naming a target this model does not have.
  absl::Status EnableLora(const LoraOptions& options);

  // Parameters by HF name (BertModel / GPT2Model keys), adapters merged, GPT-2's Conv1D weights
  // transposed back to [in, out].
  std::vector<std::pair<std::string, torch::Tensor>> HfStateDict();
  // Copies a HF state dict in: "transformer." / "bert." prefixes stripped, BERT's old
  // LayerNorm.gamma / beta names accepted; heads and buffers (lm_head, cls.*, attn.bias,
  // attn.masked_bias, position_ids) skipped and listed in `skipped`, as is a pooler a checkpoint
  // lacks (it keeps its initialisation). A missing, unexpected or mis-shaped tensor is an error
  // naming it and `source`; nothing is copied then.
  absl::Status LoadHfStateDict(const std::map<std::string, torch::Tensor>& tensors, const std::string& source,
                               std::vector<std::string>* skipped = nullptr);

  const TextModelConfig& config() const { return config_; }
  int num_layers() const { return static_cast<int>(config_.num_hidden_layers); }

 protected:
  // The model's LoRA-capable layers of block `i` by target name.
  virtual std::map<std::string, LoraLinear> LoraTargets(int i) = 0;

  const TextModelConfig config_;
};

// A GPT-2 or BERT encoder (config.model_type), randomly initialised as HF does.
std::shared_ptr<TextEncoderImpl> MakeTextEncoder(const TextModelConfig& config);

// Reads a Hugging Face text checkpoint directory: config.json (model_type gpt2 or bert) and
// model.safetensors (or the first *.safetensors). Errors name the file.
struct TextCheckpoint {
  TextModelConfig config;
  std::map<std::string, torch::Tensor> tensors;
  std::string weights_path;
};
absl::StatusOr<TextCheckpoint> ReadTextCheckpoint(const std::string& dir);

// Writes `encoder` as a HF directory: config.json + model.safetensors (adapters merged), plus
// `extra` tensors (heads) in extra_file when not empty.
absl::Status ExportTextHf(TextEncoderImpl& encoder, const std::string& dir,
                          const std::vector<std::pair<std::string, torch::Tensor>>& extra = {},
                          const std::string& extra_file = "");

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_TEXT_ENCODER_H_

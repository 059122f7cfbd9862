// The model a job spec describes, built the same way for training and for evaluation.
#ifndef BRAINTUNE_RANK_MODEL_FROM_SPEC_H_
#define BRAINTUNE_RANK_MODEL_FROM_SPEC_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "config/job_spec.h"
#include "model/brain_model.h"
#include "model/input_contract.h"
#include "model/text_encoder.h"
#include "model/tokenizer.h"

namespace braintune::rank {

// Whether the spec's model is a text model: model.pretrained's config.json has model_type gpt2
// or bert. Errors name the file.
absl::StatusOr<bool> IsTextModel(const config::ModelSpec& spec);

// The published recipe for brain-tuning a text model: when the spec's model is a text model
// (IsTextModel), model.finetune defaults to lora (adapters on the attention projections) and
// training.loss to pearson; keys the spec sets are kept. A speech model's spec is unchanged.
absl::Status ApplyTextModelDefaults(config::JobSpec* spec);

// A text checkpoint directory (config.json, *.safetensors, the tokenizer's files) loaded: the
// encoder with its weights, and its tokenizer. Errors name the file; a tokenizer with more
// tokens than the model's vocab_size is an error (they do not belong together).
struct TextModel {
  std::shared_ptr<model::TextEncoderImpl> encoder;
  std::unique_ptr<model::Tokenizer> tokenizer;
  std::string weights_path;
  std::vector<std::string> skipped;  // tensors of the checkpoint not used (heads)
};
absl::StatusOr<TextModel> LoadTextModel(const std::string& dir);

// The tokenizer files a text checkpoint directory may hold (copied into exports).
const std::vector<std::string>& TokenizerFiles();

// The encoder architecture of the spec's (speech) model section: model.pretrained's config.json, or the
// named size with its overrides. Errors name the file.
absl::StatusOr<model::Wav2Vec2Config> EncoderConfigOf(const config::ModelSpec& spec);

// What the spec's model expects to hear (model/input_contract.h): model.pretrained's
// preprocessor_config.json, or the published defaults for its architecture; no contract for a
// model trained from scratch. Errors name the file and the field.
absl::StatusOr<model::InputContract> InputContractOf(const config::ModelSpec& spec);

// The LoRA adapters the spec's model gets (model.lora, with the default targets of the
// encoder's `model_type` unless it lists its own), or nullopt unless model.finetune is lora.
std::optional<model::LoraOptions> LoraOptionsOf(const config::ModelSpec& spec, const std::string& model_type);

// Builds the model of the spec: a text model (IsTextModel) from model.pretrained's weights;
// otherwise random weights from torch::manual_seed(seed) (the same seed gives
// the same weights to the trainer and the evaluator), then model.pretrained's weights, the frozen
// feature encoder and LoRA adapters as the spec says. Prints what a pretrained checkpoint held
// that the encoder does not use when `verbose`.
absl::StatusOr<model::BrainModel> BuildModel(const config::JobSpec& spec, const std::map<std::string, int64_t>& heads,
                                             bool verbose);

}  // namespace braintune::rank

#endif  // BRAINTUNE_RANK_MODEL_FROM_SPEC_H_

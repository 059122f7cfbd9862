// The model a job spec describes, built the same way for training and for evaluation.
#ifndef BRAINTUNE_RANK_MODEL_FROM_SPEC_H_
#define BRAINTUNE_RANK_MODEL_FROM_SPEC_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "config/job_spec.h"
#include "model/brain_model.h"
#include "model/input_contract.h"

namespace braintune::rank {

// The encoder architecture of the spec's model section: model.pretrained's config.json, or the
// named size with its overrides. Errors name the file.
absl::StatusOr<model::Wav2Vec2Config> EncoderConfigOf(const config::ModelSpec& spec);

// What the spec's model expects to hear (model/input_contract.h): model.pretrained's
// preprocessor_config.json, or the published defaults for its architecture; no contract for a
// model trained from scratch. Errors name the file and the field.
absl::StatusOr<model::InputContract> InputContractOf(const config::ModelSpec& spec);

// Builds the model of the spec: random weights from torch::manual_seed(seed) (the same seed gives
// the same weights to the trainer and the evaluator), then model.pretrained's weights, the frozen
// feature encoder and LoRA adapters as the spec says. Prints what a pretrained checkpoint held
// that the encoder does not use when `verbose`.
absl::StatusOr<model::BrainModel> BuildModel(const config::JobSpec& spec, const std::map<std::string, int64_t>& heads,
                                             bool verbose);

}  // namespace braintune::rank

#endif  // BRAINTUNE_RANK_MODEL_FROM_SPEC_H_

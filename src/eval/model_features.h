// One model of evaluation.models on one rank (evaluator.h, step 2): its encoder as the trainer
// builds it, with the checkpoint's weights, and its features of the job's stories through the
// feature cache (features.h).
#ifndef BRAINTUNE_EVAL_MODEL_FEATURES_H_
#define BRAINTUNE_EVAL_MODEL_FEATURES_H_

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/job_spec.h"
#include "eval/features.h"
#include "eval/participants.h"
#include "model/text_encoder.h"
#include "model/tokenizer.h"

namespace braintune::eval {

// One layer's features of every story the rank's participants heard, by story.
using LayerFeatures = std::map<std::string, StoryFeatures>;

// Thread model: one thread, the rank's (the encoder runs on `device`).
class ModelFeatures {
 public:
  // A text model (m.pretrained: GPT-2 or BERT with its tokenizer) reads each story's words
  // (eval/word_features.h); a feature space (m.features) is the dataset's own, one layer (0)
  // whatever evaluation.layers says. Otherwise: builds the model of `spec` (the untrained model is the trainer's before its first step:
  // same seed, same pretrained weights, same adapters) with m.checkpoint's encoder when there
  // is one, on `device`, for evaluation.layers (all when empty). Errors name the checkpoint
  // (missing, or sizes other than the spec's) or `source` (a layer the model lacks).
  static absl::StatusOr<std::unique_ptr<ModelFeatures>> Create(const config::JobSpec& spec, const std::string& source,
                                                               const config::EvalModelSpec& m,
                                                               const std::map<std::string, int64_t>& spaces,
                                                               torch::Device device);

  const std::vector<int>& layers() const { return layers_; }
  // What the model hears, and the stories of `participants` it hears resampled: lines for rank
  // 0 to print, each "braintune-eval: <model>: ...".
  std::string InputLines(const std::string& model, const Participants& participants) const;
  // Puts the features of this rank's share of the stories heard (every ranks-th, from the
  // rank-th) into the cache; the caller waits for every rank before calling Layer.
  absl::Status Prepare(const Participants& participants, int rank, int ranks);
  // One layer only: 13 layers of a base model over hours of stories would not fit in memory.
  absl::StatusOr<LayerFeatures> Layer(const Participants& participants, int layer);
  // One layer of one story of participants.heard (feature_export.h).
  absl::StatusOr<StoryFeatures> Story(const Participants& participants, const std::string& story, int layer);
  // A text model's encoder and tokenizer (null for a speech model).
  const std::shared_ptr<model::TextEncoderImpl>& text_encoder() const { return text_encoder_; }
  const std::shared_ptr<const model::Tokenizer>& tokenizer() const { return tokenizer_; }
  int cache_hits() const { return extractor_.cache_hits(); }
  int cache_misses() const { return extractor_.cache_misses(); }

 private:
  ModelFeatures(std::vector<int> layers, FeatureExtractor extractor, model::InputContract input, bool resample,
                std::string text = "")
      : layers_(std::move(layers)),
        extractor_(std::move(extractor)),
        input_(std::move(input)),
        resample_(resample),
        text_(std::move(text)) {}
  static std::unique_ptr<ModelFeatures> CreateStored(const config::JobSpec& spec, const config::EvalModelSpec& m);
  static absl::StatusOr<std::unique_ptr<ModelFeatures>> CreateText(const config::JobSpec& spec, const std::string& source,
                                                                   const config::EvalModelSpec& m, torch::Device device);

  const std::vector<int> layers_;
  FeatureExtractor extractor_;
  const model::InputContract input_;
  const bool resample_;
  const std::string text_;  // a text model: what it reads (InputLines), else ""
  std::shared_ptr<model::TextEncoderImpl> text_encoder_;
  std::shared_ptr<const model::Tokenizer> tokenizer_;
};

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_MODEL_FEATURES_H_

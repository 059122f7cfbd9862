// Ridge encoding models of one rank's participants (evaluator.h, step 3): design matrices from
// features at the response times, one fit per layer and participant on the training stories
// (alphas per target by contiguous folds), scored on the test stories.
#ifndef BRAINTUNE_EVAL_FITS_H_
#define BRAINTUNE_EVAL_FITS_H_

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/job_spec.h"
#include "eval/model_features.h"
#include "eval/participants.h"
#include "eval/ridge.h"
#include "eval/shared_arrays.h"

namespace braintune::eval {

// Features at a run's response times, [n_times, d].
using AtTimes = std::function<absl::StatusOr<torch::Tensor>(const data::Run&)>;

// The times of a run's samples from stimulus onset, [n_times] float64.
torch::Tensor ResponseTimes(const data::Run& run);

// Model features (Lanczos-resampled, 3 lobes) at a run's response times; refers to `features`.
AtTimes ModelFeaturesAt(const LayerFeatures& features);

// What one participant's fits take, on the fitter's device: training runs stacked, then test runs.
struct FitInputs {
  torch::Tensor x_train, x_test;  // design matrices [rows, features]
  torch::Tensor y_train, y_test;  // responses [rows, targets]
};

// Design matrices and ridge fits on one device, with the spec's delays, alphas and folds.
// Holds a reference to `participants`. Thread model: one thread, the rank's.
class EncodingFitter {
 public:
  EncodingFitter(const Participants& participants, const config::EvaluationSpec& e, torch::Device device);

  // A participant's design matrices: per run, `at_times(run)` z-scored over the story,
  // FIR-delayed and trimmed; training runs stacked, then test runs. [train rows, d], [test rows, d].
  absl::StatusOr<std::pair<torch::Tensor, torch::Tensor>> Design(const OwnedParticipant& o,
                                                                 const AtTimes& at_times) const;
  // Design(o, at_times) and o's responses.
  absl::StatusOr<FitInputs> Inputs(const OwnedParticipant& o, const AtTimes& at_times) const;
  // Step 3 for one model: every layer, every owned participant; fills the arrays r (Pearson r
  // on the test stories), alpha and cv_r2 of LayerArray(model, layer, ...), declared on every rank.
  absl::Status FitLayers(const std::string& model, ModelFeatures* features, SharedArrays* shared) const;

  const Participants& participants() const { return participants_; }
  const RidgeOptions& ridge() const { return ridge_; }

 private:
  const Participants& participants_;
  const std::vector<int> delays_;
  const torch::Device device_;
  RidgeOptions ridge_;
};

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_FITS_H_

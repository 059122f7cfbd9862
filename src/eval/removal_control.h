// The feature-removal control (evaluator.h, step 4; design.md section 3): the best layer's
// features with the low-level stimulus features of evaluation.confounds regressed out (with
// the same FIR delays), refitted and scored again on the test stories: how much of a model's
// score the low-level features alone account for.
#ifndef BRAINTUNE_EVAL_REMOVAL_CONTROL_H_
#define BRAINTUNE_EVAL_REMOVAL_CONTROL_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "eval/fits.h"
#include "eval/participants.h"
#include "eval/shared_arrays.h"

namespace braintune::eval {

// The low-level features `confounds` (features.h StimulusFeature names) at a run's response
// times, one column per name (Lanczos, as model features). Refers to `dataset`.
AtTimes ConfoundsAt(const data::Dataset& dataset, const std::vector<std::string>& confounds);

// Declares RemovalArray(model); every rank calls it, owned participants or not.
void DeclareRemovalControl(const std::string& model, SharedArrays* shared);

// Participant o's r per target without `confounds` into RemovalArray(model); `in` holds o's
// design matrices at the best layer. Thread model: the fitter's.
absl::Status RunRemovalControl(const EncodingFitter& fitter, const std::vector<std::string>& confounds,
                               const OwnedParticipant& o, const FitInputs& in, const std::string& model,
                               SharedArrays* shared);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_REMOVAL_CONTROL_H_

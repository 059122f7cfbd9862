#include "eval/erasure_control.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/features.h"
#include "eval/metrics.h"

namespace braintune::eval {

using torch::Tensor;

namespace {

// The layer's features at each word's offset, and the concept per word, of one story.
absl::StatusOr<std::pair<Tensor, Tensor>> WordRows(const data::Story& story, const StoryFeatures& f,
                                                   const std::string& concept) {
  ASSIGN_OR_RETURN(TimedValues z, StimulusFeature(story, concept));
  std::vector<double> offsets;
  for (const data::Interval& w : story.words) offsets.push_back(w.offset);
  const Tensor at = torch::tensor(offsets, torch::kFloat64);
  // A text model's features are its words' already; a speech model's are resampled there.
  const bool per_word = f.times.size(0) == at.size(0) && torch::allclose(f.times.to(torch::kFloat64), at);
  Tensor x = per_word ? f.values.to(torch::kFloat64) : LanczosResample(f.values.to(torch::kFloat64), f.times, at);
  if (z.values.size(0) != x.size(0)) {
    return absl::InternalError(absl::StrCat("story ", story.name, ": ", z.values.size(0), " values of ", concept,
                                            " for ", x.size(0), " words"));
  }
  return std::make_pair(x, z.values.to(torch::kFloat64));
}

}  // namespace

absl::StatusOr<ErasureFit> FitErasure(const Participants& participants, const LayerFeatures& at,
                                      const std::string& concept) {
  std::vector<Tensor> xs_train, zs_train, xs_test, zs_test;
  for (const auto& [name, f] : at) {
    const data::Story* story = participants.dataset.FindStory(name);
    if (story == nullptr || story->words.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("story ", name, ": the erasure control needs /stimuli/", name,
                                                     "/words"));
    }
    ASSIGN_OR_RETURN(auto rows, WordRows(*story, f, concept));
    const bool test = std::count(participants.test_stories.begin(), participants.test_stories.end(), name) > 0;
    (test ? xs_test : xs_train).push_back(rows.first);
    (test ? zs_test : zs_train).push_back(rows.second);
  }
  if (xs_train.empty() || xs_test.empty()) {
    return absl::InvalidArgumentError("the erasure control needs words in both training and test stories");
  }
  ErasureFit fit;
  fit.concept = concept;
  const Tensor x_train = torch::cat(xs_train), z_train = torch::cat(zs_train);
  const Tensor x_test = torch::cat(xs_test), z_test = torch::cat(zs_test);
  fit.train_words = x_train.size(0);
  fit.test_words = x_test.size(0);
  if (fit.train_words < 2) return absl::InvalidArgumentError("the erasure control needs at least 2 training words");
  if (!torch::isfinite(x_train).all().item<bool>() || !torch::isfinite(x_test).all().item<bool>()) {
    return absl::InvalidArgumentError("the erasure control: the layer's features are not all finite (the model's "
                                      "weights?)");
  }
  fit.eraser = FitLeace(x_train, z_train);
  const Tensor erased_train = fit.eraser.Apply(x_train);
  fit.probe_r2_before = ProbeR2(x_train, z_train, x_test, z_test);
  fit.probe_r2_after = ProbeR2(erased_train, z_train, fit.eraser.Apply(x_test), z_test);
  const double total = (x_train - x_train.mean(0)).pow(2).sum().item<double>();
  const double left = (erased_train - erased_train.mean(0)).pow(2).sum().item<double>();
  fit.variance_removed = total > 0 ? 1.0 - left / total : 0.0;
  return fit;
}

void DeclareErasureControl(const std::string& model, SharedArrays* shared) { shared->Declare(ErasureArray(model)); }

LayerFeatures EraseLayer(const ErasureFit& fit, const LayerFeatures& at) {
  LayerFeatures erased;
  for (const auto& [name, f] : at) erased[name] = StoryFeatures{f.times, fit.eraser.Apply(f.values)};
  return erased;
}

absl::Status RunErasureControl(const EncodingFitter& fitter, const LayerFeatures& erased, const OwnedParticipant& o,
                               const std::string& model, SharedArrays* shared) {
  ASSIGN_OR_RETURN(FitInputs in, fitter.Inputs(o, ModelFeaturesAt(erased)));
  RidgeModel ridge = FitRidgeCV(in.x_train, in.y_train, fitter.ridge());
  shared->PutTargets(ErasureArray(model), o.index, PearsonPerTarget(ridge.Predict(in.x_test), in.y_test));
  return absl::OkStatus();
}

}  // namespace braintune::eval

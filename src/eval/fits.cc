#include "eval/fits.h"

#include <cmath>

#include "common/status_macros.h"
#include "eval/metrics.h"

namespace braintune::eval {
namespace {

// alpha_count alphas log-spaced over [alpha_min, alpha_max].
RidgeOptions RidgeOptionsOf(const config::EvaluationSpec& e) {
  RidgeOptions ridge;
  ridge.folds = e.folds;
  ridge.alphas.clear();
  for (int i = 0; i < e.alpha_count; ++i) {
    const double f = e.alpha_count == 1 ? 0 : static_cast<double>(i) / (e.alpha_count - 1);
    ridge.alphas.push_back(std::exp(std::log(e.alpha_min) + f * (std::log(e.alpha_max) - std::log(e.alpha_min))));
  }
  return ridge;
}

}  // namespace

torch::Tensor ResponseTimes(const data::Run& run) {
  return torch::arange(run.n_times, torch::kFloat64) * run.tr + run.t0;
}

AtTimes ModelFeaturesAt(const LayerFeatures& features) {
  return [&features](const data::Run& run) -> absl::StatusOr<torch::Tensor> {
    const StoryFeatures& f = features.at(run.story);
    return LanczosResample(f.values.to(torch::kFloat64), f.times, ResponseTimes(run));
  };
}

EncodingFitter::EncodingFitter(const Participants& participants, const config::EvaluationSpec& e,
                               torch::Device device)
    : participants_(participants), delays_(e.delays), device_(device), ridge_(RidgeOptionsOf(e)) {}

absl::StatusOr<std::pair<torch::Tensor, torch::Tensor>> EncodingFitter::Design(const OwnedParticipant& o,
                                                                               const AtTimes& at_times) const {
  std::vector<torch::Tensor> parts[2];
  for (int test = 0; test < 2; ++test) {
    for (const data::Run* run : test ? o.test_runs : o.train_runs) {
      ASSIGN_OR_RETURN(torch::Tensor x, at_times(*run));
      const Trim t = participants_.RunTrim(*run);
      parts[test].push_back(Delay(ZScoreColumns(x.to(device_)), delays_).narrow(0, t.begin, t.rows()));
    }
  }
  return std::pair{torch::cat(parts[0]), torch::cat(parts[1])};
}

absl::StatusOr<FitInputs> EncodingFitter::Inputs(const OwnedParticipant& o, const AtTimes& at_times) const {
  ASSIGN_OR_RETURN(auto x, Design(o, at_times));
  return FitInputs{x.first, x.second, o.y_train.to(device_), o.y_test.to(device_)};
}

absl::Status EncodingFitter::FitLayers(const std::string& model, ModelFeatures* features,
                                       SharedArrays* shared) const {
  for (int layer : features->layers()) {
    for (const char* what : {"r", "alpha", "cv_r2"}) shared->Declare(LayerArray(model, layer, what));
  }
  for (int layer : features->layers()) {
    ASSIGN_OR_RETURN(LayerFeatures at_layer, features->Layer(participants_, layer));
    for (const OwnedParticipant& o : participants_.owned) {
      ASSIGN_OR_RETURN(FitInputs in, Inputs(o, ModelFeaturesAt(at_layer)));
      RidgeModel fit = FitRidgeCV(in.x_train, in.y_train, ridge_);
      shared->PutTargets(LayerArray(model, layer, "r"), o.index, PearsonPerTarget(fit.Predict(in.x_test), in.y_test));
      shared->PutTargets(LayerArray(model, layer, "alpha"), o.index, fit.alphas);
      shared->PutTargets(LayerArray(model, layer, "cv_r2"), o.index, fit.cv_r2);
    }
  }
  return absl::OkStatus();
}

}  // namespace braintune::eval

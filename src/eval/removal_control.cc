#include "eval/removal_control.h"

#include "common/status_macros.h"
#include "eval/features.h"
#include "eval/metrics.h"

namespace braintune::eval {

AtTimes ConfoundsAt(const data::Dataset& dataset, const std::vector<std::string>& confounds) {
  return [&dataset, confounds](const data::Run& run) -> absl::StatusOr<torch::Tensor> {
    std::vector<torch::Tensor> columns;
    for (const std::string& name : confounds) {
      ASSIGN_OR_RETURN(TimedValues v, StimulusFeature(*dataset.FindStory(run.story), name));
      columns.push_back(LanczosResample(v.values, v.times, ResponseTimes(run)));
    }
    return torch::cat(columns, 1);
  };
}

void DeclareRemovalControl(const std::string& model, SharedArrays* shared) { shared->Declare(RemovalArray(model)); }

absl::Status RunRemovalControl(const EncodingFitter& fitter, const std::vector<std::string>& confounds,
                               const OwnedParticipant& o, const FitInputs& in, const std::string& model,
                               SharedArrays* shared) {
  ASSIGN_OR_RETURN(auto c, fitter.Design(o, ConfoundsAt(fitter.participants().dataset, confounds)));
  Residuals left = RemoveConfounds(in.x_train, c.first, in.x_test, c.second, fitter.ridge());
  RidgeModel fit = FitRidgeCV(left.train, in.y_train, fitter.ridge());
  shared->PutTargets(RemovalArray(model), o.index, PearsonPerTarget(fit.Predict(left.test), in.y_test));
  return absl::OkStatus();
}

}  // namespace braintune::eval

#include "eval/variance_partitioning.h"

#include "common/status_macros.h"
#include "eval/banded_ridge.h"
#include "eval/metrics.h"
#include "eval/removal_control.h"

namespace braintune::eval {

using torch::Tensor;

VariancePartition PartitionVariance(const Tensor& r2_joint, const Tensor& r2_a, const Tensor& r2_b) {
  VariancePartition v;
  v.unique_a = (r2_joint - r2_b).clamp_min(0);
  v.unique_b = (r2_joint - r2_a).clamp_min(0);
  v.shared = (r2_a + r2_b - r2_joint).clamp_min(0);
  return v;
}

void DeclareVariancePartitioning(const std::string& model, SharedArrays* shared) {
  for (const char* what : kPartitionArrays) shared->Declare(ControlArray(model, "variance_partitioning", what));
}

absl::Status RunVariancePartitioning(const EncodingFitter& fitter, const std::vector<std::string>& confounds,
                                     const OwnedParticipant& o, const FitInputs& in, const Tensor& model_prediction,
                                     const std::string& model, SharedArrays* shared) {
  ASSIGN_OR_RETURN(auto low, fitter.Design(o, ConfoundsAt(fitter.participants().dataset, confounds)));
  const Tensor r2_model = R2PerTarget(model_prediction, in.y_test);
  const Tensor r2_low = R2PerTarget(FitRidgeCV(low.first, in.y_train, fitter.ridge()).Predict(low.second), in.y_test);
  const BandedRidgeModel joint = FitBandedRidgeCV({in.x_train, low.first}, in.y_train, fitter.ridge());
  const Tensor r2_joint = R2PerTarget(joint.Predict(torch::cat({in.x_test, low.second}, 1)), in.y_test);
  const VariancePartition v = PartitionVariance(r2_joint, r2_model, r2_low);
  const Tensor values[] = {r2_joint, r2_model, r2_low, v.unique_a, v.unique_b, v.shared};
  for (size_t i = 0; i < std::size(kPartitionArrays); ++i) {
    shared->PutTargets(ControlArray(model, "variance_partitioning", kPartitionArrays[i]), o.index, values[i]);
  }
  return absl::OkStatus();
}

}  // namespace braintune::eval

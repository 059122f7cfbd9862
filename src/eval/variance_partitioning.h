// Variance partitioning (evaluator.h, step 4; docs/evaluation.md; de Heer et al. 2017,
// Lescroart et al. 2015), with banded ridge for the joint model (banded_ridge.h, as himalaya's
// BandedRidgeCV): at the model's best layer, three encoding models per participant, each
// scored by R^2 on the test stories:
//   joint:    the model's features and the low-level features (evaluation.confounds, with the
//             same resampling, z-scoring and delays) as two bands, one alpha per band per target;
//   model:    the model's features alone (ridge, alphas by the same contiguous folds);
//   lowlevel: the low-level features alone.
// Then, per target, by set arithmetic on explained variance:
//   unique_model    = R2_joint - R2_lowlevel   (what only the model's features explain)
//   unique_lowlevel = R2_joint - R2_model
//   shared          = R2_model + R2_lowlevel - R2_joint
// Noise in the three R^2 makes some of these negative, which no variance can be; each
// partition is set to 0 where it is negative (PartitionVariance), per target, before any average.
#ifndef BRAINTUNE_EVAL_VARIANCE_PARTITIONING_H_
#define BRAINTUNE_EVAL_VARIANCE_PARTITIONING_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "eval/fits.h"
#include "eval/participants.h"
#include "eval/shared_arrays.h"

namespace braintune::eval {

// The arrays of models/<m>/variance_partitioning/, in this order.
inline constexpr const char* kPartitionArrays[] = {"joint_r2",        "model_r2",        "lowlevel_r2",
                                                   "unique_model",    "unique_lowlevel", "shared"};

struct VariancePartition {
  torch::Tensor unique_a, unique_b, shared;  // [t], each >= 0
};

// The partitions of two feature sets a and b from the R^2 [t] of their joint model and of each
// alone, negative estimates set to 0.
VariancePartition PartitionVariance(const torch::Tensor& r2_joint, const torch::Tensor& r2_a,
                                    const torch::Tensor& r2_b);

// Declares the arrays kPartitionArrays of `model`; every rank calls it, owned participants or not.
void DeclareVariancePartitioning(const std::string& model, SharedArrays* shared);

// Participant o's partition at the best layer: `in` holds o's design matrices there, and
// `model_prediction` the test rows' prediction of the model's features alone (FitRidgeCV on
// in.x_train). Thread model: the fitter's.
absl::Status RunVariancePartitioning(const EncodingFitter& fitter, const std::vector<std::string>& confounds,
                                     const OwnedParticipant& o, const FitInputs& in,
                                     const torch::Tensor& model_prediction, const std::string& model,
                                     SharedArrays* shared);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_VARIANCE_PARTITIONING_H_

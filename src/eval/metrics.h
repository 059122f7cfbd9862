// Scores of an encoding model (design.md section 3, steps 3 and 5): FIR delays of the features,
// Pearson r per target, and the noise ceiling from repeated presentations.
#ifndef BRAINTUNE_EVAL_METRICS_H_
#define BRAINTUNE_EVAL_METRICS_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "eval/ridge.h"

namespace braintune::eval {

// Finite impulse response: features [n, d] -> [n, d * delays.size()], block k holding the
// features `delays[k]` samples earlier (zeros before the start). Default delays 1..4 TRs cover
// the hemodynamic delay at TR = 2 s.
torch::Tensor Delay(const torch::Tensor& features, const std::vector<int>& delays = {1, 2, 3, 4});

// Lanczos resampling (Huth lab's lanczosinterp2D): values [m, d] at `from` times [m] -> [n, d]
// at `to` times [n], each output the sum of the inputs weighted by a `lobes`-lobe Lanczos kernel
// with cutoff frequency 1 / (mean spacing of `to`), or of `from` when that is larger (so
// upsampling interpolates). Word-level features become TR-level ones.
torch::Tensor LanczosResample(const torch::Tensor& values, const torch::Tensor& from, const torch::Tensor& to,
                              int lobes = 3);

// Regresses confounds out of features (the feature-removal control of design.md section 3):
// a ridge from the confounds [n, q] to the features [n, p] (alphas by contiguous folds) is
// fitted on the training rows, and its predictions are subtracted from the training and the
// test rows. Pass confounds with the same FIR delays as the features: the encoding model is
// linear in the delayed features, so what is left cannot rebuild the delayed confounds.
struct Residuals {
  torch::Tensor train;  // [n, p] float64
  torch::Tensor test;   // [m, p] float64
};
Residuals RemoveConfounds(const torch::Tensor& features_train, const torch::Tensor& confounds_train,
                          const torch::Tensor& features_test, const torch::Tensor& confounds_test,
                          const RidgeOptions& options);

// Pearson r of each column: predicted and actual [n, t] -> [t] (0 where either is constant).
torch::Tensor PearsonPerTarget(const torch::Tensor& predicted, const torch::Tensor& actual);

// Coefficient of determination of each column (scikit-learn's r2_score): 1 - sum of squared
// errors / sum of squares about the column's mean; 0 where the column is constant. [n, t] -> [t].
// Negative when the prediction is worse than the column's mean.
torch::Tensor R2PerTarget(const torch::Tensor& predicted, const torch::Tensor& actual);

// The noise ceiling cc_max of Schoppe et al. (2016) from repeats [N, n, t] of one stimulus:
// SP = (Var(sum of repeats) - sum of Var(repeat)) / (N (N - 1)), TP = mean Var(repeat),
// cc_max = 1 / sqrt(1 + (1 / averaged) (TP / SP - 1)): the best correlation any model can reach
// with the mean of `averaged` presentations (1: with a single presentation, such as a run).
// Targets whose signal power is not positive get 0. Returns [t].
torch::Tensor NoiseCeiling(const torch::Tensor& repeats, int averaged = 1);

// r / cc_max per target, NaN where cc_max <= threshold (design.md: voxels with cc_max <= 0.4
// are masked). [t] -> [t].
torch::Tensor NormalizedScores(const torch::Tensor& r, const torch::Tensor& ceiling, double threshold = 0.4);

// Mean +- standard error of the mean over the finite values (masked targets, NaN, are skipped).
struct MeanSem {
  double mean = 0;
  double sem = 0;  // sample std / sqrt(n); 0 when n < 2
  int64_t n = 0;
};
MeanSem Summarize(const torch::Tensor& values);

// Per ROI (name -> target indices) summaries of per-target scores [t].
std::map<std::string, MeanSem> SummarizeRois(const torch::Tensor& scores,
                                             const std::map<std::string, std::vector<int32_t>>& rois);

// Paired comparison of two conditions across units (participants): b - a. The p-value is
// two-sided, from the sign-flip permutation distribution of the mean difference: exact (all
// 2^n flips) up to 16 units, else `random_flips` random ones. Pairs with a NaN are dropped.
struct PairedTestResult {
  int64_t n = 0;
  double mean_difference = 0;
  double sem_difference = 0;
  double t = 0;        // mean / sem; 0 when sem is 0
  double p_value = 1;
  int64_t permutations = 0;
};
PairedTestResult PairedSignFlipTest(const std::vector<double>& a, const std::vector<double>& b,
                                    int64_t random_flips = 10000, uint64_t seed = 0);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_METRICS_H_

// Scores of an encoding model (design.md section 3, steps 3 and 5): FIR delays of the features,
// Pearson r per target, and the noise ceiling from repeated presentations.
#ifndef BRAINTUNE_EVAL_METRICS_H_
#define BRAINTUNE_EVAL_METRICS_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace braintune::eval {

// Finite impulse response: features [n, d] -> [n, d * delays.size()], block k holding the
// features `delays[k]` samples earlier (zeros before the start). Default delays 1..4 TRs cover
// the hemodynamic delay at TR = 2 s.
torch::Tensor Delay(const torch::Tensor& features, const std::vector<int>& delays = {1, 2, 3, 4});

// Lanczos resampling (Huth lab's lanczosinterp2D): values [m, d] at `from` times [m] -> [n, d]
// at `to` times [n], each output the sum of the inputs weighted by a `lobes`-lobe Lanczos kernel
// with cutoff frequency 1 / (mean spacing of `to`). Word-level features become TR-level ones.
torch::Tensor LanczosResample(const torch::Tensor& values, const torch::Tensor& from, const torch::Tensor& to,
                              int lobes = 3);

// Regresses `confounds` [n, q] out of `features` [n, p] (ridge, alphas by contiguous folds):
// the part of the features that the confounds cannot predict, [n, p]. The feature-removal
// control encodes with this residual (design.md section 3).
torch::Tensor RemoveConfounds(const torch::Tensor& features, const torch::Tensor& confounds);

// Pearson r of each column: predicted and actual [n, t] -> [t] (0 where either is constant).
torch::Tensor PearsonPerTarget(const torch::Tensor& predicted, const torch::Tensor& actual);

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

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_METRICS_H_

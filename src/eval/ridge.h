// Ridge regression for voxelwise encoding models (design.md section 3): one linear map from
// model features to every target (voxel or sensor), each target with its own regularisation.
//
// Every fit has an unpenalised intercept, as scikit-learn's Ridge(fit_intercept=True): X and Y
// are centred on the training rows' means and intercept = mean(Y) - mean(X) W.
//
// The solver works from the eigendecomposition of the centred design, chosen by shape: the
// primal Gram X'X [p, p] when there are more samples than features, the kernel XX' [n, n]
// otherwise. One decomposition serves every alpha and every target; targets are processed in
// batches of target_batch columns, so 100k targets fit in bounded memory. Arithmetic in float64
// (but see RidgeOptions::screen_in_float32); tensors on the device of X (CPU or CUDA).
#ifndef BRAINTUNE_EVAL_RIDGE_H_
#define BRAINTUNE_EVAL_RIDGE_H_

#include <torch/torch.h>

#include <utility>
#include <vector>

namespace braintune::eval {

struct RidgeOptions {
  std::vector<double> alphas;  // candidates; default logspace(1, 4, 15)
  int folds = 5;               // contiguous chunks of rows, never shuffled (TRs are autocorrelated)
  int64_t target_batch = 8192;
  // Choosing alphas, compute the candidates' errors in float32 first (the per-alpha products
  // are most of the time, and float32 ones take half as long on a CPU) and again in float64 only
  // for targets whose best two candidates are so close (within ~2e-5 relative) that float32
  // rounding (~2e-7) might swap them: the alphas chosen are those of a float64 computation.
  // Weights, intercepts and predictions are always float64.
  bool screen_in_float32 = true;
  RidgeOptions();
};

struct RidgeModel {
  torch::Tensor weights;    // [p, t] float64
  torch::Tensor intercept;  // [t]
  torch::Tensor alphas;     // [t], the alpha each target was fitted with
  // [t] (FitRidgeCV only): 1 - (the chosen alpha's cross-validated squared error) / (sum of
  // squares of the centred targets), a score of the training rows that never sees test data.
  torch::Tensor cv_r2;
  torch::Tensor Predict(const torch::Tensor& x) const;  // [m, p] -> [m, t]
};

// Fits Y [n, t] on X [n, p] with alphas [t] (one per target).
RidgeModel FitRidge(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& alphas,
                    int64_t target_batch = 8192);

// The [begin, end) rows of each of `folds` contiguous folds of n rows: numpy.array_split(arange(n),
// folds), the folds every choice of alpha here is made on.
std::vector<std::pair<int64_t, int64_t>> ContiguousFolds(int64_t n, int folds);

// Per target, the alpha with the smallest squared prediction error summed over `folds`
// contiguous folds (fold f holds rows of numpy.array_split(arange(n), folds)[f]; each fold's
// model is fitted on the other rows). Ties go to the smaller alpha. Returns [t].
torch::Tensor ChooseAlphasByFolds(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options);

// Squared validation errors summed over the same contiguous folds as ChooseAlphasByFolds, per
// candidate alpha (options.alphas) and target, in float64 (no float32 screening): [alphas, t].
// What ChooseAlphasByFolds minimises; banded_ridge.h compares these across designs.
torch::Tensor FoldErrorsByAlpha(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options);

// Per target, the alpha with the smallest mean squared leave-one-out error, computed exactly
// from the hat matrix (what scikit-learn's RidgeCV(alpha_per_target=True) does with cv=None).
torch::Tensor ChooseAlphasLeaveOneOut(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options);

// Chooses alphas (by folds, or leave-one-out) and refits on all rows, in one pass over the
// target batches (leave-one-out reuses its decomposition and U'Y for the fit).
RidgeModel FitRidgeCV(const torch::Tensor& x, const torch::Tensor& y, const RidgeOptions& options,
                      bool leave_one_out = false);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_RIDGE_H_

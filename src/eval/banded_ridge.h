// Banded ridge regression (Nunez-Elizalde, Huth & Gallant 2019; himalaya's BandedRidgeCV): the
// design is a few feature bands X = [X_1, ..., X_B], and each band has its own penalty,
//   W = argmin ||Yc - Xc W||^2 + sum_b alpha_b ||W_b||^2   (per target),
// so a band that does not help a target can be shrunk away without shrinking the others. Solved
// as ordinary ridge with alpha 1 on the bands scaled by 1 / sqrt(alpha_b); equivalently, with
// alpha_1 on [X_1, X_2 sqrt(alpha_1 / alpha_2), ...], so every combination of alphas with the
// same ratios shares one eigendecomposition (per fold) and the grid costs one decomposition per
// distinct ratio vector, not per combination.
//
// The alphas are chosen per target by grid search over every combination of options.alphas
// per band (alpha_count^B combinations), minimising the squared error summed over the same
// contiguous folds as ChooseAlphasByFolds (ties go to the combination listed first: band 1's
// alpha varying slowest, smaller alphas first). The intercept is unpenalised, as in ridge.h.
// Arithmetic in float64; tensors on the device of the bands.
#ifndef BRAINTUNE_EVAL_BANDED_RIDGE_H_
#define BRAINTUNE_EVAL_BANDED_RIDGE_H_

#include <torch/torch.h>

#include <vector>

#include "eval/ridge.h"

namespace braintune::eval {

struct BandedRidgeModel {
  torch::Tensor weights;    // [p_1 + ... + p_B, t] float64, rows in the bands' order
  torch::Tensor intercept;  // [t]
  torch::Tensor alphas;     // [B, t]: band b's alpha for each target
  // [t] (FitBandedRidgeCV only): 1 - (the chosen combination's cross-validated squared error) /
  // (sum of squares of the centred targets), as RidgeModel::cv_r2.
  torch::Tensor cv_r2;
  // The bands' columns concatenated [m, p_1 + ... + p_B] -> [m, t].
  torch::Tensor Predict(const torch::Tensor& x) const;
};

// At most this many alpha combinations (alpha_count^bands) are searched.
inline constexpr int64_t kMaxBandedCombinations = 10000;

// Fits Y [n, t] on the bands (each [n, p_b], the same n) with alphas [B, t]: band b's alpha
// for each target. REQUIRES: at least one band; alphas > 0.
BandedRidgeModel FitBandedRidge(const std::vector<torch::Tensor>& bands, const torch::Tensor& y,
                                const torch::Tensor& alphas);

// Chooses each target's alphas (above) and refits on all rows. REQUIRES: at least one band;
// options.alphas.size()^bands <= kMaxBandedCombinations.
BandedRidgeModel FitBandedRidgeCV(const std::vector<torch::Tensor>& bands, const torch::Tensor& y,
                                  const RidgeOptions& options);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_BANDED_RIDGE_H_

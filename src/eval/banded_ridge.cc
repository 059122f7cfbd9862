#include "eval/banded_ridge.h"

#include <cmath>
#include <limits>
#include <map>
#include <utility>

namespace braintune::eval {
namespace {

using torch::Tensor;

// Combinations of alphas with the same ratios alpha_1 / alpha_b share a scaled design: its
// bands scaled by sqrt(alpha_1 / alpha_b) (band 1 by 1), fitted with alpha_1.
using RatioKey = std::vector<int64_t>;  // round(1e9 log(alpha_1 / alpha_b)), b = 2..B

RatioKey KeyOf(const std::vector<double>& alphas) {
  RatioKey key;
  for (size_t b = 1; b < alphas.size(); ++b) key.push_back(std::llround(1e9 * std::log(alphas[0] / alphas[b])));
  return key;
}

std::vector<double> ScalesOf(const std::vector<double>& alphas) {
  std::vector<double> scales;
  for (double a : alphas) scales.push_back(std::sqrt(alphas[0] / a));
  return scales;
}

Tensor ScaledDesign(const std::vector<Tensor>& bands, const std::vector<double>& scales) {
  std::vector<Tensor> parts;
  for (size_t b = 0; b < bands.size(); ++b) parts.push_back(bands[b].to(torch::kFloat64) * scales[b]);
  return torch::cat(parts, 1);
}

}  // namespace

Tensor BandedRidgeModel::Predict(const Tensor& x) const { return x.to(torch::kFloat64).mm(weights).add_(intercept); }

BandedRidgeModel FitBandedRidge(const std::vector<Tensor>& bands, const Tensor& y, const Tensor& alphas) {
  torch::NoGradGuard no_grad;
  const int64_t t = y.size(1);
  const Tensor a = alphas.to(torch::kCPU, torch::kFloat64).contiguous();
  // Targets grouped by their ratio vector: one decomposition per group.
  struct Group {
    std::vector<double> alphas;  // the first member's, for the scales
    std::vector<int64_t> targets;
    std::vector<double> overall;  // alpha_1 per member
  };
  std::map<RatioKey, Group> groups;
  const auto acc = a.accessor<double, 2>();
  for (int64_t j = 0; j < t; ++j) {
    std::vector<double> aj;
    for (size_t b = 0; b < bands.size(); ++b) aj.push_back(acc[b][j]);
    Group& g = groups[KeyOf(aj)];
    if (g.targets.empty()) g.alphas = aj;
    g.targets.push_back(j);
    g.overall.push_back(aj[0]);
  }
  int64_t p = 0;
  for (const Tensor& band : bands) p += band.size(1);
  const auto f64 = y.options().dtype(torch::kFloat64);
  BandedRidgeModel m;
  m.weights = torch::zeros({p, t}, f64);
  m.intercept = torch::zeros({t}, f64);
  m.alphas = alphas.to(f64);
  for (const auto& [key, g] : groups) {
    const std::vector<double> scales = ScalesOf(g.alphas);
    const Tensor cols = torch::tensor(g.targets, torch::kLong).to(y.device());
    RidgeModel fit = FitRidge(ScaledDesign(bands, scales), y.index_select(1, cols),
                              torch::tensor(g.overall, torch::kFloat64).to(y.device()));
    // x_b scaled by c_b times w equals x_b times (c_b w): the weights of the unscaled bands.
    Tensor w = fit.weights;
    int64_t row = 0;
    for (size_t b = 0; b < bands.size(); ++b) {
      const int64_t pb = bands[b].size(1);
      w.slice(0, row, row + pb).mul_(scales[b]);
      row += pb;
    }
    m.weights.index_copy_(1, cols, w);
    m.intercept.index_copy_(0, cols, fit.intercept);
  }
  return m;
}

BandedRidgeModel FitBandedRidgeCV(const std::vector<Tensor>& bands, const Tensor& y, const RidgeOptions& options) {
  torch::NoGradGuard no_grad;
  const int n_bands = static_cast<int>(bands.size());
  const int64_t g = static_cast<int64_t>(options.alphas.size());
  int64_t combinations = 1;
  for (int b = 0; b < n_bands; ++b) combinations *= g;
  TORCH_CHECK(n_bands >= 1 && combinations <= kMaxBandedCombinations, "banded ridge: ", combinations,
              " alpha combinations");
  // Every combination, band 1's alpha varying slowest, grouped by ratio vector.
  struct Group {
    std::vector<double> alphas;          // the first member's
    std::vector<int64_t> combinations;   // in listing order
    std::vector<double> overall;         // alpha_1 per member
  };
  std::map<RatioKey, Group> groups;
  std::vector<std::vector<double>> listed(combinations);
  for (int64_t c = 0; c < combinations; ++c) {
    std::vector<double> alphas(n_bands);
    int64_t rest = c;
    for (int b = n_bands - 1; b >= 0; --b) {
      alphas[b] = options.alphas[rest % g];
      rest /= g;
    }
    listed[c] = alphas;
    Group& group = groups[KeyOf(alphas)];
    if (group.combinations.empty()) group.alphas = alphas;
    group.combinations.push_back(c);
    group.overall.push_back(alphas[0]);
  }
  const int64_t t = y.size(1);
  const auto f64 = y.options().dtype(torch::kFloat64);
  Tensor best_error = torch::full({t}, std::numeric_limits<double>::infinity(), f64);
  Tensor best = torch::full({t}, combinations, y.options().dtype(torch::kLong));
  for (const auto& [key, group] : groups) {
    RidgeOptions o = options;
    o.alphas = group.overall;
    const Tensor errors = FoldErrorsByAlpha(ScaledDesign(bands, ScalesOf(group.alphas)), y, o);  // [members, t]
    for (size_t i = 0; i < group.combinations.size(); ++i) {
      const int64_t c = group.combinations[i];
      const Tensor better = (errors[i] < best_error) | ((errors[i] == best_error) & (best > c));
      best_error = torch::where(better, errors[i], best_error);
      best.masked_fill_(better, c);
    }
  }
  const Tensor chosen = best.to(torch::kCPU).contiguous();
  const auto chosen_of = chosen.accessor<int64_t, 1>();
  Tensor alphas = torch::empty({n_bands, t}, torch::kFloat64);
  auto alphas_of = alphas.accessor<double, 2>();
  for (int64_t j = 0; j < t; ++j) {
    const std::vector<double>& a = listed[chosen_of[j]];
    for (int b = 0; b < n_bands; ++b) alphas_of[b][j] = a[b];
  }
  BandedRidgeModel m = FitBandedRidge(bands, y, alphas.to(y.device()));
  const Tensor yd = y.to(torch::kFloat64);
  const Tensor sum_squares = (yd - yd.mean(0)).square().sum(0);
  m.cv_r2 = torch::where(sum_squares > 0, 1 - best_error / sum_squares, torch::zeros_like(sum_squares));
  return m;
}

}  // namespace braintune::eval

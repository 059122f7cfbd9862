#include "eval/metrics.h"

#include <cmath>
#include <random>

#include "eval/ridge.h"

namespace braintune::eval {

torch::Tensor Delay(const torch::Tensor& features, const std::vector<int>& delays) {
  const int64_t n = features.size(0);
  std::vector<torch::Tensor> blocks;
  for (int d : delays) {
    torch::Tensor shifted = torch::zeros_like(features);
    if (d < n) shifted.slice(0, d, n).copy_(features.slice(0, 0, n - d));
    blocks.push_back(shifted);
  }
  return torch::cat(blocks, 1);
}

torch::Tensor LanczosResample(const torch::Tensor& values, const torch::Tensor& from, const torch::Tensor& to,
                              int lobes) {
  torch::Tensor t_to = to.to(torch::kFloat64), t_from = from.to(torch::kFloat64);
  // The output rate, or the input rate when that is lower (upsampling, as model features at
  // 10 Hz to MEG samples): a kernel narrower than the inputs' spacing would leave outputs
  // between inputs with no input in reach.
  auto rate = [](const torch::Tensor& t) { return t.size(0) > 1 ? 1.0 / t.diff().mean().item<double>() : INFINITY; };
  const double cutoff = std::min(rate(t_to), rate(t_from));
  torch::Tensor x = (t_to.unsqueeze(1) - t_from.unsqueeze(0)) * cutoff;  // [n, m], in cycles
  const double pi = M_PI;
  torch::Tensor safe = torch::where(x == 0, torch::ones_like(x), x);
  torch::Tensor kernel = lobes * torch::sin(pi * safe) * torch::sin(pi * safe / lobes) / (pi * pi * safe * safe);
  kernel = torch::where(x == 0, torch::ones_like(x), kernel);
  kernel = torch::where(x.abs() > lobes, torch::zeros_like(x), kernel);
  return kernel.mm(values.to(torch::kFloat64));
}

Residuals RemoveConfounds(const torch::Tensor& features_train, const torch::Tensor& confounds_train,
                          const torch::Tensor& features_test, const torch::Tensor& confounds_test,
                          const RidgeOptions& options) {
  RidgeModel m = FitRidgeCV(confounds_train, features_train, options);
  return {features_train.to(torch::kFloat64) - m.Predict(confounds_train),
          features_test.to(torch::kFloat64) - m.Predict(confounds_test)};
}

torch::Tensor PearsonPerTarget(const torch::Tensor& predicted, const torch::Tensor& actual) {
  torch::Tensor p = predicted.to(torch::kFloat64), a = actual.to(torch::kFloat64);
  p = p - p.mean(0);
  a = a - a.mean(0);
  torch::Tensor denominator = (p.pow(2).sum(0) * a.pow(2).sum(0)).sqrt();
  return torch::where(denominator > 0, (p * a).sum(0) / denominator, torch::zeros_like(denominator));
}

torch::Tensor R2PerTarget(const torch::Tensor& predicted, const torch::Tensor& actual) {
  const torch::Tensor a = actual.to(torch::kFloat64);
  const torch::Tensor total = (a - a.mean(0)).pow(2).sum(0);
  const torch::Tensor error = (a - predicted.to(torch::kFloat64)).pow(2).sum(0);
  return torch::where(total > 0, 1 - error / total, torch::zeros_like(total));
}

torch::Tensor NoiseCeiling(const torch::Tensor& repeats, int averaged) {
  torch::Tensor y = repeats.to(torch::kFloat64);
  const double n = static_cast<double>(y.size(0));
  torch::Tensor total_power = y.var(1, /*unbiased=*/false).mean(0);              // TP, [t]
  torch::Tensor signal_power =
      (y.sum(0).var(0, false) - y.var(1, false).sum(0)) / (n * (n - 1));           // SP, [t]
  torch::Tensor cc = 1.0 / (1.0 + (total_power / signal_power - 1.0) / averaged).sqrt();
  return torch::where(signal_power > 0, cc, torch::zeros_like(cc));
}

torch::Tensor NormalizedScores(const torch::Tensor& r, const torch::Tensor& ceiling, double threshold) {
  torch::Tensor c = ceiling.to(torch::kFloat64);
  return torch::where(c > threshold, r.to(torch::kFloat64) / c, torch::full_like(c, NAN));
}

MeanSem Summarize(const torch::Tensor& values) {
  torch::Tensor v = values.to(torch::kFloat64).reshape(-1);
  v = v.index({torch::isfinite(v)});
  MeanSem s;
  s.n = v.numel();
  if (s.n == 0) return {NAN, NAN, 0};
  s.mean = v.mean().item<double>();
  if (s.n >= 2) s.sem = v.std(/*unbiased=*/true).item<double>() / std::sqrt(static_cast<double>(s.n));
  return s;
}

std::map<std::string, MeanSem> SummarizeRois(const torch::Tensor& scores,
                                             const std::map<std::string, std::vector<int32_t>>& rois) {
  std::map<std::string, MeanSem> out;
  for (const auto& [name, targets] : rois) {
    torch::Tensor index = torch::tensor(std::vector<int64_t>(targets.begin(), targets.end()));
    out[name] = Summarize(scores.index_select(0, index));
  }
  return out;
}

PairedTestResult PairedSignFlipTest(const std::vector<double>& a, const std::vector<double>& b, int64_t random_flips,
                                    uint64_t seed) {
  std::vector<double> d;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (std::isfinite(a[i]) && std::isfinite(b[i])) d.push_back(b[i] - a[i]);
  }
  PairedTestResult out;
  out.n = static_cast<int64_t>(d.size());
  if (d.empty()) return out;
  MeanSem ms = Summarize(torch::tensor(d, torch::kFloat64));
  out.mean_difference = ms.mean;
  out.sem_difference = ms.sem;
  out.t = ms.sem > 0 ? ms.mean / ms.sem : 0;
  const double observed = std::abs(ms.mean * out.n) * (1 - 1e-12);  // |sum|, with rounding slack
  auto at_least_as_extreme = [&](uint64_t signs) {
    double sum = 0;
    for (int64_t i = 0; i < out.n; ++i) sum += (signs >> i & 1) ? -d[i] : d[i];
    return std::abs(sum) >= observed;
  };
  int64_t extreme = 0;
  if (out.n <= 16) {
    out.permutations = int64_t{1} << out.n;
    for (uint64_t signs = 0; signs < static_cast<uint64_t>(out.permutations); ++signs) extreme += at_least_as_extreme(signs);
    out.p_value = static_cast<double>(extreme) / out.permutations;
  } else {
    std::mt19937_64 rng(seed);
    for (int64_t k = 0; k < random_flips; ++k) {
      double sum = 0;
      for (int64_t i = 0; i < out.n; ++i) sum += (rng() & 1) ? -d[i] : d[i];
      extreme += std::abs(sum) >= observed;
    }
    out.permutations = random_flips;
    out.p_value = static_cast<double>(extreme + 1) / (random_flips + 1);  // the observed one counts
  }
  return out;
}

}  // namespace braintune::eval

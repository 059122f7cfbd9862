#include "eval/metrics.h"

#include <cmath>

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
  const double cutoff = 1.0 / t_to.diff().mean().item<double>();
  torch::Tensor x = (t_to.unsqueeze(1) - t_from.unsqueeze(0)) * cutoff;  // [n, m], in cycles
  const double pi = M_PI;
  torch::Tensor safe = torch::where(x == 0, torch::ones_like(x), x);
  torch::Tensor kernel = lobes * torch::sin(pi * safe) * torch::sin(pi * safe / lobes) / (pi * pi * safe * safe);
  kernel = torch::where(x == 0, torch::ones_like(x), kernel);
  kernel = torch::where(x.abs() > lobes, torch::zeros_like(x), kernel);
  return kernel.mm(values.to(torch::kFloat64));
}

torch::Tensor RemoveConfounds(const torch::Tensor& features, const torch::Tensor& confounds) {
  RidgeModel m = FitRidgeCV(confounds, features, RidgeOptions());
  return features.to(torch::kFloat64) - m.Predict(confounds);
}

torch::Tensor PearsonPerTarget(const torch::Tensor& predicted, const torch::Tensor& actual) {
  torch::Tensor p = predicted.to(torch::kFloat64), a = actual.to(torch::kFloat64);
  p = p - p.mean(0);
  a = a - a.mean(0);
  torch::Tensor denominator = (p.pow(2).sum(0) * a.pow(2).sum(0)).sqrt();
  return torch::where(denominator > 0, (p * a).sum(0) / denominator, torch::zeros_like(denominator));
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

}  // namespace braintune::eval

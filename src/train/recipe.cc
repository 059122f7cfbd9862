#include "train/recipe.h"

#include <algorithm>
#include <cmath>

namespace braintune::train {

double LearningRateFactor(const config::TrainingSpec& t, int64_t step) {
  const int64_t warm = std::llround(t.warmup_fraction * static_cast<double>(t.steps));
  if (step <= warm) return static_cast<double>(step) / static_cast<double>(warm);
  if (t.schedule == "constant") return 1.0;
  return static_cast<double>(t.steps - step + 1) / static_cast<double>(std::max<int64_t>(1, t.steps - warm));
}

torch::Tensor PairLoss(const config::TrainingSpec& t, const torch::Tensor& pred, const torch::Tensor& actual) {
  torch::Tensor loss = torch::zeros({}, pred.options().dtype(torch::kFloat));
  const int64_t rows = pred.size(0);
  if (t.loss != "pearson") loss = loss + (pred.to(torch::kFloat) - actual).pow(2).mean(1).sum();
  if (t.loss != "mse" && rows >= 2) {
    // 1 - r per target over the rows, averaged over targets, counted once per row (pair).
    torch::Tensor p = pred.to(torch::kFloat) - pred.to(torch::kFloat).mean(0, true);
    torch::Tensor a = actual - actual.mean(0, true);
    torch::Tensor r = (p * a).sum(0) / (p.pow(2).sum(0).sqrt() * a.pow(2).sum(0).sqrt() + 1e-8);
    const double w = t.loss == "pearson" ? 1.0 : t.pearson_weight;
    loss = loss + (1 - r).mean() * static_cast<double>(rows) * w;
  }
  return loss;
}

std::unique_ptr<torch::optim::AdamW> MakeOptimizer(const config::TrainingSpec& t, std::vector<torch::Tensor> encoder,
                                                   std::vector<torch::Tensor> head) {
  auto options = [&](double lr) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr).weight_decay(t.weight_decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!encoder.empty()) groups.emplace_back(std::move(encoder), options(t.lr));
  groups.emplace_back(std::move(head), options(t.head_lr));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(t.lr).weight_decay(t.weight_decay));
}

void ScheduleLearningRates(const config::TrainingSpec& t, int64_t step, torch::optim::AdamW* optimizer) {
  const double f = LearningRateFactor(t, step);
  auto& groups = optimizer->param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    // The heads' group is always the last (MakeOptimizer); an encoder group, when any, before it.
    const double base = g + 1 == groups.size() ? t.head_lr : t.lr;
    static_cast<torch::optim::AdamWOptions&>(groups[g].options()).lr(base * f);
  }
}

}  // namespace braintune::train

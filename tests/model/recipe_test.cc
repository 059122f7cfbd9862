// The recipe's schedule and losses (train/recipe.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "train/recipe.h"

namespace braintune::train {
namespace {

TEST(RecipeTest, WarmUpThenLinearDecay) {
  config::TrainingSpec t;
  t.steps = 100;
  t.warmup_fraction = 0.1;
  EXPECT_DOUBLE_EQ(LearningRateFactor(t, 1), 0.1);
  EXPECT_DOUBLE_EQ(LearningRateFactor(t, 5), 0.5);
  EXPECT_DOUBLE_EQ(LearningRateFactor(t, 10), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateFactor(t, 11), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateFactor(t, 55), 46.0 / 90.0);
  EXPECT_DOUBLE_EQ(LearningRateFactor(t, 100), 1.0 / 90.0);
  t.schedule = "constant";
  EXPECT_DOUBLE_EQ(LearningRateFactor(t, 100), 1.0);
  t.warmup_fraction = 0;
  EXPECT_DOUBLE_EQ(LearningRateFactor(t, 1), 1.0);
}

TEST(RecipeTest, LossesPerPair) {
  config::TrainingSpec t;
  torch::Tensor actual = torch::tensor({{1.0f, 0.0f}, {2.0f, 1.0f}, {4.0f, -1.0f}});
  t.loss = "mse";
  EXPECT_NEAR(PairLoss(t, actual + 1, actual).item<double>(), 3.0, 1e-6);  // 3 rows x 1
  t.loss = "pearson";
  EXPECT_NEAR(PairLoss(t, actual * 2 + 1, actual).item<double>(), 0.0, 1e-5);  // r = 1
  EXPECT_NEAR(PairLoss(t, -actual, actual).item<double>(), 3 * 2.0, 1e-5);     // r = -1: rows x 2
  EXPECT_EQ(PairLoss(t, actual.narrow(0, 0, 1), actual.narrow(0, 0, 1)).item<double>(), 0.0) << "r needs 2 rows";
  t.loss = "mse+pearson";
  t.pearson_weight = 0.5;
  EXPECT_NEAR(PairLoss(t, -actual, actual).item<double>(), (4 * (1 + 4 + 16) + 4 * (0 + 1 + 1)) / 2.0 + 3.0, 1e-4);
  // Its gradient pulls predictions toward the responses.
  torch::Tensor pred = torch::zeros({3, 2}).uniform_().requires_grad_();
  PairLoss(t, pred, actual).backward();
  EXPECT_TRUE(torch::isfinite(pred.grad()).all().item<bool>());
}

}  // namespace
}  // namespace braintune::train

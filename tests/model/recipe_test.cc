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

TEST(RecipeTest, OptimizerGroupsFollowTheSchedule) {
  config::TrainingSpec t;
  t.steps = 10;
  t.warmup_fraction = 0.5;
  t.lr = 0.1;
  t.head_lr = 0.2;
  const auto lr_of = [](torch::optim::AdamW& o, size_t g) {
    return static_cast<torch::optim::AdamWOptions&>(o.param_groups()[g].options()).lr();
  };
  auto both = MakeOptimizer(t, {torch::zeros({2}, torch::requires_grad())}, {torch::zeros({3}, torch::requires_grad())});
  ASSERT_EQ(both->param_groups().size(), 2u);
  EXPECT_EQ(both->param_groups()[0].params()[0].numel(), 2) << "the encoder's group first";
  ScheduleLearningRates(t, 1, both.get());
  EXPECT_DOUBLE_EQ(lr_of(*both, 0), 0.1 * 0.2);
  EXPECT_DOUBLE_EQ(lr_of(*both, 1), 0.2 * 0.2);
  // A frozen encoder has no group: the one left is the heads'.
  auto heads_only = MakeOptimizer(t, {}, {torch::zeros({3}, torch::requires_grad())});
  ASSERT_EQ(heads_only->param_groups().size(), 1u);
  ScheduleLearningRates(t, 5, heads_only.get());
  EXPECT_DOUBLE_EQ(lr_of(*heads_only, 0), 0.2);
}

}  // namespace
}  // namespace braintune::train

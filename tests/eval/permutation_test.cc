// The permutation control's statistics (eval/permutation_control.h): block-permutation p-values
// and the Benjamini-Hochberg correction.
#include <torch/torch.h>

#include <iostream>
#include <vector>

#include "eval/permutation_control.h"
#include "gtest/gtest.h"

namespace braintune::eval {
namespace {

using torch::Tensor;

// AR(1) noise [n, t] with lag-1 correlation rho, as slow BOLD noise.
Tensor Autocorrelated(int64_t n, int64_t t, double rho) {
  Tensor x = torch::randn({n, t}, torch::kFloat64);
  for (int64_t i = 1; i < n; ++i) x[i] = rho * x[i - 1] + std::sqrt(1 - rho * rho) * x[i];
  return x;
}

TEST(PermutationTest, BlocksStayWithinSegments) {
  const auto blocks = PermutationBlocks({25, 12}, 10);
  const std::vector<std::pair<int64_t, int64_t>> expected = {{0, 10}, {10, 20}, {20, 25}, {25, 35}, {35, 37}};
  EXPECT_EQ(blocks, expected);
}

TEST(PermutationTest, ATargetWithSignalIsSignificantAndNoiseIsNot) {
  torch::manual_seed(5);
  const int64_t n = 240, t = 300;
  const Tensor predicted = Autocorrelated(n, t, 0.6);
  // Independent of the prediction, except the first 30 targets (r ~ 0.7). With 1000 shuffles the
  // smallest p is 1/1001, and Benjamini-Hochberg passes k targets of 300 only if p <= k 0.05 / 300:
  // one strong target alone could not pass, 30 can.
  Tensor actual = Autocorrelated(n, t, 0.6);
  actual.slice(1, 0, 30).add_(predicted.slice(1, 0, 30));
  BlockPermutationOptions options;
  options.block_rows = 10;
  options.permutations = 1000;
  options.seed = 42;
  const Tensor p = BlockPermutationPValues(predicted, actual, {120, 120}, options);
  EXPECT_NEAR(p.slice(0, 0, 30).max().item<double>(), 1.0 / 1001, 1e-12);  // no shuffle reaches the real r
  const Tensor significant = BenjaminiHochberg(p, 0.05);
  EXPECT_TRUE(significant.slice(0, 0, 30).all().item<bool>());
  // The noise targets' p-values are roughly uniform, and few survive the correction.
  const Tensor noise = p.slice(0, 30);
  const double mean = noise.mean().item<double>(), below = (noise <= 0.05).to(torch::kFloat64).mean().item<double>();
  const int64_t false_positives = significant.slice(0, 30).sum().item<int64_t>();
  std::cout << "noise p: mean " << mean << ", share <= 0.05 " << below << ", FDR-significant " << false_positives
            << " of " << noise.numel() << "\n";
  EXPECT_NEAR(mean, 0.5, 0.05);
  EXPECT_GT(below, 0.01);
  EXPECT_LT(below, 0.10);
  EXPECT_LE(false_positives, 5);  // FDR 5% of ~30 discoveries: ~1.5 expected
  // Noise alone: the correction passes (almost) nothing.
  EXPECT_LE(BenjaminiHochberg(noise, 0.05).sum().item<int64_t>(), 1);
  // Deterministic: the same seed gives the same p-values, another seed others.
  EXPECT_TRUE(torch::equal(p, BlockPermutationPValues(predicted, actual, {120, 120}, options)));
  options.seed = 43;
  EXPECT_FALSE(torch::equal(p, BlockPermutationPValues(predicted, actual, {120, 120}, options)));
}

TEST(PermutationTest, ConstantTargetsGetPOne) {
  const Tensor predicted = torch::randn({50, 2}, torch::kFloat64);
  const Tensor actual = torch::ones({50, 2}, torch::kFloat64);
  BlockPermutationOptions options;
  options.permutations = 100;
  EXPECT_TRUE(torch::equal(BlockPermutationPValues(predicted, actual, {50}, options), torch::ones({2}, torch::kFloat64)));
}

TEST(PermutationTest, BenjaminiHochbergStepsUp) {
  // m = 4, q = 0.05: bounds k q / m = 0.0125, 0.025, 0.0375, 0.05. Sorted p 0.001 (passes),
  // 0.03 (fails its own bound), 0.032 (passes: the largest k), 0.5: the first three are rejected.
  const Tensor p = torch::tensor({0.5, 0.032, 0.001, 0.03}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(BenjaminiHochberg(p, 0.05), torch::tensor({false, true, true, true})));
  // Stricter q = 0.02: bounds 0.005, 0.01, 0.015, 0.02: only 0.001.
  EXPECT_TRUE(torch::equal(BenjaminiHochberg(p, 0.02), torch::tensor({false, false, true, false})));
  // Nothing passes.
  EXPECT_FALSE(BenjaminiHochberg(torch::tensor({0.2, 0.9}, torch::kFloat64), 0.05).any().item<bool>());
}

}  // namespace
}  // namespace braintune::eval

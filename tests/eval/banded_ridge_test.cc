// Banded ridge (eval/banded_ridge.h) against a direct float64 solve of the penalised normal
// equations, and variance partitioning (eval/variance_partitioning.h) on targets whose source
// is known.
#include "eval/banded_ridge.h"

#include <torch/torch.h>

#include <iostream>
#include <tuple>
#include <vector>

#include "eval/metrics.h"
#include "eval/ridge.h"
#include "eval/variance_partitioning.h"
#include "gtest/gtest.h"

namespace braintune::eval {
namespace {

using torch::Tensor;

// The straightforward solution: (Xc'Xc + diag(alpha per column)) w = Xc'yc per target, with the
// intercept ymean - xmean w. Returns weights [p, t] and intercepts [t].
std::pair<Tensor, Tensor> DirectSolve(const std::vector<Tensor>& bands, const Tensor& y, const Tensor& alphas) {
  const Tensor x = torch::cat(bands, 1).to(torch::kFloat64);
  const Tensor xm = x.mean(0), ym = y.mean(0);
  const Tensor xc = x - xm, yc = y - ym;
  Tensor w = torch::empty({x.size(1), y.size(1)}, torch::kFloat64);
  for (int64_t j = 0; j < y.size(1); ++j) {
    std::vector<Tensor> penalty;
    for (size_t b = 0; b < bands.size(); ++b) {
      penalty.push_back(torch::full({bands[b].size(1)}, alphas[b][j].item<double>(), torch::kFloat64));
    }
    const Tensor a = xc.t().mm(xc) + torch::diag(torch::cat(penalty));
    w.select(1, j).copy_(torch::linalg_solve(a, xc.t().mv(yc.select(1, j))));
  }
  return {w, ym - xm.matmul(w)};
}

struct Problem {
  std::vector<Tensor> bands;
  Tensor y;
};

// y = X_a w_a + X_b w_b + noise, band b's weights scaled differently per target so that the
// best alphas differ between bands and targets.
Problem RandomProblem(int64_t n, int64_t pa, int64_t pb, int64_t t, uint64_t seed) {
  torch::manual_seed(seed);
  Problem p;
  p.bands = {torch::randn({n, pa}, torch::kFloat64), torch::randn({n, pb}, torch::kFloat64) * 2 + 1};
  const Tensor scale_b = torch::linspace(0, 1, t, torch::kFloat64);
  p.y = p.bands[0].mm(torch::randn({pa, t}, torch::kFloat64)) +
        p.bands[1].mm(torch::randn({pb, t}, torch::kFloat64) * 0.3) * scale_b + 3 * torch::randn({n, t}, torch::kFloat64) +
        5;
  return p;
}

TEST(BandedRidgeTest, FixedAlphasMatchADirectSolve) {
  for (auto [n, pa, pb] : {std::tuple<int64_t, int64_t, int64_t>{80, 6, 9}, {20, 15, 12}}) {  // tall and wide
    SCOPED_TRACE(n);
    const Problem p = RandomProblem(n, pa, pb, 5, 1);
    const Tensor alphas = torch::tensor({{0.5, 3.0, 40.0, 2.0, 7.0}, {9.0, 0.1, 40.0, 200.0, 7.0}}, torch::kFloat64);
    const BandedRidgeModel m = FitBandedRidge(p.bands, p.y, alphas);
    const auto [w, b] = DirectSolve(p.bands, p.y, alphas);
    EXPECT_LT((m.weights - w).abs().max().item<double>(), 1e-8 * w.abs().max().item<double>());
    EXPECT_LT((m.intercept - b).abs().max().item<double>(), 1e-8 * b.abs().max().item<double>());
    EXPECT_TRUE(torch::equal(m.alphas, alphas));
  }
}

TEST(BandedRidgeTest, GridSearchMatchesABruteForceLoopOverPairsAndContiguousFolds) {
  const Problem p = RandomProblem(100, 8, 10, 6, 2);
  RidgeOptions options;
  options.alphas = {0.1, 3, 30, 300, 3000};
  options.folds = 5;
  const BandedRidgeModel m = FitBandedRidgeCV(p.bands, p.y, options);
  // Every pair, every fold (numpy.array_split: 5 folds of 20 rows), solved directly.
  const int64_t g = 5, t = p.y.size(1);
  Tensor best = torch::full({t}, 1e300, torch::kFloat64);
  Tensor chosen = torch::zeros({2, t}, torch::kFloat64);
  for (int64_t i = 0; i < g; ++i) {
    for (int64_t k = 0; k < g; ++k) {
      const Tensor alphas = torch::tensor({options.alphas[i], options.alphas[k]}, torch::kFloat64)
                                .unsqueeze(1).expand({2, t}).contiguous();
      Tensor error = torch::zeros({t}, torch::kFloat64);
      for (int64_t f = 0; f < 5; ++f) {
        const Tensor train = torch::cat({torch::arange(0, 20 * f), torch::arange(20 * (f + 1), 100)});
        std::vector<Tensor> bands_train;
        for (const Tensor& band : p.bands) bands_train.push_back(band.index_select(0, train));
        const auto [w, b] = DirectSolve(bands_train, p.y.index_select(0, train), alphas);
        const Tensor x_val = torch::cat(p.bands, 1).slice(0, 20 * f, 20 * (f + 1));
        error += (p.y.slice(0, 20 * f, 20 * (f + 1)) - x_val.mm(w) - b).square().sum(0);
      }
      const Tensor better = error < best * (1 - 1e-12);
      best = torch::where(better, error, best);
      chosen = torch::where(better.unsqueeze(0), alphas, chosen);
    }
  }
  EXPECT_TRUE(torch::equal(m.alphas, chosen)) << m.alphas << "\n" << chosen;
  // The alphas differ between bands for some target: the bands are penalised separately.
  EXPECT_FALSE(torch::equal(chosen[0], chosen[1]));
  const auto [w, b] = DirectSolve(p.bands, p.y, chosen);
  EXPECT_LT((m.weights - w).abs().max().item<double>(), 1e-8 * w.abs().max().item<double>());
  const Tensor yc = p.y - p.y.mean(0);
  EXPECT_TRUE(torch::allclose(m.cv_r2, 1 - best / yc.square().sum(0), 1e-9, 1e-9));
  // One band alone is ordinary ridge.
  const BandedRidgeModel one = FitBandedRidgeCV({p.bands[0]}, p.y, options);
  EXPECT_TRUE(torch::allclose(one.alphas[0], ChooseAlphasByFolds(p.bands[0], p.y, options)));
}

// The three encoding models of the variance-partitioning control on held-out rows.
VariancePartition Partition(const Tensor& xa, const Tensor& xb, const Tensor& y, const RidgeOptions& options) {
  const int64_t n = 300;
  auto train = [&](const Tensor& v) { return v.slice(0, 0, n); };
  auto test = [&](const Tensor& v) { return v.slice(0, n); };
  const Tensor ra = R2PerTarget(FitRidgeCV(train(xa), train(y), options).Predict(test(xa)), test(y));
  const Tensor rb = R2PerTarget(FitRidgeCV(train(xb), train(y), options).Predict(test(xb)), test(y));
  const BandedRidgeModel joint = FitBandedRidgeCV({train(xa), train(xb)}, train(y), options);
  const Tensor rj = R2PerTarget(joint.Predict(torch::cat({test(xa), test(xb)}, 1)), test(y));
  return PartitionVariance(rj, ra, rb);
}

TEST(VariancePartitioningTest, ATargetDrivenOnlyByOneBandIsAssignedToThatBandsUniqueVariance) {
  torch::manual_seed(3);
  const int64_t rows = 400, t = 8;
  RidgeOptions options;
  options.alphas = {0.1, 1, 10, 100, 1000, 10000};
  const Tensor xa = torch::randn({rows, 10}, torch::kFloat64), xb = torch::randn({rows, 12}, torch::kFloat64);
  const Tensor y = xa.mm(torch::randn({10, t}, torch::kFloat64)) + 1.5 * torch::randn({rows, t}, torch::kFloat64);
  const VariancePartition v = Partition(xa, xb, y, options);
  std::cout << "unique a " << v.unique_a.mean().item<double>() << ", unique b " << v.unique_b.mean().item<double>()
            << ", shared " << v.shared.mean().item<double>() << "\n";
  EXPECT_GT(v.unique_a.min().item<double>(), 0.5);
  EXPECT_LT(v.unique_b.max().item<double>(), 0.05);
  EXPECT_LT(v.shared.max().item<double>(), 0.05);
  // Driven by a latent that both bands carry: shared, not unique.
  const Tensor z = torch::randn({rows, 3}, torch::kFloat64);
  const Tensor xa2 = torch::cat({z, torch::randn({rows, 7}, torch::kFloat64)}, 1);
  const Tensor xb2 = torch::cat({z.mm(torch::randn({3, 3}, torch::kFloat64)), torch::randn({rows, 9}, torch::kFloat64)}, 1);
  const Tensor y2 = z.mm(2 * torch::randn({3, t}, torch::kFloat64)) + torch::randn({rows, t}, torch::kFloat64);
  const VariancePartition s = Partition(xa2, xb2, y2, options);
  std::cout << "latent in both: unique a " << s.unique_a.mean().item<double>() << ", unique b "
            << s.unique_b.mean().item<double>() << ", shared " << s.shared.mean().item<double>() << "\n";
  EXPECT_GT(s.shared.mean().item<double>(), 0.5);
  EXPECT_GT(s.shared.min().item<double>(), 0.2);
  EXPECT_LT(s.unique_a.max().item<double>(), 0.05);
  EXPECT_LT(s.unique_b.max().item<double>(), 0.05);
}

TEST(VariancePartitioningTest, NegativeEstimatesAreSetToZero) {
  // joint 0.30, a 0.25, b 0.10 -> unique a 0.20, unique b 0.05, shared 0.05; joint below a
  // (noise) -> unique b -0.05, set to 0; every R^2 negative -> both unique parts negative, set to 0.
  const Tensor joint = torch::tensor({0.30, 0.20, -0.10}, torch::kFloat64);
  const Tensor a = torch::tensor({0.25, 0.25, -0.02}, torch::kFloat64);
  const Tensor b = torch::tensor({0.10, 0.01, -0.03}, torch::kFloat64);
  const VariancePartition v = PartitionVariance(joint, a, b);
  EXPECT_TRUE(torch::allclose(v.unique_a, torch::tensor({0.20, 0.19, 0.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(v.unique_b, torch::tensor({0.05, 0.0, 0.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(v.shared, torch::tensor({0.05, 0.06, 0.05}, torch::kFloat64)));
}

}  // namespace
}  // namespace braintune::eval

// Ridge regression against scikit-learn (Debian's python3-sklearn) on data written by
// tests/eval/sklearn_reference.py: weights, intercepts, predictions and chosen alphas.
#include "eval/ridge.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/process.h"

namespace braintune::eval {
namespace {

// A numpy.savetxt file as a float64 tensor [rows, cols].
torch::Tensor Load(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<double> values;
  int64_t rows = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    double v;
    while (fields >> v) values.push_back(v);
    ++rows;
  }
  return torch::tensor(values, torch::kFloat64).reshape({rows, -1});
}

// Largest |a - b| relative to the largest |b|.
double RelativeError(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

class RidgeTest : public ::testing::TestWithParam<const char*> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir;
    auto r = testing::RunCommand("/usr/bin/python3 " + std::string(BRAINTUNE_SOURCE_DIR) +
                                 "/tests/eval/sklearn_reference.py " + dir_->path());
    ASSERT_EQ(r.exit_code, 0) << "scikit-learn reference failed (python3-sklearn installed?):\n" << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  torch::Tensor Get(const std::string& key) { return Load(dir_->File(std::string(GetParam()) + "_" + key + ".txt")); }
  static testing::TempDir* dir_;
};
testing::TempDir* RidgeTest::dir_ = nullptr;

TEST_P(RidgeTest, FixedAlphasMatchScikitLearnRidge) {
  const torch::Tensor x = Get("x"), y = Get("y");
  RidgeModel m = FitRidge(x, y, Get("fixed_alphas").reshape(-1));
  EXPECT_LT(RelativeError(m.weights, Get("ridge_coef")), 1e-4);
  EXPECT_LT(RelativeError(m.intercept, Get("ridge_intercept").reshape(-1)), 1e-4);
  EXPECT_LT(RelativeError(m.Predict(Get("x_test")), Get("ridge_pred")), 1e-4);
  // Small batches of targets give the same answer.
  RidgeModel batched = FitRidge(x, y, Get("fixed_alphas").reshape(-1), /*target_batch=*/2);
  EXPECT_LT(RelativeError(batched.weights, m.weights), 1e-12);
}

TEST_P(RidgeTest, FoldAlphasMatchAPerAlphaScikitLearnLoop) {
  RidgeOptions options;
  options.target_batch = 3;
  const torch::Tensor chosen = ChooseAlphasByFolds(Get("x"), Get("y"), options);
  const torch::Tensor expected = Get("folds_alphas").reshape(-1);
  EXPECT_LT(RelativeError(chosen, expected), 1e-9) << chosen << expected;
  // The data were made so that targets need different alphas: the choice is per target.
  EXPECT_GT(std::get<0>(torch::_unique(chosen)).numel(), 1);
}

TEST_P(RidgeTest, LeaveOneOutMatchesRidgeCV) {
  RidgeOptions options;
  const torch::Tensor x = Get("x"), y = Get("y");
  RidgeModel m = FitRidgeCV(x, y, options, /*leave_one_out=*/true);
  EXPECT_LT(RelativeError(m.alphas, Get("loo_alphas").reshape(-1)), 1e-9) << m.alphas;
  EXPECT_LT(RelativeError(m.weights, Get("loo_coef")), 1e-4);
  EXPECT_LT(RelativeError(m.intercept, Get("loo_intercept").reshape(-1)), 1e-4);
}

// cv_r2 is what one would compute by hand: refit on each contiguous fold's other rows with the
// chosen alphas, sum the squared errors on the fold, divide by the centred sum of squares.
TEST_P(RidgeTest, CrossValidatedScoreMatchesFoldsByHand) {
  const torch::Tensor x = Get("x"), y = Get("y");
  RidgeOptions options;
  options.folds = 4;
  RidgeModel m = FitRidgeCV(x, y, options);
  const int64_t n = x.size(0);
  torch::Tensor error = torch::zeros({y.size(1)}, torch::kFloat64);
  for (int f = 0; f < options.folds; ++f) {
    // numpy.array_split: the first n % folds folds hold one row more.
    const int64_t size = n / options.folds, extra = n % options.folds;
    const int64_t begin = f * size + std::min<int64_t>(f, extra), end = begin + size + (f < extra ? 1 : 0);
    const torch::Tensor rows = torch::cat({torch::arange(0, begin), torch::arange(end, n)});
    RidgeModel fold = FitRidge(x.index_select(0, rows), y.index_select(0, rows), m.alphas);
    error += (fold.Predict(x.slice(0, begin, end)) - y.slice(0, begin, end)).square().sum(0);
  }
  const torch::Tensor expected = 1 - error / (y - y.mean(0)).square().sum(0);
  EXPECT_LT((m.cv_r2 - expected).abs().max().item<double>(), 1e-5) << m.cv_r2 << expected;
  EXPECT_GT(m.cv_r2.max().item<double>(), 0.1);  // the reference data has signal
}

INSTANTIATE_TEST_SUITE_P(Shapes, RidgeTest, ::testing::Values("tall", "wide"));

}  // namespace
}  // namespace braintune::eval

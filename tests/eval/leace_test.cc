// LEACE (eval/leace.h) against the paper's closed form in NumPy (bench/reference/leace_reference.py),
// and what a user relies on: afterwards no linear read-out of the concept beats a constant, and
// the features keep what was not the concept.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "eval/leace.h"
#include "model/safetensors.h"
#include "testing/process.h"

namespace braintune::eval {
namespace {

using ::testing::HasSubstr;

// Features where the concept is one mixed-in direction among others, with correlated noise.
struct Data {
  torch::Tensor x, z, other;
};
Data Make(int64_t n, int64_t d, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor mix = torch::randn({d, d}, torch::kFloat64);
  torch::Tensor z = torch::randint(1, 9, {n, 1}, torch::kFloat64);  // e.g. letters per word
  torch::Tensor other = torch::randn({n, 1}, torch::kFloat64);     // something the brain also uses
  torch::Tensor x = torch::matmul(torch::randn({n, d}, torch::kFloat64), mix) * 0.3 +
                    z * torch::randn({1, d}, torch::kFloat64) + other * torch::randn({1, d}, torch::kFloat64);
  return {x, z, other};
}

TEST(LeaceTest, MatchesTheClosedFormInNumPy) {
  testing::TempDir dir;
  Data data = Make(300, 12, 1);
  torch::Tensor z2 = torch::cat({data.z, data.other.pow(2)}, 1);  // a 2-column concept too
  for (const torch::Tensor& z : {data.z, z2}) {
    ConceptEraser e = FitLeace(data.x, z);
    EXPECT_EQ(e.rank, z.size(1));
    ASSERT_TRUE(model::WriteSafetensors(dir.File("in.safetensors"), {{"x", data.x}, {"z", z}}).ok());
    ASSERT_TRUE(model::WriteSafetensors(dir.File("out.safetensors"), {{"erased", e.Apply(data.x)}}).ok());
    auto r = testing::RunCommand(absl::StrCat("/usr/bin/python3 ", BRAINTUNE_SOURCE_DIR,
                                              "/bench/reference/leace_reference.py --input ", dir.File("in.safetensors"),
                                              " --expected ", dir.File("out.safetensors")));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("ok: ")) << r.output;
  }
}

TEST(LeaceTest, HeldOutProbesLoseTheConceptButNotTheRest) {
  Data all = Make(2500, 16, 2);  // one law: the first 2000 rows fit, the last 500 test
  torch::Tensor xt = all.x.narrow(0, 0, 2000), zt = all.z.narrow(0, 0, 2000), ot = all.other.narrow(0, 0, 2000);
  torch::Tensor xs = all.x.narrow(0, 2000, 500), zs = all.z.narrow(0, 2000, 500), os = all.other.narrow(0, 2000, 500);
  ConceptEraser e = FitLeace(xt, zt);
  const double before = ProbeR2(xt, zt, xs, zs), after = ProbeR2(e.Apply(xt), zt, e.Apply(xs), zs);
  EXPECT_GT(before, 0.9);
  EXPECT_LT(after, 0.01);
  // What is not the concept stays readable.
  EXPECT_GT(ProbeR2(e.Apply(xt), ot, e.Apply(xs), os), 0.8);
  // On the fitting data the cross-covariance is zero.
  torch::Tensor erased = e.Apply(xt);
  torch::Tensor cross = torch::matmul((erased - erased.mean(0)).t(), zt - zt.mean(0)) / xt.size(0);
  EXPECT_LT(cross.abs().max().item<double>(), 1e-9);
  // Float32 features come back as float32.
  EXPECT_EQ(e.Apply(xt.to(torch::kFloat32)).scalar_type(), torch::kFloat32);
  // A concept the features do not carry erases nothing.
  ConceptEraser none = FitLeace(xt, torch::zeros({2000, 1}, torch::kFloat64));
  EXPECT_EQ(none.rank, 0);
  EXPECT_TRUE(torch::allclose(none.Apply(xt), xt));
}

}  // namespace
}  // namespace braintune::eval

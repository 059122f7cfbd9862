// The gradient reducer under real mpirun ranks (tests/ddp/ddp_worker.cc is one rank), plus the
// bucket layout in process.
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ddp/reducer.h"
#include "dist/communicator.h"
#include "gtest/gtest.h"
#include "testing/process.h"

namespace braintune::ddp {
namespace {

using Params = std::map<std::string, std::vector<double>>;

std::string Worker() { return std::string(BRAINTUNE_BINARY_DIR) + "/tests/ddp/ddp_worker"; }

// Runs the worker on `ranks` ranks and merges what each rank wrote.
Params RunWorker(int ranks, const std::string& scenario, const testing::TempDir& dir, int steps = 4) {
  const std::string out = dir.File(scenario + std::to_string(ranks));
  auto r = testing::RunCommand("timeout 120 " + testing::Mpirun(ranks) + Worker() + " --scenario " + scenario +
                               " --steps " + std::to_string(steps) + " --out " + out);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  Params params;
  for (int rank = 0; rank < ranks; ++rank) {
    std::ifstream in(out + ".rank" + std::to_string(rank));
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string name;
      fields >> name;
      EXPECT_EQ(params.count(name), 0u) << name << " written by two ranks";
      double v;
      while (fields >> v) params[name].push_back(v);
    }
  }
  return params;
}

double MaxAbsDiff(const Params& a, const Params& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (const auto& [name, values] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.size() != values.size()) {
      ADD_FAILURE() << name << " missing or of another size";
      return INFINITY;
    }
    for (size_t i = 0; i < values.size(); ++i) worst = std::max(worst, std::abs(values[i] - it->second[i]));
  }
  return worst;
}

// 1 to 4 ranks, participants of 5, 9 and 2 samples, one head per participant on its owning
// rank: the same parameters after 4 steps, shared layers and heads alike, and the frozen layer
// untouched. Rank > 0 starts with perturbed weights, so this also checks the initial broadcast.
TEST(ReducerTest, OneToFourRanksTrainTheSameParameters) {
  testing::TempDir dir;
  const Params one = RunWorker(1, "equivalence", dir);
  ASSERT_EQ(one.size(), 12u);  // frozen, l1, l2 (weight + bias each), 3 heads
  for (int ranks : {2, 3, 4}) {  // 4: rank 3 owns no participant and contributes zeros
    const Params many = RunWorker(ranks, "equivalence", dir);
    EXPECT_LT(MaxAbsDiff(one, many), 1e-5) << ranks << " ranks";
  }
  // The comparison means something: training moved the parameters well beyond the tolerance.
  const Params start = RunWorker(1, "equivalence", dir, /*steps=*/0);
  EXPECT_GT(MaxAbsDiff(one, start), 1e-2);
  EXPECT_EQ(one.at("frozen.weight"), start.at("frozen.weight"));
}

// Gradient accumulation: two micro-steps, the first without synchronisation, give what one step
// over the whole batch gives.
TEST(ReducerTest, AccumulationSkipsTheInnerSynchronisation) {
  testing::TempDir dir;
  const Params whole = RunWorker(1, "equivalence", dir);
  EXPECT_LT(MaxAbsDiff(whole, RunWorker(2, "accumulate", dir)), 1e-5);
  EXPECT_LT(MaxAbsDiff(whole, RunWorker(3, "accumulate", dir)), 1e-5);
}

// Ranks that start from different parameters and optimizer state (each took a step of its own)
// are identical after BroadcastParameters + BroadcastOptimizerState, and stay so: every rank's
// shared layers after 4 more steps equal rank 0's, and the run equals the 1-rank run.
TEST(ReducerTest, OptimizerStateIsBroadcastFromRankZero) {
  testing::TempDir dir;
  const Params one = RunWorker(1, "state", dir);
  const Params three = RunWorker(3, "state", dir);
  Params rank0;
  for (const auto& [name, values] : three) {
    if (name.rfind("rank0/", 0) == 0) rank0[name.substr(6)] = values;
  }
  ASSERT_EQ(rank0.size(), 6u);  // frozen, l1, l2
  for (const char* rank : {"rank1/", "rank2/"}) {
    Params other;
    for (const auto& [name, values] : three) {
      if (name.rfind(rank, 0) == 0) other[name.substr(6)] = values;
    }
    // Momentum buffers that differed would make the same averaged gradients move the ranks apart.
    EXPECT_LT(MaxAbsDiff(rank0, other), 1e-6) << rank;
  }
  for (const auto& [name, values] : rank0) {
    EXPECT_LT(MaxAbsDiff({{name, values}}, {{name, one.at("rank0/" + name)}}), 1e-5) << name;
  }
}

// Overlap: the first bucket's all-reduce starts running before the backward pass has produced
// its last gradient.
TEST(ReducerTest, FirstBucketIsReducedWhileBackwardRuns) {
  auto r = testing::RunCommand("timeout 120 " + testing::Mpirun(2) + Worker() + " --scenario overlap --steps 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::cout << r.output;
  // Scheduling on a 2-core machine shared by two ranks can delay one step; most must overlap.
  int overlapped = -1;
  auto at = r.output.find("overlapped steps: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  overlapped = std::stoi(r.output.substr(at + 18));
  EXPECT_GE(overlapped, 3) << r.output;
  // Both buckets of this model are issued from hooks, i.e. during backward, not by Finish().
  EXPECT_NE(r.output.find("2 buckets, 2 launched during backward"), std::string::npos) << r.output;
}

// A rank that hangs: its peers fail within the timeout, naming the operation and the rank that
// never arrived, and the whole job ends non-zero (not at the 120 s of the hung rank's sleep).
TEST(ReducerTest, AHungRankFailsItsPeersWithinTheTimeout) {
  testing::TempDir dir;
  auto r = testing::RunCommand("timeout 100 " + testing::Mpirun(3) + Worker() +
                               " --scenario hang --timeout 3 --out " + dir.File("hang"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 124) << "the job hung until timeout killed it:\n" << r.output;
  EXPECT_LT(r.seconds, 40) << r.output;
  EXPECT_NE(r.output.find("did not complete within 3 s"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("all_reduce #"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank(s) 1 never joined it"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("rank 1: all_reduce"), std::string::npos) << "rank 1 was asleep, not waiting";
}

// A rank that dies: mpirun ends the job, non-zero, quickly.
TEST(ReducerTest, ACrashedRankEndsTheJob) {
  testing::TempDir dir;
  auto r = testing::RunCommand("timeout 100 " + testing::Mpirun(3) + Worker() +
                               " --scenario crash --timeout 60 --out " + dir.File("crash"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 124) << r.output;
  EXPECT_LT(r.seconds, 40) << r.output;
  EXPECT_NE(r.output.find("rank 2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("signal 9"), std::string::npos) << r.output;
}

// The factory names the backends it knows.
TEST(ReducerTest, UnknownDeviceIsAClearError) {
  auto made = dist::MakeCommunicator("tpu");
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(made.status().message().find("unknown device \"tpu\" (cpu or cuda)"), std::string::npos)
      << made.status();
}

// Buckets: reverse registration order, the first one small, frozen parameters left out.
TEST(ReducerTest, BucketsFollowTheCapsInReverseOrder) {
  auto comm = dist::MakeMpiCommunicator();
  ASSERT_TRUE(comm.ok()) << comm.status();
  torch::nn::Linear frozen(100, 100), a(100, 100), b(100, 100);  // 40000 + 400 bytes each
  for (auto& p : frozen->parameters()) p.set_requires_grad(false);
  std::vector<torch::Tensor> shared = frozen->parameters();
  for (auto& p : a->parameters()) shared.push_back(p);
  for (auto& p : b->parameters()) shared.push_back(p);
  ReducerOptions options;
  options.first_bucket_cap_bytes = 1000;  // b.bias only
  options.bucket_cap_bytes = 81000;       // b.weight + a.bias + a.weight
  GradientReducer reducer(comm->get(), shared, {}, options);
  EXPECT_EQ(reducer.bucket_bytes(), (std::vector<int64_t>{400, 80400}));

  // One rank: Finish leaves every gradient as it was (times local/global = 1).
  reducer.Prepare(4, 4);
  torch::Tensor x = torch::randn({4, 100});
  b(a(frozen(x))).sum().backward();
  const torch::Tensor expected = b->weight.grad().clone();
  ASSERT_TRUE(reducer.Finish().ok());
  EXPECT_TRUE(torch::allclose(b->weight.grad(), expected));
  EXPECT_FALSE(frozen->weight.grad().defined());
  EXPECT_GT(reducer.last_stats().launched_during_backward, 0);

  // Two backward passes in one synchronised step would lose the second's gradients: an error.
  reducer.Prepare(4, 4);
  b(a(frozen(x))).sum().backward();
  b(a(frozen(x))).sum().backward();
  absl::Status twice = reducer.Finish();
  EXPECT_EQ(twice.code(), absl::StatusCode::kFailedPrecondition) << twice;
}

}  // namespace
}  // namespace braintune::ddp

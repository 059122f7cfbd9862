// The gradient reducer on 1 to 4 ranks that are threads of this process (testing/
// thread_communicator.h): what reducer_test.cc checks under mpirun (the same small job, from
// small_training.h), plus the bucket weighting by hand, in a fraction of a second.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "ddp/reducer.h"
#include "ddp/small_training.h"
#include "gtest/gtest.h"
#include "testing/thread_communicator.h"

namespace braintune::ddp {
namespace {

using Params = std::map<std::string, torch::Tensor>;

// Trains the small job on `ranks` thread ranks and merges what each rank is authoritative for.
Params TrainOnThreads(int ranks, const std::string& scenario, int steps = 4) {
  testing::ThreadWorld world(ranks);
  std::mutex mu;
  Params params;
  const std::vector<int> exit_codes = world.Run([&](dist::Communicator& comm) {
    SmallTrainingOptions options;
    options.scenario = scenario;
    options.steps = steps;
    auto trained = TrainSmallModel(&comm, options);
    ASSERT_TRUE(trained.ok()) << trained.status();
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [name, value] : *trained) {
      EXPECT_EQ(params.count(name), 0u) << name << " returned by two ranks";
      params[name] = value;
    }
  });
  EXPECT_EQ(exit_codes, std::vector<int>(ranks, 0));
  return params;
}

double MaxAbsDiff(const Params& a, const Params& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (const auto& [name, value] : a) {
    auto it = b.find(name);
    if (it == b.end() || !it->second.sizes().equals(value.sizes())) {
      ADD_FAILURE() << name << " missing or of another shape";
      return INFINITY;
    }
    worst = std::max(worst, (value - it->second).abs().max().item<double>());
  }
  return worst;
}

class ReducerThreadsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { torch::set_num_threads(1); }  // the ranks are the parallelism
};

// As ReducerTest.OneToFourRanksTrainTheSameParameters: rank > 0 starts perturbed (undone by the
// broadcast), 4 ranks leave rank 3 without a participant (it contributes zeros).
TEST_F(ReducerThreadsTest, OneToFourRanksTrainTheSameParameters) {
  const Params one = TrainOnThreads(1, "equivalence");
  ASSERT_EQ(one.size(), 12u);  // frozen, l1, l2 (weight + bias each), 3 heads
  for (int ranks : {2, 3, 4}) {
    EXPECT_LT(MaxAbsDiff(one, TrainOnThreads(ranks, "equivalence")), 1e-5) << ranks << " ranks";
  }
  const Params start = TrainOnThreads(1, "equivalence", /*steps=*/0);
  EXPECT_GT(MaxAbsDiff(one, start), 1e-2);  // the comparison means something
  EXPECT_TRUE(torch::equal(one.at("frozen.weight"), start.at("frozen.weight")));
}

TEST_F(ReducerThreadsTest, AccumulationSkipsTheInnerSynchronisation) {
  const Params whole = TrainOnThreads(1, "equivalence");
  EXPECT_LT(MaxAbsDiff(whole, TrainOnThreads(2, "accumulate")), 1e-5);
  EXPECT_LT(MaxAbsDiff(whole, TrainOnThreads(3, "accumulate")), 1e-5);
}

TEST_F(ReducerThreadsTest, OptimizerStateIsBroadcastFromRankZero) {
  const Params one = TrainOnThreads(1, "state");
  const Params three = TrainOnThreads(3, "state");
  std::map<std::string, Params> by_rank;
  for (const auto& [name, value] : three) by_rank[name.substr(0, 6)][name.substr(6)] = value;
  ASSERT_EQ(by_rank["rank0/"].size(), 6u);  // frozen, l1, l2
  EXPECT_LT(MaxAbsDiff(by_rank["rank0/"], by_rank["rank1/"]), 1e-6);
  EXPECT_LT(MaxAbsDiff(by_rank["rank0/"], by_rank["rank2/"]), 1e-6);
  Params one_rank0;
  for (const auto& [name, value] : one) {
    if (name.rfind("rank0/", 0) == 0) one_rank0[name.substr(6)] = value;  // not the heads
  }
  EXPECT_LT(MaxAbsDiff(by_rank["rank0/"], one_rank0), 1e-5);
}

// By hand: rank r's gradient is c_r, with n_r of N samples; every rank ends with
// sum_r c_r n_r / N in every bucket, and its local parameter with its own gradient times n_r / N.
// Rank 1 has no samples and runs no backward: it contributes zeros.
TEST_F(ReducerThreadsTest, BucketsHoldTheSampleWeightedMeanOfTheGradients) {
  const std::vector<int64_t> samples = {2, 0, 6};
  const int64_t global = 8;
  auto gradient = [](int rank, int64_t numel) {
    return torch::arange(numel, torch::kFloat).add_(1).mul_(rank + 1);  // c_r
  };
  testing::ThreadWorld world(3);
  world.Run([&](dist::Communicator& comm) {
    const int r = comm.rank();
    std::vector<torch::Tensor> shared = {torch::zeros({70}, torch::requires_grad()),
                                         torch::zeros({50}, torch::requires_grad()),
                                         torch::zeros({5}, torch::requires_grad())};
    torch::Tensor local = torch::zeros({3}, torch::requires_grad());
    ReducerOptions options;
    options.first_bucket_cap_bytes = 20;  // the last parameter alone, then one bucket each
    options.bucket_cap_bytes = 280;
    GradientReducer reducer(&comm, shared, {local}, options);
    EXPECT_EQ(reducer.bucket_bytes(), (std::vector<int64_t>{20, 200, 280}));
    for (int step = 0; step < 2; ++step) {  // twice: buckets are reused
      reducer.Prepare(samples[r], global);
      if (samples[r] > 0) {
        torch::Tensor loss = (local * 3).sum();
        for (const torch::Tensor& w : shared) loss = loss + (w * gradient(r, w.numel())).sum();
        loss.backward();
      }
      ASSERT_TRUE(reducer.Finish().ok());
      for (const torch::Tensor& w : shared) {
        torch::Tensor expected = torch::zeros({w.numel()});
        for (int q = 0; q < 3; ++q) expected += gradient(q, w.numel()) * samples[q] / static_cast<double>(global);
        EXPECT_TRUE(torch::allclose(w.grad(), expected)) << "rank " << r << ": " << w.grad() << " vs " << expected;
      }
      if (samples[r] > 0) {
        EXPECT_TRUE(torch::allclose(local.grad(), torch::full({3}, 3.0 * samples[r] / global))) << local.grad();
        local.mutable_grad() = torch::Tensor();
      } else {
        EXPECT_FALSE(local.grad().defined());
      }
    }
  });
}

// As ReducerTest.AHungRankFailsItsPeersWithinTheTimeout: a rank that does not join step 2 fails
// its peers after the timeout, naming it, and the job ends (every rank aborts).
TEST_F(ReducerThreadsTest, AHungRankFailsItsPeersWithinTheTimeout) {
  testing::ThreadWorld world(3);
  absl::Notification rank0_failed;
  absl::Status rank0_status;
  const std::vector<int> exit_codes = world.Run([&](dist::Communicator& comm) {
    // Rank 0 times out first; rank 2, waiting in the same collective, learns of the abort.
    comm.set_timeout_seconds(comm.rank() == 0 ? 0.5 : 30);
    SmallTrainingOptions options;
    options.before_step = [&](int step) {
      if (step == 2 && comm.rank() == 1) rank0_failed.WaitForNotificationWithTimeout(absl::Seconds(30));
    };
    auto trained = TrainSmallModel(&comm, options);
    ASSERT_FALSE(trained.ok());
    if (comm.rank() == 0) {
      rank0_status = trained.status();
      // Rank 1 goes on only once the world is aborted, as a real job would be: rank 0's
      // buffers are gone, and its contribution still waits in the unfinished collective (were
      // rank 1 to complete it first, it would write into freed memory).
      try {
        comm.Abort(1);
      } catch (...) {
        rank0_failed.Notify();
        throw;
      }
    }
    EXPECT_EQ(trained.status().code(), absl::StatusCode::kAborted) << trained.status();
    comm.Abort(1);
  });
  EXPECT_EQ(exit_codes, (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(rank0_status.code(), absl::StatusCode::kDeadlineExceeded) << rank0_status;
  EXPECT_NE(rank0_status.message().find("did not complete within 0.5 s"), std::string::npos) << rank0_status;
  EXPECT_NE(rank0_status.message().find("rank 0: all_reduce #"), std::string::npos) << rank0_status;
  EXPECT_NE(rank0_status.message().find("rank(s) 1 never joined it (rank(s) 2 were waiting in it too)"),
            std::string::npos)
      << rank0_status;
}

}  // namespace
}  // namespace braintune::ddp

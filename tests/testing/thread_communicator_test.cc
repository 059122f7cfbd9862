// The thread-backed communicator keeps dist/communicator.h's contract (results, issue order,
// the same-order rule, bounded waits, abort), so tests built on it mean what mpirun tests mean.
#include "testing/thread_communicator.h"

#include <chrono>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace braintune::testing {
namespace {

TEST(ThreadCommunicatorTest, CollectivesGiveEveryRankTheResult) {
  ThreadWorld world(3);
  world.Run([](dist::Communicator& comm) {
    EXPECT_EQ(comm.size(), 3);
    EXPECT_EQ(comm.backend(), "threads");
    const float r = static_cast<float>(comm.rank());
    std::vector<float> sum = {r, 10 * r};
    ASSERT_TRUE(comm.AllReduceSum(sum.data(), 2).ok());
    EXPECT_EQ(sum, (std::vector<float>{3, 30}));
    double d = 0.5 * comm.rank();
    ASSERT_TRUE(comm.AllReduceSum(&d, 1).ok());
    EXPECT_EQ(d, 1.5);
    std::vector<float> from_two = {r, r};
    ASSERT_TRUE(comm.Broadcast(from_two.data(), 2, /*root=*/2).ok());
    EXPECT_EQ(from_two, (std::vector<float>{2, 2}));
    char word[6] = "?????";
    if (comm.rank() == 1) std::memcpy(word, "hello", 6);
    ASSERT_TRUE(comm.BroadcastBytes(word, 6, /*root=*/1).ok());
    EXPECT_STREQ(word, "hello");
    std::vector<float> mine = {r, r + 0.5f}, all(6);
    ASSERT_TRUE(comm.AllGather(mine.data(), 2, all.data()).ok());
    EXPECT_EQ(all, (std::vector<float>{0, 0.5, 1, 1.5, 2, 2.5}));
    EXPECT_TRUE(comm.Barrier().ok());
  });
}

// Two operations on one buffer, issued before either is waited on, run in issue order.
TEST(ThreadCommunicatorTest, OperationsRunInIssueOrder) {
  ThreadWorld world(3);
  world.Run([](dist::Communicator& comm) {
    float x = static_cast<float>(comm.rank() + 1);
    auto first = comm.AllReduceSumAsync(&x, 1);
    auto second = comm.AllReduceSumAsync(&x, 1);
    ASSERT_TRUE(second->Wait().ok());
    EXPECT_TRUE(first->Done());
    EXPECT_GT(first->started_at(), 0);
    EXPECT_EQ(x, 18);  // (1 + 2 + 3) * 3
  });
}

TEST(ThreadCommunicatorTest, RanksThatIssueDifferentOperationsAllFail) {
  ThreadWorld world(2);
  world.Run([](dist::Communicator& comm) {
    float x = 1;
    absl::Status s = comm.rank() == 1 ? comm.Broadcast(&x, 1, 0) : comm.AllReduceSum(&x, 1);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find("every rank must issue the same collectives in the same order"), std::string::npos)
        << s;
    EXPECT_NE(s.message().find("broadcast #1 (1 floats)"), std::string::npos) << s;
    EXPECT_NE(s.message().find("all_reduce #1 (1 floats)"), std::string::npos) << s;
  });
}

// A rank that never joins: its peers fail within the timeout, naming it, and end the job.
TEST(ThreadCommunicatorTest, AMissingRankIsNamedAfterTheTimeout) {
  ThreadWorld world(3);
  const auto start = std::chrono::steady_clock::now();
  std::vector<int> exit_codes = world.Run([](dist::Communicator& comm) {
    if (comm.rank() == 1) return;
    comm.set_timeout_seconds(comm.rank() == 0 ? 0.3 : 30);
    float x[4] = {};
    absl::Status s = comm.AllReduceSum(x, 4);
    if (comm.rank() == 0) {
      EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
      EXPECT_EQ(s.message(),
                "rank 0: all_reduce #1 (4 floats) did not complete within 0.3 s; rank(s) 1 never joined it "
                "(rank(s) 2 were waiting in it too)");
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;  // by rank 0, long before its timeout
    }
    comm.Abort(3);
  });
  EXPECT_EQ(exit_codes, (std::vector<int>{3, 0, 3}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// Abort releases a peer waiting in a collective at once, not at its timeout.
TEST(ThreadCommunicatorTest, AbortEndsThePeersOperations) {
  ThreadWorld world(2);
  const auto start = std::chrono::steady_clock::now();
  std::vector<int> exit_codes = world.Run([](dist::Communicator& comm) {
    if (comm.rank() == 0) comm.Abort(7);
    float x = 1;
    absl::Status s = comm.AllReduceSum(&x, 1);
    EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
    EXPECT_NE(s.message().find("rank 0 aborted the job (exit code 7)"), std::string::npos) << s;
  });
  EXPECT_EQ(exit_codes, (std::vector<int>{7, 0}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace braintune::testing

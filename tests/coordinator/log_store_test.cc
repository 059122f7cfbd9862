// The coordinator's copy of job output: each attempt's bytes once and in order, whatever the
// agents resend, and what was acknowledged survives a restart (a crash between the append
// and the state write is repaired).
#include "coordinator/log_store.h"

#include <fstream>

#include "gtest/gtest.h"
#include "testing/process.h"

namespace braintune::coordinator {
namespace {

std::string ReadAll(LogStore& logs, const std::string& id) {
  std::string out;
  for (;;) {
    std::string piece = *logs.Read(id, static_cast<int64_t>(out.size()), 3);  // small reads on purpose
    if (piece.empty()) return out;
    out += piece;
  }
}

TEST(LogStoreTest, ResentAndOutOfOrderPiecesAreTakenOnceInOrder) {
  testing::TempDir dir;
  auto logs = *LogStore::Open(dir.File("logs"));
  EXPECT_EQ(logs->Append("job-1", 1, 0, "hello ", false)->offset, 6);
  EXPECT_EQ(logs->Append("job-1", 1, 0, "hello ", false)->offset, 6) << "a resend changes nothing";
  auto gap = *logs->Append("job-1", 1, 20, "later", false);
  EXPECT_EQ(gap.offset, 6) << "a piece beyond what is held is refused: resend from 6";
  EXPECT_EQ(logs->Append("job-1", 1, 3, "lo world\n", false)->offset, 12) << "overlap: only the new bytes";
  EXPECT_FALSE(logs->Complete("job-1", 1));
  auto done = *logs->Append("job-1", 1, 12, "", true);
  EXPECT_TRUE(done.complete);
  EXPECT_TRUE(logs->Complete("job-1", 1));
  EXPECT_EQ(ReadAll(*logs, "job-1"), "hello world\n");
  EXPECT_EQ(*logs->Read("job-2", 0, 100), "") << "no output yet";
}

TEST(LogStoreTest, AttemptsFollowEachOtherAndOldOnesAreDropped) {
  testing::TempDir dir;
  auto logs = *LogStore::Open(dir.File("logs"));
  ASSERT_TRUE(logs->Append("job-1", 1, 0, "first launch\n", false).ok());
  ASSERT_TRUE(logs->Append("job-1", 2, 0, "second launch\n", false).ok());
  EXPECT_TRUE(logs->Complete("job-1", 1)) << "a newer launch supersedes the old one";
  auto stale = *logs->Append("job-1", 1, 13, "late bytes of the first\n", true);
  EXPECT_TRUE(stale.complete) << "the agent may drop it";
  EXPECT_EQ(ReadAll(*logs, "job-1"), "first launch\nsecond launch\n");
  EXPECT_FALSE(logs->Append("../escape", 1, 0, "x", false).ok());
}

TEST(LogStoreTest, RestartKeepsWhatWasAcknowledgedAndCutsWhatWasNot) {
  testing::TempDir dir;
  {
    auto logs = *LogStore::Open(dir.File("logs"));
    ASSERT_TRUE(logs->Append("job-1", 1, 0, "acknowledged\n", false).ok());
  }
  // A crash after an append and before its state write: bytes no agent was told are held.
  std::ofstream(dir.File("logs/job-1.log"), std::ios::app) << "half a pie";
  auto logs = *LogStore::Open(dir.File("logs"));
  EXPECT_EQ(ReadAll(*logs, "job-1"), "acknowledged\n");
  auto ack = *logs->Append("job-1", 1, 13, "half a piece\n", true);  // the agent resends them
  EXPECT_EQ(ack.offset, 26);
  EXPECT_TRUE(ack.complete);
  EXPECT_EQ(ReadAll(*logs, "job-1"), "acknowledged\nhalf a piece\n");
}

}  // namespace
}  // namespace braintune::coordinator

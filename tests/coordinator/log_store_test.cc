// The coordinator's copy of job output: each attempt's bytes once and in order, whatever the
// agents resend, and what was acknowledged survives a restart (a crash between the append
// and the state write is repaired).
#include "coordinator/log_store.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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

TEST(LogStoreTest, PastTheCapPiecesAreAcknowledgedButOnlyOneMarkerIsStored) {
  testing::TempDir dir;
  const int64_t cap = 1 << 20;
  const std::string line(1023, 'x');  // 1 KiB lines
  {
    auto logs = *LogStore::Open(dir.File("logs"), cap);
    int64_t offset = 0;
    for (int i = 0; i < 100; ++i) {  // ~3 MiB, in pieces of 256 KiB, the most agents send
      std::string piece;
      for (int j = 0; j < 256; ++j) piece += line + "\n";
      auto ack = logs->Append("job-1", 1, offset, piece, false);
      ASSERT_TRUE(ack.ok()) << ack.status();
      offset += static_cast<int64_t>(piece.size());
      ASSERT_EQ(ack->offset, offset) << "every piece is acknowledged, stored or not";
      if (offset > 3 * cap) break;
    }
    EXPECT_TRUE(logs->Append("job-1", 1, offset, "", true)->complete);
  }
  const std::string marker = "[braintune: log truncated at 1 MiB]\n";
  // After a restart the log is still known to be truncated: nothing more, no second marker.
  auto logs = *LogStore::Open(dir.File("logs"), cap);
  ASSERT_TRUE(logs->Append("job-1", 2, 0, "second launch\n", true).ok());
  const std::string held = ReadAll(*logs, "job-1");
  EXPECT_EQ(held.size(), static_cast<size_t>(cap) + marker.size());
  EXPECT_EQ(held.substr(held.size() - marker.size()), marker);
  EXPECT_EQ(held.find("[braintune"), held.size() - marker.size()) << "one marker";
  EXPECT_EQ(std::filesystem::file_size(dir.File("logs/job-1.log")), held.size());
}

TEST(LogStoreTest, DeleteRemovesTheFilesAndTheJobStartsEmpty) {
  testing::TempDir dir;
  auto logs = *LogStore::Open(dir.File("logs"));
  ASSERT_TRUE(logs->Append("job-1", 1, 0, "output\n", true).ok());
  ASSERT_TRUE(logs->Delete("job-1").ok());
  EXPECT_FALSE(std::filesystem::exists(dir.File("logs/job-1.log")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("logs/job-1.state")));
  EXPECT_EQ(*logs->Read("job-1", 0, 100), "");
  EXPECT_TRUE(logs->Delete("job-2").ok()) << "a job without output";
  EXPECT_FALSE(logs->Delete("../jobs.db").ok());
}

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 01000000;  // 01000000: missing
}

// Another local user must not read job output on disk, which `braintune logs` refuses them
// (issue 17, reproduction 8): the directories are 0700 and the files 0600 under umask 022.
TEST(LogStoreTest, LogsArePrivateFilesInPrivateDirectoriesUnderUmask022) {
  testing::TempDir dir;
  const mode_t old = ::umask(022);
  auto logs = LogStore::Open(dir.File("state/jobs.db.logs"));
  ASSERT_TRUE(logs.ok()) << logs.status();
  ASSERT_TRUE((*logs)->Append("job-1", 1, 0, "a private line\n", true).ok());
  ::umask(old);
  EXPECT_EQ(ModeOf(dir.File("state")), 0700u);
  EXPECT_EQ(ModeOf(dir.File("state/jobs.db.logs")), 0700u);
  EXPECT_EQ(ModeOf(dir.File("state/jobs.db.logs/job-1.log")), 0600u);
  EXPECT_EQ(ModeOf(dir.File("state/jobs.db.logs/job-1.state")), 0600u);
}

TEST(LogStoreTest, LogsAnOlderVersionLeftReadableAreTightenedOnOpen) {
  testing::TempDir dir;
  { ASSERT_TRUE((*LogStore::Open(dir.File("logs")))->Append("job-1", 1, 0, "old output\n", true).ok()); }
  ::chmod(dir.File("logs/job-1.log").c_str(), 0644);
  ::chmod(dir.File("logs/job-1.state").c_str(), 0644);
  ASSERT_TRUE(LogStore::Open(dir.File("logs")).ok());
  EXPECT_EQ(ModeOf(dir.File("logs/job-1.log")), 0600u);
  EXPECT_EQ(ModeOf(dir.File("logs/job-1.state")), 0600u);
}

TEST(LogStoreTest, ASymlinkInPlaceOfALogIsNeverWrittenThrough) {
  testing::TempDir dir;
  std::ofstream(dir.File("victim")) << "precious";
  auto logs = *LogStore::Open(dir.File("logs"));
  std::filesystem::create_symlink(dir.File("victim"), dir.File("logs/job-1.log"));
  EXPECT_FALSE(logs->Append("job-1", 1, 0, "output\n", true).ok());
  std::stringstream victim;
  victim << std::ifstream(dir.File("victim")).rdbuf();
  EXPECT_EQ(victim.str(), "precious");
}

}  // namespace
}  // namespace braintune::coordinator

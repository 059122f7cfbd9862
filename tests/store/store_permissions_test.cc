// The coordinator's database (jobs, token hashes) and its -wal/-shm files are readable by the
// coordinator's account only, whatever the umask (issue 17, reproduction 8: jobs.db was 0644).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "store/job_store.h"
#include "store/token_store.h"
#include "testing/process.h"

namespace braintune::store {
namespace {

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 01000000;  // 01000000: missing
}

class StorePermissionsTest : public ::testing::Test {
 protected:
  void SetUp() override { old_umask_ = ::umask(022); }
  void TearDown() override { ::umask(old_umask_); }

  testing::TempDir dir_;
  const std::string db_ = dir_.File("jobs.db");
  mode_t old_umask_ = 0;
};

TEST_F(StorePermissionsTest, TheDatabaseAndItsWalAndShmAre0600UnderUmask022) {
  auto jobs = OpenSqliteJobStore(db_);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  v1::Job job;
  job.set_id("job-1");
  job.mutable_spec()->set_spec_yaml("name: secret-project\n");
  ASSERT_TRUE((*jobs)->Put(job).ok());
  auto tokens = OpenSqliteTokenStore(db_);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_TRUE((*tokens)->Issue("alice", "user").ok());
  // While the store is open, as a reader would find them.
  for (const char* suffix : {"", "-wal", "-shm"}) EXPECT_EQ(ModeOf(db_ + suffix), 0600u) << db_ << suffix;
}

TEST_F(StorePermissionsTest, AnOlderWorldReadableDatabaseIsTightenedOnOpen) {
  { ASSERT_TRUE(OpenSqliteJobStore(db_).ok()); }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::ofstream(db_ + suffix, std::ios::app).flush();  // as an older braintune left them
    ::chmod((db_ + suffix).c_str(), 0644);
  }
  auto tokens = OpenSqliteTokenStore(db_);  // `braintune-coordinator token create` opens only this
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_TRUE((*tokens)->Issue("alice", "user").ok());
  for (const char* suffix : {"", "-wal", "-shm"}) EXPECT_EQ(ModeOf(db_ + suffix), 0600u) << db_ << suffix;
}

// Tightening the files must not cost the coordinator its SQLite locks: closing any descriptor of
// a file drops every POSIX lock the process holds on it, so opening the token store beside an open
// job store (as the coordinator does) once let another process believe it was the database's
// last user. Its close then checkpointed and deleted the WAL under the coordinator, whose next
// reads could miss that process's writes: a token revoked by `braintune-coordinator token
// revoke` still worked (seen in CI), and SQLite documents such lost locks as a way to corrupt a
// database.
TEST_F(StorePermissionsTest, OpeningASecondStoreKeepsTheFirstOnesLocks) {
  auto jobs = OpenSqliteJobStore(db_);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  v1::Job job;
  job.set_id("job-1");
  ASSERT_TRUE((*jobs)->Put(job).ok());
  auto tokens = OpenSqliteTokenStore(db_);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  auto token = (*tokens)->Issue("alice", "user");
  ASSERT_TRUE(token.ok()) << token.status();
  ASSERT_TRUE((*tokens)->Lookup(*token).ok());

  // Another process (the admin's CLI) revokes the token and closes its connection.
  auto revoke = testing::RunCommand("sqlite3 " + db_ + " \"DELETE FROM tokens WHERE user = 'alice'\" 2>&1");
  ASSERT_EQ(revoke.exit_code, 0) << revoke.output;
  EXPECT_EQ(ModeOf(db_ + "-wal"), 0600u) << "the other process took itself for the last user and removed the WAL";
  EXPECT_FALSE((*tokens)->Lookup(*token).ok()) << "a revoked token still works";
  EXPECT_TRUE((*jobs)->Get("job-1").ok());
}

}  // namespace
}  // namespace braintune::store

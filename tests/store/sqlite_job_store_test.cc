#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "store/job_store.h"
#include "store/sqlite_util.h"
#include "testing/process.h"

namespace braintune::store {
namespace {

v1::Job MakeJob(const std::string& id, v1::JobState state) {
  v1::Job job;
  job.set_id(id);
  job.set_state(state);
  job.mutable_spec()->set_name("n-" + id);
  job.mutable_spec()->set_spec_yaml("name: x\n");
  return job;
}

TEST(SqliteJobStoreTest, PutGetListInSubmissionOrder) {
  testing::TempDir dir;
  auto store = OpenSqliteJobStore(dir.File("jobs.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Put(MakeJob("job-2", v1::QUEUED)).ok());
  ASSERT_TRUE((*store)->Put(MakeJob("job-1", v1::RUNNING)).ok());
  ASSERT_TRUE((*store)->Put(MakeJob("job-2", v1::SUCCEEDED)).ok());  // update keeps position
  auto jobs = (*store)->List();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].id(), "job-2");
  EXPECT_EQ((*jobs)[0].state(), v1::SUCCEEDED);
  EXPECT_EQ((*jobs)[1].id(), "job-1");
  auto got = (*store)->Get("job-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->spec().name(), "n-job-1");
  EXPECT_EQ((*store)->Get("job-9").status().code(), absl::StatusCode::kNotFound);
}

TEST(SqliteJobStoreTest, DeletedJobsAreGoneAfterAReopenAndTheOthersStay) {
  testing::TempDir dir;
  {
    auto store = *OpenSqliteJobStore(dir.File("jobs.db"));
    for (const char* id : {"job-1", "job-2", "job-3"}) ASSERT_TRUE(store->Put(MakeJob(id, v1::SUCCEEDED)).ok());
    ASSERT_TRUE(store->Delete({"job-1", "job-3", "job-9"}).ok()) << "an id never stored is ignored";
    EXPECT_EQ(store->Get("job-1").status().code(), absl::StatusCode::kNotFound);
  }
  auto reopened = *OpenSqliteJobStore(dir.File("jobs.db"));
  auto jobs = *reopened->List();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].id(), "job-2");
}

TEST(SqliteJobStoreTest, ConcurrentPutsAreAllDurableAndSeparate) {
  // Group commit: many threads at once share transactions; every row lands, none is mixed up.
  testing::TempDir dir;
  {
    auto store = *OpenSqliteJobStore(dir.File("jobs.db"));
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          EXPECT_TRUE(store->Put(MakeJob("job-" + std::to_string(t * 1000 + i), v1::QUEUED)).ok());
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  auto reopened = *OpenSqliteJobStore(dir.File("jobs.db"));
  auto jobs = *reopened->List();
  ASSERT_EQ(jobs.size(), 400u);
  std::set<std::string> ids;
  for (const auto& j : jobs) {
    ids.insert(j.id());
    EXPECT_EQ(j.spec().name(), "n-" + j.id());
  }
  EXPECT_EQ(ids.size(), 400u);
}

TEST(SqliteJobStoreTest, JobsSurviveReopening) {
  testing::TempDir dir;
  {
    auto store = OpenSqliteJobStore(dir.File("jobs.db"));
    ASSERT_TRUE(store.ok());
    for (int i = 1; i <= 50; ++i) ASSERT_TRUE((*store)->Put(MakeJob("job-" + std::to_string(i), v1::QUEUED)).ok());
    ASSERT_TRUE((*store)->Put(MakeJob("job-7", v1::CANCELLED)).ok());
  }
  auto store = OpenSqliteJobStore(dir.File("jobs.db"));
  ASSERT_TRUE(store.ok());
  auto jobs = (*store)->List();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 50u);
  EXPECT_EQ((*jobs)[6].state(), v1::CANCELLED);
}

TEST(SqliteJobStoreTest, UnopenablePathIsAClearError) {
  auto store = OpenSqliteJobStore("/nonexistent-dir/jobs.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(std::string(store.status().message()).find("/nonexistent-dir/jobs.db"), std::string::npos);
}

}  // namespace
// Upgrades and downgrades (docs/deploy.md): the file carries its schema version, and a
// coordinator older than the file refuses it rather than rewriting it.
TEST(SqliteJobStoreTest, ADatabaseOfANewerSchemaIsRefusedNotRewritten) {
  testing::TempDir dir;
  const std::string path = dir.File("jobs.db");
  ASSERT_TRUE(OpenSqliteJobStore(path).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), internal::kSchemaVersion) << "stamped when created";
  sqlite3_finalize(stmt);
  const std::string newer = "PRAGMA user_version = " + std::to_string(internal::kSchemaVersion + 1);
  ASSERT_EQ(sqlite3_exec(db, newer.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto refused = OpenSqliteJobStore(path);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("written by a newer braintune"), std::string::npos) << refused.status();
  EXPECT_NE(refused.status().message().find(path), std::string::npos) << refused.status();
}

}  // namespace braintune::store

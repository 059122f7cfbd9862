#include <sqlite3.h>

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "store/job_store.h"
#include "store/sqlite_util.h"

namespace braintune::store {
namespace {

// One connection, guarded by db_mu_. Puts are group-committed: concurrent callers queue their
// rows and one of them writes every queued row in one transaction (one fsync), so a burst of
// submissions costs one disk flush, not one each; each caller returns once its row is durable.
// Thread model: every method is safe to call concurrently; queue_mu_ guards the queue and is
// released before a commit takes db_mu_, so the two are never held together.
class SqliteJobStore : public JobStore {
 public:
  SqliteJobStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteJobStore() override { sqlite3_close(db_); }
  SqliteJobStore(const SqliteJobStore&) = delete;
  SqliteJobStore& operator=(const SqliteJobStore&) = delete;

  absl::Status Put(const v1::Job& job) override {
    Row row{job.id(), job.state(), job.updated_ms(), ""};
    if (!job.SerializeToString(&row.blob)) return absl::InternalError("cannot serialize job " + job.id());
    absl::MutexLock lock(&queue_mu_);
    queue_.push_back(&row);
    while (!row.done) {
      if (committing_) {
        committed_.Wait(&queue_mu_);
        continue;
      }
      // Lead: write every queued row (ours included) in one transaction.
      committing_ = true;
      std::vector<Row*> batch;
      batch.swap(queue_);
      queue_mu_.Unlock();
      const absl::Status status = Commit(batch);
      queue_mu_.Lock();
      for (Row* r : batch) {
        r->status = status;
        r->done = true;
      }
      committing_ = false;
      committed_.SignalAll();
    }
    return row.status;
  }

  absl::StatusOr<v1::Job> Get(const std::string& id) override {
    absl::MutexLock lock(&db_mu_);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT data FROM jobs WHERE id = ?1", -1, &stmt, nullptr) != SQLITE_OK) {
      return Error("prepare get");
    }
    sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
      sqlite3_finalize(stmt);
      if (rc == SQLITE_DONE) return absl::NotFoundError(absl::StrCat("no job with id '", id, "'"));
      return Error("get job " + id);
    }
    absl::StatusOr<v1::Job> job = Decode(stmt, 0);
    sqlite3_finalize(stmt);
    return job;
  }

  absl::StatusOr<std::vector<v1::Job>> List() override {
    absl::MutexLock lock(&db_mu_);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT data FROM jobs ORDER BY seq", -1, &stmt, nullptr) != SQLITE_OK) {
      return Error("prepare list");
    }
    std::vector<v1::Job> jobs;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      absl::StatusOr<v1::Job> job = Decode(stmt, 0);
      if (!job.ok()) {
        sqlite3_finalize(stmt);
        return job.status();
      }
      jobs.push_back(*std::move(job));
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return Error("list jobs");
    return jobs;
  }

  absl::Status Delete(const std::vector<std::string>& ids) override {
    absl::MutexLock lock(&db_mu_);
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return Error("begin");
    sqlite3_stmt* stmt = nullptr;
    absl::Status status;
    if (sqlite3_prepare_v2(db_, "DELETE FROM jobs WHERE id = ?1", -1, &stmt, nullptr) != SQLITE_OK) {
      status = Error("prepare delete");
    }
    for (size_t i = 0; status.ok() && i < ids.size(); ++i) {
      sqlite3_reset(stmt);
      sqlite3_bind_text(stmt, 1, ids[i].c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(stmt) != SQLITE_DONE) status = Error("delete job " + ids[i]);
    }
    sqlite3_finalize(stmt);
    if (status.ok() && sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) status = Error("commit");
    if (!status.ok()) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  }

 private:
  struct Row {
    std::string id;
    int state = 0;
    int64_t updated_ms = 0;
    std::string blob;
    bool done = false;    // guarded by queue_mu_ (not expressible as an annotation: a caller's row)
    absl::Status status;  // set before done
  };

  // One transaction for the batch: all rows or none.
  absl::Status Commit(const std::vector<Row*>& batch) ABSL_LOCKS_EXCLUDED(queue_mu_) {
    absl::MutexLock lock(&db_mu_);
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return Error("begin");
    sqlite3_stmt* stmt = nullptr;
    const char* sql =
        "INSERT INTO jobs(id, state, updated_ms, data) VALUES(?1, ?2, ?3, ?4) "
        "ON CONFLICT(id) DO UPDATE SET state=excluded.state, updated_ms=excluded.updated_ms, "
        "data=excluded.data";
    absl::Status status;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) status = Error("prepare put");
    for (size_t i = 0; status.ok() && i < batch.size(); ++i) {
      const Row& r = *batch[i];
      sqlite3_reset(stmt);
      sqlite3_bind_text(stmt, 1, r.id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int(stmt, 2, r.state);
      sqlite3_bind_int64(stmt, 3, r.updated_ms);
      sqlite3_bind_blob(stmt, 4, r.blob.data(), static_cast<int>(r.blob.size()), SQLITE_STATIC);
      if (sqlite3_step(stmt) != SQLITE_DONE) status = Error("put job " + r.id);
    }
    sqlite3_finalize(stmt);
    if (status.ok() && sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) status = Error("commit");
    if (!status.ok()) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  }

  absl::StatusOr<v1::Job> Decode(sqlite3_stmt* stmt, int column) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu_) {
    v1::Job job;
    const void* data = sqlite3_column_blob(stmt, column);
    int size = sqlite3_column_bytes(stmt, column);
    if (!job.ParseFromArray(data, size)) {
      return absl::DataLossError(absl::StrCat(path_, ": a stored job does not decode"));
    }
    return job;
  }

  // The connection's last error (sqlite3_errmsg), so db_mu_ must still be held.
  absl::Status Error(const std::string& what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(db_mu_) {
    return absl::InternalError(absl::StrCat(path_, ": ", what, ": ", sqlite3_errmsg(db_)));
  }

  // Constant after construction; the connection is used only with db_mu_ held (Error and
  // Decode require it).
  sqlite3* const db_;
  const std::string path_;
  absl::Mutex db_mu_;
  absl::Mutex queue_mu_;
  absl::CondVar committed_;  // a commit finished (its rows are done)
  std::vector<Row*> queue_ ABSL_GUARDED_BY(queue_mu_);  // rows waiting for the next commit
  bool committing_ ABSL_GUARDED_BY(queue_mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> OpenSqliteJobStore(const std::string& path) {
  const char* schema =
      "CREATE TABLE IF NOT EXISTS jobs("
      "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
      "  id TEXT NOT NULL UNIQUE,"
      "  state INTEGER NOT NULL,"
      "  updated_ms INTEGER NOT NULL,"
      "  data BLOB NOT NULL);";
  ASSIGN_OR_RETURN(sqlite3 * db, internal::OpenDatabase(path, schema, "job database"));
  return std::unique_ptr<JobStore>(new SqliteJobStore(db, path));
}

}  // namespace braintune::store

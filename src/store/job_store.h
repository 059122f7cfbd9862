// Persistent job storage. The coordinator keeps every job here so that a restarted
// coordinator still knows every job with its last state.
#ifndef BRAINTUNE_STORE_JOB_STORE_H_
#define BRAINTUNE_STORE_JOB_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "braintune/v1/job.pb.h"

namespace braintune::store {

// Thread model: implementations are safe to call from any thread.
class JobStore {
 public:
  virtual ~JobStore() = default;

  // Inserts `job`, or replaces the stored job with the same id, in one transaction (shared
  // with concurrent Puts): after a crash the store holds either the old or the new version,
  // never a mix; when Put returns OK the new version is on disk.
  virtual absl::Status Put(const v1::Job& job) = 0;

  // NotFound when no job has this id.
  virtual absl::StatusOr<v1::Job> Get(const std::string& id) = 0;

  // Every job, in the order they were first put.
  virtual absl::StatusOr<std::vector<v1::Job>> List() = 0;

  // Removes the jobs with these ids (ids not stored are ignored) in one transaction: all or
  // none are gone when it returns.
  virtual absl::Status Delete(const std::vector<std::string>& ids) = 0;
};

// Opens (creating if needed) an SQLite database at `path` in WAL mode with full sync.
absl::StatusOr<std::unique_ptr<JobStore>> OpenSqliteJobStore(const std::string& path);

}  // namespace braintune::store

#endif  // BRAINTUNE_STORE_JOB_STORE_H_

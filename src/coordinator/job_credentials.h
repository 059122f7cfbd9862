// Per-launch credentials (docs/operations.md, "Security model"). A job's ranks get a credential
// valid for that job and attempt only: "job.<job id>.<attempt>.<HMAC-SHA256 of both under the
// coordinator's key>". With it they report that job's progress and ask the agents of the job's
// own nodes to start OpenMPI's daemon for it; it opens nothing else. Nothing is stored per
// launch: the key (32 random bytes, a 0600 file beside the job database) verifies every one,
// also after a coordinator restart. Thread model: immutable after construction; any thread.
#ifndef BRAINTUNE_COORDINATOR_JOB_CREDENTIALS_H_
#define BRAINTUNE_COORDINATOR_JOB_CREDENTIALS_H_

#include <string>

#include "absl/status/statusor.h"

namespace braintune::coordinator {

class JobCredentials {
 public:
  struct Launch {
    std::string job_id;
    int attempt = 0;
  };

  // Reads the key at `key_path`, or creates it (0600, O_EXCL) when it does not exist.
  static absl::StatusOr<JobCredentials> LoadOrCreate(const std::string& key_path);
  explicit JobCredentials(std::string key) : key_(std::move(key)) {}

  std::string Issue(const std::string& job_id, int attempt) const;
  // The launch a credential was issued for; Unauthenticated for anything this coordinator did
  // not issue (compared in constant time).
  absl::StatusOr<Launch> Verify(const std::string& credential) const;
  // Whether `token` has a job credential's form (so it is never looked up as a bearer token).
  static bool LooksLikeOne(const std::string& token);

 private:
  std::string Mac(const std::string& job_id, int attempt) const;
  std::string key_;
};

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_JOB_CREDENTIALS_H_

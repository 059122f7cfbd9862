// The coordinator's copy of every job's output, so that `braintune logs ID [-f]` works from
// any machine, live and after the fact, and survives coordinator restarts.
//
// Agents ship the ranks' combined output (the agent's log.txt of a launch) in pieces with their
// heartbeats; each piece names the job, the launch attempt and its byte offset in that
// attempt's output. The store appends each attempt's bytes once and in order, whatever is
// resent, and acknowledges how much it holds, so an agent resends exactly what is missing.
// Per job: <dir>/<job>.log (every attempt's output, in attempt order) and <dir>/<job>.state
// (attempt, bytes of it held, log size, complete), replaced atomically after each append. A
// log longer than its state says (a crash between the two writes) is cut back on load: those
// bytes were never acknowledged and will be sent again.
// A job's log is capped (Open's max_bytes): past the cap one marker line is written, and later
// pieces are acknowledged as usual (the agent must not resend them forever) but not stored.
#ifndef BRAINTUNE_COORDINATOR_LOG_STORE_H_
#define BRAINTUNE_COORDINATOR_LOG_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace braintune::coordinator {

// Thread model: every method is safe to call concurrently; mu_ guards the states and the files'
// writes (Read reads the log file without it, only up to the size acknowledged).
class LogStore {
 public:
  static constexpr int64_t kDefaultMaxBytes = int64_t{64} << 20;
  // Creates `dir` (0700) if needed; the files in it are 0600. Each job keeps at most
  // `max_bytes` of output (0: no cap), then the line "[braintune: log truncated at N MiB]".
  static absl::StatusOr<std::unique_ptr<LogStore>> Open(const std::string& dir,
                                                        int64_t max_bytes = kDefaultMaxBytes);

  struct Ack {
    int64_t offset = 0;     // bytes of the attempt's output held
    bool complete = false;  // the attempt's output has all arrived (or is superseded)
  };
  // Takes the piece `data` of attempt `attempt`'s output starting at byte `offset`; `last`
  // says it ends that output. Pieces of an older attempt than the newest seen are dropped and
  // acknowledged complete; a piece beyond what is held is not taken (the ack says from where
  // to resend).
  absl::StatusOr<Ack> Append(const std::string& job_id, int attempt, int64_t offset, std::string_view data,
                             bool last);

  // Up to `max_bytes` of the job's log from byte `from` (empty at the end, or when the job
  // has no output yet).
  absl::StatusOr<std::string> Read(const std::string& job_id, int64_t from, int64_t max_bytes);

  // Bytes of the job's log held so far (acknowledged); 0 for a job with no output yet.
  absl::StatusOr<int64_t> Size(const std::string& job_id);

  // Whether attempt `attempt`'s output has all arrived (an older attempt: true).
  bool Complete(const std::string& job_id, int attempt);

  // Removes the job's log and state files (a pruned job); a job with no log is OK.
  absl::Status Delete(const std::string& job_id);

 private:
  struct State {
    int attempt = 0;
    int64_t attempt_bytes = 0;  // of the current attempt
    int64_t size = 0;           // of the whole log
    bool complete = false;
  };
  LogStore(std::string dir, int64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  // Loads (and repairs) the job's state on first use.
  absl::StatusOr<State*> StateLocked(const std::string& job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends `bytes` to the job's .log file (created 0600).
  absl::Status AppendLocked(const std::string& job_id, std::string_view bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces the job's .state file.
  absl::Status SaveLocked(const std::string& job_id, const State& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string Path(const std::string& job_id, const char* ext) const;

  const std::string dir_;
  const int64_t max_bytes_;  // per job; 0: no cap
  absl::Mutex mu_;
  std::map<std::string, State> states_ ABSL_GUARDED_BY(mu_);
};

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_LOG_STORE_H_

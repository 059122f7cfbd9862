// Starts a job's `mpirun` as its own process group with output captured to a log file, polls
// it, and stops it (SIGTERM to the group, SIGKILL after a grace period).
#ifndef BRAINTUNE_AGENT_PROCESS_LAUNCHER_H_
#define BRAINTUNE_AGENT_PROCESS_LAUNCHER_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/run_as.h"

namespace braintune::agent {

struct ExitInfo {
  bool exited = false;
  int exit_code = 0;
  int term_signal = 0;
};

// One started process group. Non-copyable; the destructor does not kill (the agent decides).
class ManagedProcess {
 public:
  // Starts argv[0] (searched on PATH) with `extra_env` added, stdin from /dev/null and
  // stdout+stderr appended to `log_path` (opened here, by the agent: never as the job's
  // account, never through a symlink), in a new session so the whole tree can be signalled.
  // With `who`, the process runs as that account (groups, gid, then uid dropped before exec,
  // umask 027, in `cwd`) with only PATH, LANG, HOME, USER and LOGNAME of the agent's
  // environment; without, as the agent, with the agent's environment less its BRAINTUNE_TOKEN.
  static absl::StatusOr<ManagedProcess> Start(const std::vector<std::string>& argv,
                                              const std::map<std::string, std::string>& extra_env,
                                              const std::string& log_path,
                                              const std::optional<RunAs>& who = std::nullopt,
                                              const std::string& cwd = "");
  // Non-blocking: reaps the process if it has ended.
  ExitInfo Poll();
  // SIGTERM to the group now; SIGKILL to the group when called again after `grace_ms`.
  void Stop(int64_t now_ms, int64_t grace_ms);
  pid_t pid() const { return pid_; }

 private:
  explicit ManagedProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  int64_t term_sent_ms_ = -1;
  ExitInfo exit_;
};

}  // namespace braintune::agent

#endif  // BRAINTUNE_AGENT_PROCESS_LAUNCHER_H_

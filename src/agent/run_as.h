// The Unix account a job's processes run as (docs/operations.md, "Security model"). As Slurm's
// slurmstepd: an agent running as root starts each job's mpirun and ranks (and, on the job's
// other nodes, OpenMPI's daemon) with the job account's uid, gid and supplementary groups; file
// permissions, not checks in braintune, then keep users apart. Free functions; any thread.
#ifndef BRAINTUNE_AGENT_RUN_AS_H_
#define BRAINTUNE_AGENT_RUN_AS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace braintune::agent {

struct RunAs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary, the primary group included
  std::string home;
};

// Who runs a launch for `account` (LaunchJob.account): std::nullopt = this agent's own user.
// Refused (FailedPrecondition, naming the account): an account this node does not have; uid 0
// when `multi_user` (the coordinator authenticates users: jobs never run as root); no account
// when `multi_user` and the agent is root; another account when the agent is not root (it
// cannot switch users: it runs only its own user's jobs).
absl::StatusOr<std::optional<RunAs>> ResolveRunAs(const std::string& account, bool multi_user);

// Makes `dir` (and its parents) exist, a real directory (not a symlink), owned by `who` (or
// by this process) with `mode`. Fails if an existing `dir` is a symlink or not a directory.
absl::Status MakeOwnedDirectory(const std::string& dir, const std::optional<RunAs>& who, mode_t mode);

// For an agent running as root (it starts jobs as other accounts, who must not reach its own
// files): the work directory must be root's and every directory above it root's and not
// writable by others (unless sticky, as /tmp), or a job could rename a directory the agent
// then writes into as root. A root-owned work directory writable by others (a Kubernetes
// emptyDir is 0777) is tightened to 0755. Errors name the directory and its mode.
absl::Status SecureWorkDirectory(const std::string& work_dir);

}  // namespace braintune::agent

#endif  // BRAINTUNE_AGENT_RUN_AS_H_

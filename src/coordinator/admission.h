// What a user may submit on a shared pool (docs/operations.md, "Security model"): the Unix
// account their jobs run as and the scheduling attributes they may ask for come from the
// operator's policy file, not from the spec. Pure functions; any thread.
#ifndef BRAINTUNE_COORDINATOR_ADMISSION_H_
#define BRAINTUNE_COORDINATOR_ADMISSION_H_

#include <string>

#include "absl/status/statusor.h"
#include "braintune/v1/job.pb.h"
#include "coordinator/auth.h"
#include "scheduler/scheduling_policy.h"

namespace braintune::coordinator {

// With access control on (`multi_user`), returns the Unix account the job of `caller` runs as,
// or PermissionDenied naming the limit: a user without an account in the policy; a
// resources.group not among the user's policy groups; a priority above the highest of the
// user's, the group's and the default max_priority; preemptible: false without
// allow_nonpreemptible. Admins are held to the account mapping only. With access control off
// (one user, loopback) every job is admitted and runs as the agent's own account ("").
absl::StatusOr<std::string> AdmitJob(const v1::JobSpec& spec, const Caller& caller, bool multi_user,
                                     const scheduler::PolicyConfig& policy);

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_ADMISSION_H_

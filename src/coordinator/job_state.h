// The job state machine (design.md section 6). The only place that decides which state
// changes are legal:
//   1. Submit creates a job in QUEUED.
//   2. The scheduler moves QUEUED -> SCHEDULED when every rank has a slot (gang allocation).
//   3. The launching agent reports the ranks started: SCHEDULED -> RUNNING.
//   4. The agent reports the exit: RUNNING -> SUCCEEDED (exit 0) | FAILED (non-zero with no
//      restarts left, or the agent no longer holds the ranks). A node that stops heartbeating
//      sends its jobs back to the queue: SCHEDULED | RUNNING | RESTARTING -> QUEUED.
//   5. Cancel: QUEUED | SCHEDULED -> CANCELLED at once; RUNNING -> CANCELLED when the agent
//      reports that the killed ranks are gone.
//   6. Retries and preemption: RUNNING -> RESTARTING -> RUNNING, RUNNING -> PREEMPTED -> QUEUED.
// Terminal states (SUCCEEDED, FAILED, CANCELLED) never change again.
#ifndef BRAINTUNE_COORDINATOR_JOB_STATE_H_
#define BRAINTUNE_COORDINATOR_JOB_STATE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "braintune/v1/job.pb.h"

namespace braintune::coordinator {

bool IsTerminal(v1::JobState state);

// True while the job holds slots on worker nodes.
bool HoldsSlots(v1::JobState state);

// OK when `from -> to` is a legal change, FailedPrecondition naming both states otherwise.
absl::Status CheckTransition(v1::JobState from, v1::JobState to);

// When the job last entered QUEUED (its newest QUEUED event), ms; 0 when it never did.
int64_t QueuedSinceMs(const v1::Job& job);

// "RUNNING", "SUCCEEDED", ...
std::string StateName(v1::JobState state);

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_JOB_STATE_H_

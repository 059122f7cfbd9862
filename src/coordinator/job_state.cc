#include "coordinator/job_state.h"

#include "absl/strings/str_cat.h"

namespace braintune::coordinator {

using v1::JobState;

bool IsTerminal(JobState s) { return s == v1::SUCCEEDED || s == v1::FAILED || s == v1::CANCELLED; }

bool HoldsSlots(JobState s) { return s == v1::SCHEDULED || s == v1::RUNNING || s == v1::RESTARTING; }

int64_t QueuedSinceMs(const v1::Job& job) {
  for (auto e = job.events().rbegin(); e != job.events().rend(); ++e) {
    if (e->state() == v1::QUEUED) return e->time_ms();
  }
  return 0;
}

absl::Status CheckTransition(JobState from, JobState to) {
  bool ok = false;
  switch (from) {
    case v1::QUEUED:
      ok = to == v1::SCHEDULED || to == v1::CANCELLED || to == v1::FAILED;
      break;
    case v1::SCHEDULED:
      ok = to == v1::RUNNING || to == v1::CANCELLED || to == v1::FAILED || to == v1::QUEUED;
      break;
    case v1::RUNNING:
      ok = to == v1::SUCCEEDED || to == v1::FAILED || to == v1::CANCELLED || to == v1::RESTARTING ||
           to == v1::PREEMPTED || to == v1::QUEUED;  // QUEUED: its node was lost
      break;
    case v1::RESTARTING:
      ok = to == v1::RUNNING || to == v1::FAILED || to == v1::CANCELLED || to == v1::QUEUED;
      break;
    case v1::PREEMPTED:
      ok = to == v1::QUEUED || to == v1::CANCELLED;
      break;
    default:
      ok = false;
  }
  if (ok) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("job state cannot change from ", StateName(from), " to ", StateName(to)));
}

std::string StateName(JobState s) { return v1::JobState_Name(s); }

}  // namespace braintune::coordinator

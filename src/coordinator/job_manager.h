// Jobs: submission, the state machine applied (job_state.h), persistence, applying what a
// scheduling pass decides (the pass's inputs and fair-share usage: scheduling_driver.h),
// reconciliation with agent heartbeats, progress, and change notification for watchers.
// Knows nothing of gRPC: the services in grpc_services.cc translate to and from it.
#ifndef BRAINTUNE_COORDINATOR_JOB_MANAGER_H_
#define BRAINTUNE_COORDINATOR_JOB_MANAGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "braintune/v1/agent_service.pb.h"
#include "braintune/v1/job.pb.h"
#include "coordinator/node_manager.h"
#include "coordinator/scheduling_driver.h"
#include "scheduler/scheduling_policy.h"
#include "store/job_store.h"

namespace braintune::coordinator {

int64_t NowMs();

// Thread model: every public method is safe to call concurrently; one mutex (mu_) guards all
// jobs, and a store write in Submit is the only one made without it.
class JobManager {
 public:
  // Loads every stored job. `store`, `scheduling` and `nodes` must outlive the manager.
  static absl::StatusOr<std::unique_ptr<JobManager>> Create(store::JobStore* store,
                                                            const SchedulingDriver* scheduling,
                                                            NodeManager* nodes);
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Validates the spec (its YAML must parse as a JobSpec) and stores a new QUEUED job. A job
  // that can never fit the registered pool, or its quotas, is FailedPrecondition with why.
  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec, const std::string& user);
  absl::StatusOr<v1::Job> Get(const std::string& id) const;
  bool Contains(const std::string& id) const;  // without copying the job
  // Oldest first; `states` empty means all; `limit` <= 0 means no limit (the newest are kept);
  // `user` non-empty: only that user's jobs.
  std::vector<v1::Job> List(const std::vector<v1::JobState>& states, int limit, const std::string& user = "") const;
  // QUEUED/SCHEDULED jobs end at once; running ones are killed by their agent and end CANCELLED
  // when it reports the ranks gone. Cancelling a finished job is FailedPrecondition.
  absl::StatusOr<v1::Job> Cancel(const std::string& id);

  // Blocks until job `id` has changed since `*version` (0 = never seen) or `timeout` passes;
  // returns the job and updates `*version`.
  absl::StatusOr<v1::Job> WaitForChange(const std::string& id, int64_t* version, absl::Duration timeout);

  // One pass of the policy over the queue, the running jobs and the live nodes (planned by the
  // SchedulingDriver): places jobs, records each waiting job's position and reason, and asks
  // for the preemptions it names (their ranks are stopped, then the job is requeued).
  void SchedulePass();

  // Reconciles what an agent runs with what the coordinator believes, and says what to launch,
  // kill and forget. The node must be registered (checked by the caller).
  v1::HeartbeatResponse HandleHeartbeat(const v1::HeartbeatRequest& request);

  // Records progress from a job's rank 0; returns whether the job should stop (cancelled).
  absl::StatusOr<bool> ReportProgress(const v1::ReportProgressRequest& request);

  // Requeues the jobs placed on nodes that stopped heartbeating.
  void HandleLostNodes(const std::vector<std::string>& nodes);

  // Wakes every watcher (used on shutdown).
  void WakeAll();

 private:
  JobManager(store::JobStore* store, const SchedulingDriver* scheduling, NodeManager* nodes);

  // Applies a checked state change, records the event and persists.
  absl::Status TransitionLocked(v1::Job* job, v1::JobState to, const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Persists and notifies watchers.
  absl::Status SaveLocked(v1::Job* job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::Job* FindLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  store::JobStore* const store_;
  const SchedulingDriver* const scheduling_;
  NodeManager* const nodes_;

  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // signalled (with mu_ held) whenever a job's version moves
  JobTable jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);  // ids in submission order
  std::map<std::string, int64_t> versions_ ABSL_GUARDED_BY(mu_);
  int64_t next_version_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_JOB_MANAGER_H_

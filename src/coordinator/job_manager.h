// Jobs: submission, the state machine applied (job_state.h), persistence, applying what a
// scheduling pass decides (the pass's inputs and fair-share usage: scheduling_driver.h),
// reconciliation with agent heartbeats, progress, and change notification for watchers.
// Knows nothing of gRPC: the services in grpc_services.cc translate to and from it.
#ifndef BRAINTUNE_COORDINATOR_JOB_MANAGER_H_
#define BRAINTUNE_COORDINATOR_JOB_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "braintune/v1/agent_service.pb.h"
#include "braintune/v1/job.pb.h"
#include "braintune/v1/job_service.pb.h"
#include "coordinator/metrics.h"
#include "coordinator/node_manager.h"
#include "coordinator/job_credentials.h"
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

  // What each launch carries for its ranks (docs/operations.md): its own credential, and
  // whether the agent must refuse to run it as root. Set once, before serving.
  void SetLaunchSecurity(const JobCredentials* credentials, bool multi_user);
  // Where job transitions are counted (metrics.h); null: nowhere. Set once, before serving.
  void SetMetrics(Metrics* metrics) { metrics_ = metrics; }

  // Decides, from the parsed spec, whether its user may submit it and the Unix account it runs
  // as (admission.h); an error refuses the submission.
  using Admit = std::function<absl::StatusOr<std::string>(const v1::JobSpec& spec)>;

  // Validates the spec (its YAML must parse as a JobSpec; the typed fields are derived from it
  // here), asks `admit` (when set) and stores a new QUEUED job. A job that can never fit the
  // registered pool, or its quotas, is FailedPrecondition with why.
  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec, const std::string& user, const Admit& admit = nullptr);
  absl::StatusOr<v1::Job> Get(const std::string& id) const;
  bool Contains(const std::string& id) const;  // without copying the job
  // One page of the jobs that `request` asks for (job_service.proto: states, limit, paging,
  // include_spec), oldest first, without their events; `user` non-empty: only that user's jobs.
  // A page holds at most 1000 jobs and about 2 MiB (at least one job). A page_token this
  // manager did not give, or a negative page_size, is InvalidArgument.
  absl::StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& request, const std::string& user = "") const;
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
  // Each training report is also a point of the job's history (Job.history): at most
  // kHistoryPoints, on a grid of steps that widens as the job goes on, so a long job keeps
  // points evenly spread over its whole run.
  // Watchers see each report at once; the store gets at most one write per job per
  // kProgressWriteIntervalMs (the latest report), except a result or phase "done", written at
  // once. A report held back is written by the job's next report or save, or FlushProgress.
  absl::StatusOr<bool> ReportProgress(const v1::ReportProgressRequest& request);
  static constexpr int64_t kProgressWriteIntervalMs = 1000;
  static constexpr int kHistoryPoints = 240;

  // Writes the progress held back by ReportProgress: of the jobs last written at least
  // kProgressWriteIntervalMs ago, or of every job with `all` (shutdown). Called periodically.
  void FlushProgress(bool all = false);

  // Forgets the finished jobs (SUCCEEDED, FAILED, CANCELLED) last changed before
  // `finished_before_ms`: from the store, then from memory (Get says NotFound, watchers wake).
  // Returns their ids, for the caller to delete their logs.
  absl::StatusOr<std::vector<std::string>> PruneFinished(int64_t finished_before_ms);

  // Requeues the jobs placed on nodes that stopped heartbeating.
  void HandleLostNodes(const std::vector<std::string>& nodes);

  // The pool now, for the metrics' gauges: every job's state and owner, running jobs' progress,
  // and every node with what is placed on it.
  PoolSnapshot Snapshot() const;

  // The nodes as `viewer` may see them (node_status.h): `all` (an admin, or no access
  // control) names every job placed, otherwise only the viewer's.
  std::vector<v1::NodeStatus> Nodes(const std::string& viewer, bool all) const;

  // Wakes every watcher (used on shutdown).
  void WakeAll();

 private:
  JobManager(store::JobStore* store, const SchedulingDriver* scheduling, NodeManager* nodes);

  // Applies a checked state change, records the event and persists.
  absl::Status TransitionLocked(v1::Job* job, v1::JobState to, const std::string& message,
                                FailureReason reason = FailureReason::kOther) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Persists and notifies watchers.
  absl::Status SaveLocked(v1::Job* job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::Job* FindLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction (and SetLaunchSecurity).
  const JobCredentials* credentials_ = nullptr;
  bool multi_user_ = false;
  Metrics* metrics_ = nullptr;
  store::JobStore* const store_;
  const SchedulingDriver* const scheduling_;
  NodeManager* const nodes_;

  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // signalled (with mu_ held) whenever a job's version moves
  JobTable jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);  // ids in submission order
  std::map<std::string, int64_t> versions_ ABSL_GUARDED_BY(mu_);
  // Progress batching: when each job was last written to the store, and the jobs whose
  // progress in memory is newer than the store's.
  std::map<std::string, int64_t> saved_ms_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> unsaved_progress_ ABSL_GUARDED_BY(mu_);
  int64_t next_version_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_JOB_MANAGER_H_

// The coordinator's Prometheus metrics (docs/operations.md, "Metrics"), in the text exposition
// format 0.0.4 that /metrics serves (http_server.h). Two kinds:
//   - events counted as they happen (RPCs, scheduling passes, job transitions: restarts,
//     preemptions, failures by reason, the time jobs waited in the queue), kept here;
//   - the pool as it is now (jobs by state, queue length, nodes, per running job progress),
//     computed at scrape time from a PoolSnapshot, so a finished job leaves no series behind.
// Names follow Prometheus conventions: braintune_ prefix, base units (seconds, bytes), _total
// counters. Labels are bounded: RPC methods are the services' own, failure reasons a fixed set,
// nodes and users those the pool has, job ids only of running jobs.
#ifndef BRAINTUNE_COORDINATOR_METRICS_H_
#define BRAINTUNE_COORDINATOR_METRICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "braintune/v1/job.pb.h"
#include "braintune/v1/node.pb.h"

namespace braintune::coordinator {

// The pool at one instant (JobManager::Snapshot): what the gauges are computed from.
struct PoolSnapshot {
  struct JobBrief {
    std::string id, user, group;
    v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
    v1::Progress progress;            // RUNNING jobs only
    int64_t last_progress_ms = 0;     // RUNNING: when rank 0 last reported (else when it started)
    int64_t queued_since_ms = 0;      // QUEUED: when it entered the queue
  };
  std::vector<JobBrief> jobs;
  std::vector<v1::NodeStatus> nodes;  // every node, job ids of every user
};

// Why a job failed, as the failures counter labels it.
enum class FailureReason { kRanksFailed, kAgentLostJob, kOther };

// A histogram with fixed upper bounds (seconds), rendered with its _bucket, _sum and _count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void Observe(double value);
  // Appends the series lines of `name` with `labels` (`key="value",...` or "").
  void Render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Thread model: every method is safe to call concurrently (one mutex).
class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One finished RPC: its full method name ("/braintune.v1.JobService/SubmitJob"), its status
  // code, and how long it took.
  void Rpc(const std::string& method, int code, double seconds);
  void SchedulingPass(double seconds);
  // A job moved to `to`; `queued_since_ms` is when it last entered QUEUED (for SCHEDULED: the
  // wait is observed), `reason` classifies FAILED.
  void JobTransition(v1::JobState to, int64_t queued_since_ms, int64_t now_ms,
                     FailureReason reason = FailureReason::kOther);

  // The whole exposition: the counters above and the gauges of `pool` at `now_ms`.
  std::string Render(const PoolSnapshot& pool, int64_t now_ms) const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> rpcs_ ABSL_GUARDED_BY(mu_);  // (method, code)
  std::map<std::string, Histogram> rpc_seconds_ ABSL_GUARDED_BY(mu_);          // method
  Histogram pass_seconds_ ABSL_GUARDED_BY(mu_);
  Histogram queue_wait_seconds_ ABSL_GUARDED_BY(mu_);
  uint64_t restarts_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t preemptions_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<FailureReason, uint64_t> failures_ ABSL_GUARDED_BY(mu_);
  std::map<v1::JobState, uint64_t> finished_ ABSL_GUARDED_BY(mu_);
};

// `value` escaped for a label value of the text format (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& value);

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_METRICS_H_

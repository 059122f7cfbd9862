// Which queued jobs start, where, and which running jobs make room (design.md section 6).
// Pure logic on plain structs: no gRPC, no store, no clocks (time comes in as now_ms), so it is
// tested directly (tests/scheduler) and benchmarked (bench/scheduler_bench.cc).
//
// One pass (SchedulingPolicy::Schedule) over the whole queue:
//   1. Order: multifactor priority, as Slurm's: weight_priority * priority / 1000
//      + weight_fairshare * fair-share factor + weight_age * min(age, age_max) / age_max; ties
//      by submission. The fair-share factor of a user is 2^-(usage share / allotted share),
//      times the same factor of the user's group: 1 for someone who used nothing, 0.5 for
//      someone who used exactly their share, towards 0 above it. Usage is decayed GPU-seconds
//      (slot-seconds for CPU jobs), kept by the caller.
//   2. In that order each job is: infeasible (can never fit the pool, or is above a quota on
//      its own), held by a quota (the user's or group's running GPUs plus this job's would
//      exceed it), scheduled (gang: all ranks or none, on as few nodes as possible, the nodes'
//      GPUs having at least the job's GPU memory), or waiting for resources.
//   3. Backfill: the first job that waits for resources reserves the free resources it will
//      need (EASY backfill without run times: later jobs may use only what it does not), so
//      smaller jobs start on the rest without delaying it. Without backfill later jobs wait.
//   4. Preemption: when that first waiting job has a higher `priority` than running
//      preemptible jobs, the fewest of the lowest-priority ones whose resources (with the free
//      ones) make it fit are named to be preempted; the job waits for them.
#ifndef BRAINTUNE_SCHEDULER_SCHEDULING_POLICY_H_
#define BRAINTUNE_SCHEDULER_SCHEDULING_POLICY_H_

#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace braintune::scheduler {

struct Node {
  std::string name;
  int slots = 0;                // ranks it can run (CPU slots)
  int gpus = 0;
  int64_t gpu_memory_mb = 0;    // per GPU
  int free_slots = 0;
  int free_gpus = 0;
};

struct JobDemand {
  std::string id;
  std::string user;
  std::string group;            // "" = none
  int priority = 100;           // 0..1000
  int ranks = 1;                // each takes one slot...
  int gpus_per_rank = 0;        // ...and this many GPUs of its node
  int64_t gpu_memory_mb = 0;    // at least this much per GPU; 0 = any
  bool preemptible = true;
  int64_t submitted_ms = 0;
  int gpus() const { return ranks * gpus_per_rank; }
};

struct SlotAssignment {
  std::string node;
  int slots = 0;                // ranks on that node
};

struct RunningJob {
  JobDemand demand;
  std::vector<SlotAssignment> placement;
  int64_t started_ms = 0;
};

// The typed result for one queued job.
struct Decision {
  enum class Kind { kScheduled, kWait, kInfeasible };
  Kind kind = Kind::kWait;
  std::vector<SlotAssignment> assignments;  // kScheduled: sums to the job's ranks
  std::string reason;                       // kWait / kInfeasible: for the user

  static Decision Scheduled(std::vector<SlotAssignment> a) { return {Kind::kScheduled, std::move(a), ""}; }
  static Decision Wait(std::string why) { return {Kind::kWait, {}, std::move(why)}; }
  static Decision Infeasible(std::string why) { return {Kind::kInfeasible, {}, std::move(why)}; }
};

struct QueuedDecision {
  std::string job_id;
  Decision decision;
  int64_t position = 0;   // 1-based among the jobs still queued after this pass, in priority order
  double score = 0;       // the multifactor priority
};

struct PassResult {
  std::vector<QueuedDecision> jobs;   // every queued job, in priority order
  std::vector<std::string> preempt;   // running jobs to stop and requeue
};

// Decayed usage by user and by group (GPU-seconds; slot-seconds for CPU jobs).
struct Usage {
  std::map<std::string, double> user;
  std::map<std::string, double> group;
};

struct PolicyConfig {
  double weight_priority = 1000;
  double weight_fairshare = 1000;
  double weight_age = 100;
  double age_max_hours = 24;
  double usage_half_life_hours = 168;     // for the caller's decay of usage
  bool backfill = true;
  bool preemption = true;
  std::map<std::string, double> user_shares;   // absent: 1
  std::map<std::string, double> group_shares;  // absent: 1
  std::map<std::string, int> user_max_gpus;    // absent: default_user_max_gpus
  std::map<std::string, int> group_max_gpus;   // absent: no limit
  int default_user_max_gpus = 0;               // 0: no limit
  // Who may ask for what (enforced at submission when the coordinator authenticates users;
  // admins are exempt). A job's resources.priority may not exceed the highest of its user's
  // max_priority, its group's and default_max_priority.
  int default_max_priority = 100;
  std::map<std::string, int> user_max_priority;
  std::map<std::string, int> group_max_priority;
  // resources.preemptible: false needs allow_nonpreemptible on the user or the job's group.
  std::set<std::string> nonpreemptible_users;
  std::set<std::string> nonpreemptible_groups;
  // The groups a user may charge a job to (resources.group); absent: none.
  std::map<std::string, std::vector<std::string>> user_groups;
  // The Unix account each user's jobs run as (users.<name>.account); with
  // accounts_same_as_users, a user without one runs as the account of the same name.
  std::map<std::string, std::string> user_accounts;
  bool accounts_same_as_users = false;
};

// Reads the operator's policy file (docs/operations.md); errors name the file, line and key.
absl::StatusOr<PolicyConfig> LoadPolicyConfig(const std::string& path);
absl::StatusOr<PolicyConfig> ParsePolicyConfig(const std::string& yaml_text, const std::string& source);

// Thread model: implementations are immutable after construction; calls may come from any thread.
class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;
  virtual PassResult Schedule(const std::vector<JobDemand>& queued, const std::vector<RunningJob>& running,
                              const std::vector<Node>& nodes, const Usage& usage, int64_t now_ms) const = 0;
  // kInfeasible with the reason when `job` can never run on `nodes` (all of them empty) or
  // under its quotas; else kScheduled with no assignments. Used at submission.
  virtual Decision CheckFeasible(const JobDemand& job, const std::vector<Node>& nodes) const = 0;
  virtual const PolicyConfig& config() const = 0;
};

std::unique_ptr<SchedulingPolicy> MakeMultifactorPolicy(PolicyConfig config);

// Gang placement of `job` on `nodes`' free resources: the fullest single node that fits it
// (best fit keeps big holes for big jobs), else the nodes that fit the most ranks first.
// Nodes whose GPUs have less memory than the job asks for are not used. Empty when it does
// not fit. Exposed for tests.
std::vector<SlotAssignment> PlaceGang(const JobDemand& job, const std::vector<Node>& nodes);

}  // namespace braintune::scheduler

#endif  // BRAINTUNE_SCHEDULER_SCHEDULING_POLICY_H_

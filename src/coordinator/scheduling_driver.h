// Scheduling bookkeeping: what the policy (scheduler/scheduling_policy.h) needs to know of the
// jobs and nodes, kept apart from the job state machine (job_manager.h), which applies what a
// pass decides. Per pass:
//   1. The queue (QUEUED jobs, in submission order) and the running jobs (those holding slots
//      and not already being preempted) become the policy's demands.
//   2. The live nodes' free slots and GPUs are their totals less what running jobs hold.
//   3. Fair-share usage: every run of every job in GPU-seconds (slot-seconds for CPU jobs),
//      each run decayed by its age at its end with the policy's half-life. It is computed from
//      the jobs' stored events, so it survives coordinator restarts.
//   4. The policy decides; a job it places gets the lowest GPU indices no job holding slots
//      has on each of its nodes.
// Knows nothing of gRPC or the store.
#ifndef BRAINTUNE_COORDINATOR_SCHEDULING_DRIVER_H_
#define BRAINTUNE_COORDINATOR_SCHEDULING_DRIVER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "braintune/v1/job.pb.h"
#include "coordinator/node_manager.h"
#include "scheduler/scheduling_policy.h"

namespace braintune::coordinator {

// Every job the coordinator knows, by id (JobManager's table).
using JobTable = std::map<std::string, v1::Job>;

// What the policy needs of a job: its typed resources, owner and submission time.
scheduler::JobDemand DemandOf(const v1::Job& job);

// Thread model: constant after construction; every method only reads the table it is given,
// which the caller must keep from changing during the call (JobManager holds its mutex).
class SchedulingDriver {
 public:
  // `policy` and `nodes` must outlive the driver.
  SchedulingDriver(const scheduler::SchedulingPolicy* policy, const NodeManager* nodes)
      : policy_(policy), nodes_(nodes) {}
  SchedulingDriver(const SchedulingDriver&) = delete;
  SchedulingDriver& operator=(const SchedulingDriver&) = delete;

  // Whether `job` could ever run on the pool's live nodes (all of their slots free): a job
  // that never can is refused at submission with the policy's reason.
  scheduler::Decision CheckFeasible(const v1::Job& job, const JobTable& jobs) const;

  // Steps 1-3, then the policy's pass over the jobs of `order` (ids in submission order, each
  // in `jobs`). Empty, without asking the policy, when nothing is queued.
  scheduler::PassResult Plan(const JobTable& jobs, const std::vector<std::string>& order, int64_t now_ms) const;

  // The live nodes, with the slots and GPUs of the jobs placed on them taken from their free
  // counts unless `subtract_running` is false (totals are enough for feasibility).
  std::vector<scheduler::Node> Nodes(const JobTable& jobs, bool subtract_running) const;

  // Step 3: decayed usage by user and group at `now_ms`.
  scheduler::Usage Usage(const JobTable& jobs, int64_t now_ms) const;

  // Step 4: the `count` lowest GPU indices of `node` no job holding slots has (the policy has
  // checked that the node has that many free).
  std::vector<int> FreeGpus(const JobTable& jobs, const std::string& node, int count) const;

 private:
  const scheduler::SchedulingPolicy* const policy_;
  const NodeManager* const nodes_;
};

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_SCHEDULING_DRIVER_H_

// Where a job's ranks go. Pure logic on plain structs: no gRPC, no store, no clocks, so it is
// tested directly (tests/scheduler).
#ifndef BRAINTUNE_SCHEDULER_SCHEDULING_POLICY_H_
#define BRAINTUNE_SCHEDULER_SCHEDULING_POLICY_H_

#include <memory>
#include <string>
#include <vector>

namespace braintune::scheduler {

struct NodeCapacity {
  std::string name;
  int total_slots = 0;
  int free_slots = 0;
};

struct JobRequest {
  std::string job_id;
  int ranks = 1;
};

struct SlotAssignment {
  std::string node;
  int slots = 0;
};

// The typed result of one placement attempt.
struct Decision {
  enum class Kind { kScheduled, kWait, kInfeasible };
  Kind kind = Kind::kWait;
  std::vector<SlotAssignment> assignments;  // kScheduled: sums to the job's ranks
  std::string reason;                       // kWait / kInfeasible: for the user

  static Decision Scheduled(std::vector<SlotAssignment> a) { return {Kind::kScheduled, std::move(a), ""}; }
  static Decision Wait(std::string why) { return {Kind::kWait, {}, std::move(why)}; }
  static Decision Infeasible(std::string why) { return {Kind::kInfeasible, {}, std::move(why)}; }
};

// Thread model: implementations are immutable after construction; Place may be called from
// any thread.
class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;
  // Places all of `job`'s ranks on `nodes` (live nodes only) or none of them (gang allocation).
  virtual Decision Place(const JobRequest& job, const std::vector<NodeCapacity>& nodes) const = 0;
};

// Gang allocation onto the fewest nodes: the fullest node that fits the whole job (best fit),
// otherwise the nodes with the most free slots first. Jobs are offered in FIFO order by the
// coordinator; this policy does not reorder.
std::unique_ptr<SchedulingPolicy> MakeGangPackingPolicy();

}  // namespace braintune::scheduler

#endif  // BRAINTUNE_SCHEDULER_SCHEDULING_POLICY_H_

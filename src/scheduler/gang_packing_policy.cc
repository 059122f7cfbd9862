#include <algorithm>

#include "absl/strings/str_cat.h"
#include "scheduler/scheduling_policy.h"

namespace braintune::scheduler {
namespace {

class GangPackingPolicy : public SchedulingPolicy {
 public:
  Decision Place(const JobRequest& job, const std::vector<NodeCapacity>& nodes) const override {
    int total = 0, free = 0;
    for (const auto& n : nodes) {
      total += n.total_slots;
      free += std::max(0, n.free_slots);
    }
    if (nodes.empty()) return Decision::Wait("no worker nodes are registered");
    if (total < job.ranks) {
      return Decision::Infeasible(absl::StrCat("needs ", job.ranks, " slots but the pool has ", total,
                                               " in all (", nodes.size(), " nodes)"));
    }
    if (free < job.ranks) {
      return Decision::Wait(absl::StrCat("needs ", job.ranks, " slots, ", free, " free"));
    }
    // Best fit on one node keeps larger holes open for larger jobs.
    const NodeCapacity* best = nullptr;
    for (const auto& n : nodes) {
      if (n.free_slots >= job.ranks && (!best || n.free_slots < best->free_slots)) best = &n;
    }
    if (best) return Decision::Scheduled({{best->name, job.ranks}});

    std::vector<const NodeCapacity*> order;
    for (const auto& n : nodes) {
      if (n.free_slots > 0) order.push_back(&n);
    }
    std::stable_sort(order.begin(), order.end(), [](const NodeCapacity* a, const NodeCapacity* b) {
      return a->free_slots > b->free_slots;
    });
    std::vector<SlotAssignment> out;
    int left = job.ranks;
    for (const NodeCapacity* n : order) {
      int take = std::min(left, n->free_slots);
      out.push_back({n->name, take});
      left -= take;
      if (left == 0) break;
    }
    return Decision::Scheduled(std::move(out));
  }
};

}  // namespace

std::unique_ptr<SchedulingPolicy> MakeGangPackingPolicy() { return std::make_unique<GangPackingPolicy>(); }

}  // namespace braintune::scheduler

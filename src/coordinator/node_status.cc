#include "coordinator/node_status.h"

#include <map>
#include <set>

#include "coordinator/job_state.h"

namespace braintune::coordinator {

std::vector<v1::NodeStatus> NodeStatuses(const std::vector<NodeRecord>& nodes, const JobTable& jobs,
                                         const std::string& viewer, bool all) {
  std::map<std::string, v1::NodeStatus> by_name;
  for (const NodeRecord& r : nodes) {
    v1::NodeStatus& s = by_name[r.info.name()];
    s.set_name(r.info.name());
    s.set_state(r.expected ? v1::NodeStatus::EXPECTED : r.lost ? v1::NodeStatus::LOST : v1::NodeStatus::LIVE);
    s.set_cpu_slots(r.info.cpu_slots());
    s.set_gpus(r.info.gpus());
    s.set_gpu_memory_mb(r.info.gpu_memory_mb());
    s.set_agent_version(r.info.agent_version());
    s.set_last_heartbeat_ms(r.expected ? 0 : r.last_heartbeat_ms);
  }
  for (const auto& [id, job] : jobs) {
    if (!HoldsSlots(job.state())) continue;
    std::set<std::string> counted;  // a job with several placements on a node is one job there
    for (const v1::Placement& p : job.placements()) {
      auto it = by_name.find(p.node());
      if (it == by_name.end()) continue;  // a node not seen since a restart: Expect() adds those
      v1::NodeStatus& s = it->second;
      s.set_slots_in_use(s.slots_in_use() + p.slots());
      s.set_gpus_in_use(s.gpus_in_use() + p.gpus_size());
      if (!counted.insert(p.node()).second) continue;
      if (all || job.user() == viewer) {
        s.add_job_ids(id);
      } else {
        s.set_other_jobs(s.other_jobs() + 1);
      }
    }
  }
  std::vector<v1::NodeStatus> out;
  out.reserve(by_name.size());
  for (auto& [name, s] : by_name) out.push_back(std::move(s));
  return out;
}

}  // namespace braintune::coordinator

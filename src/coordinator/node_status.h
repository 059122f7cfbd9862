// What users see of the pool's nodes (ListNodes, the dashboard, the metrics): each node's
// capacity joined with the jobs placed on it. Knows nothing of gRPC.
#ifndef BRAINTUNE_COORDINATOR_NODE_STATUS_H_
#define BRAINTUNE_COORDINATOR_NODE_STATUS_H_

#include <string>
#include <vector>

#include "braintune/v1/node.pb.h"
#include "coordinator/node_manager.h"
#include "coordinator/scheduling_driver.h"

namespace braintune::coordinator {

// Every node of `nodes` (by name) with the slots and GPUs the jobs holding slots have there.
// Job ids are listed when `all` or the job is `viewer`'s; other jobs are only counted.
std::vector<v1::NodeStatus> NodeStatuses(const std::vector<NodeRecord>& nodes, const JobTable& jobs,
                                         const std::string& viewer, bool all);

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_NODE_STATUS_H_

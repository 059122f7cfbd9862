// Worker nodes known to the coordinator: registration, heartbeats, liveness. In memory only:
// after a coordinator restart agents register again (Heartbeat answers NOT_FOUND).
#ifndef BRAINTUNE_COORDINATOR_NODE_MANAGER_H_
#define BRAINTUNE_COORDINATOR_NODE_MANAGER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "braintune/v1/node.pb.h"

namespace braintune::coordinator {

struct NodeRecord {
  v1::NodeInfo info;
  int64_t last_heartbeat_ms = 0;
  bool lost = false;
  bool expected = false;  // known only from stored jobs; its agent has not registered yet
};

// Thread model: all methods are safe to call concurrently; mu_ guards the nodes.
class NodeManager {
 public:
  explicit NodeManager(int64_t heartbeat_timeout_ms) : heartbeat_timeout_ms_(heartbeat_timeout_ms) {}
  NodeManager(const NodeManager&) = delete;
  NodeManager& operator=(const NodeManager&) = delete;

  // Adds the node, or replaces it when its agent registers again (a coordinator restart, or a
  // node that was lost). A registration from another agent instance under the name of a live
  // node is a takeover: refused (AlreadyExists) unless `may_replace` (the caller's token is bound
  // to this node, or access control is off), and then a restart of the node's agent: `*restarted`
  // is set, and the old instance's jobs must be requeued.
  absl::Status Register(const v1::NodeInfo& info, int64_t now_ms, bool may_replace, bool* restarted);

  // A node that stored jobs run on, after a coordinator restart: offers no slots and is marked
  // lost if its agent does not register within the heartbeat timeout (so its jobs are requeued).
  void Expect(const std::string& name, int64_t now_ms);

  // Records a heartbeat; false when the node is unknown, expected or lost (it must register).
  bool Heartbeat(const std::string& name, int64_t now_ms);

  // Marks nodes whose last heartbeat is older than the timeout as lost; returns those newly lost.
  std::vector<std::string> MarkLost(int64_t now_ms);

  std::vector<NodeRecord> List() const;
  std::vector<v1::NodeInfo> Live() const;

 private:
  const int64_t heartbeat_timeout_ms_;
  mutable absl::Mutex mu_;
  std::map<std::string, NodeRecord> nodes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_NODE_MANAGER_H_

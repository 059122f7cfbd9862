#include "coordinator/node_manager.h"

#include "absl/strings/str_cat.h"

namespace braintune::coordinator {

absl::Status NodeManager::Register(const v1::NodeInfo& info, int64_t now_ms, bool may_replace, bool* restarted) {
  absl::MutexLock lock(&mu_);
  *restarted = false;
  auto it = nodes_.find(info.name());
  if (it != nodes_.end() && !it->second.lost && !it->second.expected &&
      it->second.info.instance_id() != info.instance_id()) {
    if (!may_replace) {
      return absl::AlreadyExistsError(absl::StrCat(
          "node ", info.name(), " is registered by a live agent; another agent cannot take its name (an agent token "
          "bound to the node, `token create --role agent --node ", info.name(), "`, may restart it)"));
    }
    *restarted = true;
  }
  nodes_[info.name()] = NodeRecord{info, now_ms, false};
  return absl::OkStatus();
}

void NodeManager::Expect(const std::string& name, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  if (nodes_.count(name)) return;
  NodeRecord record;
  record.info.set_name(name);
  record.last_heartbeat_ms = now_ms;
  record.expected = true;
  nodes_[name] = record;
}

bool NodeManager::Heartbeat(const std::string& name, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end() || it->second.lost || it->second.expected) return false;
  it->second.last_heartbeat_ms = now_ms;
  return true;
}

std::vector<std::string> NodeManager::MarkLost(int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> lost;
  for (auto& [name, node] : nodes_) {
    if (!node.lost && now_ms - node.last_heartbeat_ms > heartbeat_timeout_ms_) {
      node.lost = true;
      lost.push_back(name);
    }
  }
  return lost;
}

std::vector<NodeRecord> NodeManager::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<NodeRecord> out;
  for (const auto& [name, node] : nodes_) out.push_back(node);
  return out;
}

std::vector<v1::NodeInfo> NodeManager::Live() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::NodeInfo> out;
  for (const auto& [name, node] : nodes_) {
    if (!node.lost && !node.expected) out.push_back(node.info);
  }
  return out;
}

}  // namespace braintune::coordinator

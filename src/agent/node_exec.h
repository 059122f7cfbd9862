// The agent's NodeExec service (proto/braintune/v1/agent_service.proto): runs a command on this
// node for another node's mpirun (its remote daemon, orted, started through braintune-rsh) and
// streams the output and exit code back. Only callers holding the secret every agent got from
// the coordinator at registration are served; the process stops when the caller goes away.
#ifndef BRAINTUNE_AGENT_NODE_EXEC_H_
#define BRAINTUNE_AGENT_NODE_EXEC_H_

#include <atomic>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "braintune/v1/agent_service.grpc.pb.h"

namespace braintune::agent {

// Thread model: gRPC calls Exec on many threads at once; SetSecret may come from any thread
// (mu_ guards the secret).
class NodeExecService final : public v1::NodeExec::Service {
 public:
  // Outputs are staged in <work_dir>/exec/; `kill_grace_ms` as the agent's.
  NodeExecService(std::string work_dir, int kill_grace_ms);
  // The secret from the coordinator (RegisterNodeResponse.exec_secret); none: every call fails.
  void SetSecret(const std::string& secret);
  grpc::Status Exec(grpc::ServerContext* ctx, const v1::ExecRequest* req,
                    grpc::ServerWriter<v1::ExecOutput>* writer) override;

 private:
  const std::string work_dir_;
  const int kill_grace_ms_;
  absl::Mutex mu_;
  std::string secret_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> next_{0};  // names the staged outputs
};

}  // namespace braintune::agent

#endif  // BRAINTUNE_AGENT_NODE_EXEC_H_

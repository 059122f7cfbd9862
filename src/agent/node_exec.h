// The agent's NodeExec service (proto/braintune/v1/agent_service.proto): starts OpenMPI's daemon
// (orted) on this node for another node's mpirun (through braintune-rsh) and streams the
// output and exit code back. Only a caller holding the credential of a running job placed on
// this node is served (the coordinator checks it), only the daemon command is run, and it runs
// as that job's Unix account, with that job's GPUs of this node; the process stops when the
// caller goes away.
#ifndef BRAINTUNE_AGENT_NODE_EXEC_H_
#define BRAINTUNE_AGENT_NODE_EXEC_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "braintune/v1/agent_service.grpc.pb.h"

namespace braintune::agent {

// Whether `command` (the words mpirun gave its rsh agent, joined) starts OpenMPI's daemon and
// nothing else: optional VAR=value; / export VAR; prefixes, then orted (or a path ending in
// /orted), then arguments without unquoted ; & | < > or command substitutions.
bool IsDaemonCommand(const std::string& command);

// Thread model: gRPC calls Exec on many threads at once; the members are constant.
class NodeExecService final : public v1::NodeExec::Service {
 public:
  // Asks the coordinator whose launch a credential is (AgentService.AuthorizeExec).
  using Authorizer = std::function<absl::StatusOr<v1::AuthorizeExecResponse>(const std::string& job_credential)>;
  // Outputs are staged in <work_dir>/exec/; `kill_grace_ms` as the agent's.
  NodeExecService(std::string work_dir, int kill_grace_ms, Authorizer authorize);
  grpc::Status Exec(grpc::ServerContext* ctx, const v1::ExecRequest* req,
                    grpc::ServerWriter<v1::ExecOutput>* writer) override;

 private:
  const std::string work_dir_;
  const int kill_grace_ms_;
  const Authorizer authorize_;
  std::atomic<int64_t> next_{0};  // names the staged outputs
};

}  // namespace braintune::agent

#endif  // BRAINTUNE_AGENT_NODE_EXEC_H_

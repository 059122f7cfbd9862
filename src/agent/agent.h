// The worker agent: one per node. Registers the node's slots with the coordinator, heartbeats,
// launches the ranks of jobs placed here with mpirun, stops them on request, and reports how
// they ended until the coordinator has recorded it.
#ifndef BRAINTUNE_AGENT_AGENT_H_
#define BRAINTUNE_AGENT_AGENT_H_

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace braintune::agent {

struct AgentOptions {
  std::string coordinator = "127.0.0.1:50051";  // host:port of braintune-coordinator
  std::string name;             // node name; default: the host name
  std::string address = "127.0.0.1";  // how other nodes reach this one
  int cpu_slots = 0;            // default: number of cores
  int gpus = -1;                // default: the CUDA devices present (/dev/nvidiaN)
  std::string work_dir = "braintune-work";  // jobs/<id>/{spec.yaml,log.txt,...}
  std::string train_binary;     // default: braintune-train next to the agent binary
  std::string mpirun = "mpirun";
  // Extra mpirun arguments; the defaults run CPU ranks on one node without binding.
  std::vector<std::string> mpirun_args = {"--bind-to", "none", "--oversubscribe",
                                          "--mca", "btl_vader_single_copy_mechanism", "none"};
  int kill_grace_ms = 5000;     // SIGTERM, then SIGKILL after this long
  std::string token;            // its agent token (role agent; best bound to this node) when the coordinator requires tokens
  std::string tls_ca;           // CA of the coordinator's TLS certificate; empty: plaintext
  // This node's certificate and key (PEM) for its NodeExec endpoint: required when the
  // coordinator uses TLS (tls_ca set), so daemons' credentials never cross the network in clear.
  std::string tls_cert;
  std::string tls_key;
  // The name in the agents' NodeExec certificate when it is not their --address (pods at
  // changing IPs sharing one certificate); given to braintune-rsh. Empty: the address.
  std::string exec_tls_server_name;
  // The NodeExec endpoint other nodes' mpirun reach through braintune-rsh: address:exec_port
  // (0: any free port).
  int exec_port = 0;
  std::string rsh_binary;       // default: braintune-rsh next to the agent binary
};

// Runs until `stop` becomes true; returns an error only for bad options.
absl::Status RunAgent(const AgentOptions& options, const std::atomic<bool>& stop);

}  // namespace braintune::agent

#endif  // BRAINTUNE_AGENT_AGENT_H_

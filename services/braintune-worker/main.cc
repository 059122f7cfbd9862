// braintune-worker: the per-node agent. Stops its jobs and exits on SIGINT/SIGTERM.
#include <signal.h>

#include <atomic>
#include <iostream>

#include "agent/agent.h"
#include "common/grpc_client.h"
#include "common/flags.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
  braintune::agent::AgentOptions o;
  braintune::Flags f("braintune-worker [flags]",
                     "Registers this node's slots with the coordinator and runs the jobs placed here with mpirun.");
  f.FromEnvironment("BRAINTUNE_WORKER_");
  f.Value("coordinator", o.coordinator, "coordinator HOST:PORT")
      .Value("name", "", "node name (default: host name)")
      .Value("address", o.address, "address other nodes use to reach this one")
      .Value("slots", "0", "CPU slots to offer (default: number of cores)")
      .Value("gpus", "-1", "GPUs to offer, CUDA indices 0..N-1 (default: the /dev/nvidiaN devices present)")
      .Value("work-dir", o.work_dir, "directory for job specs, logs and outputs")
      .Value("train-binary", "", "braintune-train to launch (default: next to this binary)")
      .Value("mpirun", o.mpirun, "mpirun to use")
      .Value("kill-grace-ms", std::to_string(o.kill_grace_ms), "SIGTERM to SIGKILL delay when stopping a job")
      .Value("token-file", "", "file holding the cluster token (braintune-coordinator token create --role agent); "
                               "needed when the coordinator runs with --auth")
      .Value("tls-ca", "", "PEM CA certificate of the coordinator's TLS certificate (coordinator with --tls-cert); "
                           "it also verifies the other nodes' NodeExec endpoints")
      .Value("tls-cert", "", "this node's PEM certificate for its NodeExec endpoint (required with --tls-ca)")
      .Value("tls-key", "", "the PEM private key of --tls-cert")
      .Value("exec-tls-server-name", "", "the name other nodes expect in this pool's NodeExec certificates, when "
                                         "it is not the node's --address (e.g. one certificate for every pod)")
      .Value("exec-port", "0", "port of this agent's NodeExec service on --address, through which other nodes' "
                               "mpirun start their daemons here (0: any free port)");
  f.ParseOrExit(argc, argv, 1, "braintune-worker");
  o.coordinator = f.Get("coordinator");
  o.name = f.Get("name");
  o.address = f.Get("address");
  o.work_dir = f.Get("work-dir");
  o.train_binary = f.Get("train-binary");
  o.mpirun = f.Get("mpirun");
  o.tls_ca = f.Get("tls-ca");
  o.tls_cert = f.Get("tls-cert");
  o.tls_key = f.Get("tls-key");
  o.exec_tls_server_name = f.Get("exec-tls-server-name");
  auto gpus = f.GetInt("gpus");
  if (!gpus.ok() || *gpus < -1 || *gpus > 64) {
    std::cerr << "braintune-worker: --gpus must be -1 (detect) or 0..64\n";
    return 2;
  }
  o.gpus = static_cast<int>(*gpus);
  auto exec_port = f.GetInt("exec-port");
  if (!exec_port.ok() || *exec_port < 0 || *exec_port > 65535) {
    std::cerr << "braintune-worker: --exec-port must be 0..65535\n";
    return 2;
  }
  o.exec_port = static_cast<int>(*exec_port);
  if (!f.Get("token-file").empty()) {
    auto token = braintune::ReadTokenFile(f.Get("token-file"));
    if (!token.ok()) {
      std::cerr << "braintune-worker: --token-file: " << token.status().message() << "\n";
      return 2;
    }
    o.token = *token;
  }
  auto slots = f.GetInt("slots");
  auto grace = f.GetInt("kill-grace-ms");
  if (!slots.ok() || !grace.ok() || *slots < 0 || *grace < 0) {
    std::cerr << "braintune-worker: --slots and --kill-grace-ms must be non-negative integers\n";
    return 2;
  }
  o.cpu_slots = static_cast<int>(*slots);
  o.kill_grace_ms = static_cast<int>(*grace);
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  absl::Status s = braintune::agent::RunAgent(o, g_stop);
  if (!s.ok()) {
    std::cerr << "braintune-worker: " << s.message() << "\n";
    return 2;
  }
  return 0;
}

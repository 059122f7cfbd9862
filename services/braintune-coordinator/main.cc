// braintune-coordinator: the job API, job store and scheduler. Stops cleanly on SIGINT/SIGTERM.
#include <signal.h>

#include <iostream>
#include <thread>

#include "common/flags.h"
#include "coordinator/coordinator.h"

int main(int argc, char** argv) {
  braintune::coordinator::CoordinatorOptions o;
  braintune::Flags f("braintune-coordinator [flags]",
                     "Serves the braintune job API over gRPC, stores jobs in SQLite and schedules them onto "
                     "registered worker agents.");
  f.Value("listen", o.listen_address, "HOST:PORT to serve on (port 0 = any free port)")
      .Value("db", o.db_path, "SQLite job database (created if missing)")
      .Value("log-dir", "", "where the jobs' output shipped by agents is kept (default: DB.logs)")
      .Value("heartbeat-interval-ms", std::to_string(o.heartbeat_interval_ms), "agent heartbeat interval")
      .Value("node-timeout-ms", std::to_string(o.node_timeout_ms), "a node without heartbeats this long is lost")
      .Value("policy", "", "scheduling policy YAML: priorities, fair share, quotas, backfill, preemption "
                           "(docs/operations.md); empty: the defaults");
  if (auto s = f.Parse(argc, argv); !s.ok()) {
    std::cerr << "braintune-coordinator: " << s.message() << "\n";
    return 2;
  }
  if (f.help_requested()) return std::cout << f.Help(), 0;
  o.listen_address = f.Get("listen");
  o.db_path = f.Get("db");
  o.log_dir = f.Get("log-dir");
  auto hb = f.GetInt("heartbeat-interval-ms");
  auto timeout = f.GetInt("node-timeout-ms");
  if (!hb.ok() || !timeout.ok() || *hb <= 0 || *timeout <= 0) {
    std::cerr << "braintune-coordinator: --heartbeat-interval-ms and --node-timeout-ms must be positive integers\n";
    return 2;
  }
  o.heartbeat_interval_ms = static_cast<int>(*hb);
  o.node_timeout_ms = static_cast<int>(*timeout);
  if (!f.Get("policy").empty()) {
    auto policy = braintune::scheduler::LoadPolicyConfig(f.Get("policy"));
    if (!policy.ok()) {
      std::cerr << "braintune-coordinator: " << policy.status().message() << "\n";
      return 2;
    }
    o.policy = *policy;
  }

  // Signals are taken by a dedicated thread so that shutdown runs outside a signal handler.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto coordinator = braintune::coordinator::Coordinator::Start(o);
  if (!coordinator.ok()) {
    std::cerr << "braintune-coordinator: " << coordinator.status().message() << "\n";
    return 1;
  }
  std::cerr << "braintune-coordinator: serving on port " << (*coordinator)->port() << " (db " << o.db_path << ")"
            << std::endl;
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    std::cerr << "braintune-coordinator: signal " << sig << ", shutting down" << std::endl;
    (*coordinator)->Shutdown();
  });
  signals.detach();
  (*coordinator)->Wait();
  return 0;
}

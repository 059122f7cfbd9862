// braintune-coordinator: the job API, job store and scheduler. Stops cleanly on SIGINT/SIGTERM.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include "common/flags.h"
#include "coordinator/coordinator.h"
#include "store/token_store.h"

namespace {

// braintune-coordinator token create|list|revoke: the admin's side of access control, run on
// the coordinator's host against its database (docs/operations.md).
int TokenCommand(int argc, char** argv) {
  const std::string verb = argc > 2 ? argv[2] : "";
  braintune::Flags f("braintune-coordinator token create|list|revoke [ID] [flags]",
                     "Issues, lists and revokes bearer tokens. `create` prints the new token once (only its SHA-256 is "
                     "stored): give it to the user (BRAINTUNE_TOKEN or ~/.config/braintune/token), or, with --role "
                     "agent, to every worker agent (--token-file).");
  f.Value("db", "braintune.db", "the coordinator's SQLite database")
      .Value("user", "", "create: who the token stands for")
      .Value("role", "user", "create: user (own jobs), admin (every job), agent (the cluster token) or metrics "
                             "(reads /metrics only: for Prometheus)")
      .Value("node", "", "create --role agent: the token speaks for this node only (its agent may restart; no other "
                         "agent can take the node's name)")
      .Value("output", "table", "list: table or json");
  if (verb != "create" && verb != "list" && verb != "revoke") {
    std::cerr << f.Help();
    return verb == "--help" ? 0 : 2;
  }
  f.ParseOrExit(argc, argv, 3, "braintune-coordinator");
  auto tokens = braintune::store::OpenSqliteTokenStore(f.Get("db"));
  if (!tokens.ok()) return std::cerr << "braintune-coordinator: " << tokens.status().message() << "\n", 1;
  if (verb == "create") {
    // An agent token bound to a node is labelled "node/NAME" (coordinator/auth.h).
    const bool node_bound = !f.Get("node").empty();
    if (node_bound && f.Get("role") != "agent") {
      return std::cerr << "braintune-coordinator: --node is for --role agent tokens\n", 2;
    }
    if (f.Get("user").empty() && !node_bound) return std::cerr << "braintune-coordinator: token create needs --user\n", 2;
    auto token = (*tokens)->Issue(node_bound ? "node/" + f.Get("node") : f.Get("user"), f.Get("role"));
    if (!token.ok()) return std::cerr << "braintune-coordinator: " << token.status().message() << "\n", 2;
    std::cout << *token << std::endl;
    return 0;
  }
  if (verb == "revoke") {
    if (f.positional().size() != 1) return std::cerr << "braintune-coordinator: token revoke takes one token ID\n", 2;
    auto s = (*tokens)->Revoke(f.positional()[0]);
    if (!s.ok()) return std::cerr << "braintune-coordinator: " << s.message() << "\n", 1;
    std::cout << "revoked " << f.positional()[0] << std::endl;
    return 0;
  }
  auto list = (*tokens)->List();
  if (!list.ok()) return std::cerr << "braintune-coordinator: " << list.status().message() << "\n", 1;
  if (f.Get("output") == "json") {
    std::cout << "[";
    for (size_t i = 0; i < list->size(); ++i) {
      const auto& t = (*list)[i];
      std::cout << (i ? "," : "") << "{\"id\":\"" << t.id << "\",\"user\":\"" << t.user << "\",\"role\":\"" << t.role
                << "\",\"created_ms\":" << t.created_ms << "}";
    }
    std::cout << "]\n";
    return 0;
  }
  std::printf("%-14s %-20s %-6s\n", "ID", "USER", "ROLE");
  for (const auto& t : *list) std::printf("%-14s %-20s %-6s\n", t.id.c_str(), t.user.c_str(), t.role.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "token") return TokenCommand(argc, argv);
  braintune::coordinator::CoordinatorOptions o;
  braintune::Flags f("braintune-coordinator [flags]",
                     "Serves the braintune job API over gRPC, stores jobs in SQLite and schedules them onto "
                     "registered worker agents. `braintune-coordinator token --help`: access tokens.");
  f.FromEnvironment("BRAINTUNE_COORDINATOR_");
  f.Value("listen", o.listen_address, "HOST:PORT to serve on (port 0 = any free port)")
      .Value("http", "", "HOST:PORT to serve /metrics (Prometheus) and the web dashboard on (port 0 = any free "
                         "port); the same TLS and access rules as --listen; empty: none")
      .Value("db", o.db_path, "SQLite job database (created if missing)")
      .Value("log-dir", "", "where the jobs' output shipped by agents is kept (default: DB.logs)")
      .Value("heartbeat-interval-ms", std::to_string(o.heartbeat_interval_ms), "agent heartbeat interval")
      .Value("node-timeout-ms", std::to_string(o.node_timeout_ms), "a node without heartbeats this long is lost")
      .Bool("auth", "require a bearer token on every call (braintune-coordinator token create --help); jobs run as "
                    "their users' Unix accounts (the policy file maps them)")
      .Bool("insecure", "allow a non-loopback --listen without --auth (every caller is then an admin)")
      .Value("tls-cert", "", "PEM certificate chain: serve over TLS (with --tls-key)")
      .Value("tls-key", "", "PEM private key of --tls-cert")
      .Value("policy", "", "scheduling policy YAML: priorities, fair share, quotas, backfill, preemption "
                           "(docs/operations.md); empty: the defaults")
      .Value("retain-days", "90", "finished jobs are forgotten, with their logs, this many days after they ended "
                                  "(checked at start and hourly; fractions allowed); 0 = keep forever")
      .Value("max-log-mb", "64", "the output kept of each job (braintune logs), then a truncation marker; 0 = no cap");
  f.ParseOrExit(argc, argv, 1, "braintune-coordinator");
  o.listen_address = f.Get("listen");
  o.http_address = f.Get("http");
  o.db_path = f.Get("db");
  o.log_dir = f.Get("log-dir");
  o.auth = f.IsSet("auth");
  o.insecure = f.IsSet("insecure");
  o.tls_cert = f.Get("tls-cert");
  o.tls_key = f.Get("tls-key");
  auto hb = f.GetInt("heartbeat-interval-ms");
  auto timeout = f.GetInt("node-timeout-ms");
  if (!hb.ok() || !timeout.ok() || *hb <= 0 || *timeout <= 0) {
    std::cerr << "braintune-coordinator: --heartbeat-interval-ms and --node-timeout-ms must be positive integers\n";
    return 2;
  }
  o.heartbeat_interval_ms = static_cast<int>(*hb);
  o.node_timeout_ms = static_cast<int>(*timeout);
  auto retain_days = f.GetDouble("retain-days");
  auto max_log_mb = f.GetInt("max-log-mb");
  // Written so that NaN fails too.
  if (!retain_days.ok() || !(*retain_days >= 0 && *retain_days <= 100000)) {
    std::cerr << "braintune-coordinator: --retain-days must be a number of days from 0 (keep forever) to 100000\n";
    return 2;
  }
  if (!max_log_mb.ok() || *max_log_mb < 0 || *max_log_mb > (int64_t{1} << 30)) {
    std::cerr << "braintune-coordinator: --max-log-mb must be a whole number of MiB, 0 (no cap) or more\n";
    return 2;
  }
  o.retain_days = *retain_days;
  o.max_log_bytes = *max_log_mb << 20;
  if (!f.Get("policy").empty()) {
    auto policy = braintune::scheduler::LoadPolicyConfig(f.Get("policy"));
    if (!policy.ok()) {
      std::cerr << "braintune-coordinator: " << policy.status().message() << "\n";
      return 2;
    }
    o.policy = *policy;
  }

  // A client that goes away mid-response (a browser tab closed over HTTPS) must cost an error on
  // that connection, not the process: TLS writes raise SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
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
  std::cerr << "braintune-coordinator: serving on port " << (*coordinator)->port() << " (db " << o.db_path
            << (o.tls_cert.empty() ? ", plaintext" : ", TLS") << (o.auth ? ", tokens required" : ", no access control")
            << ")" << std::endl;
  if ((*coordinator)->http_port() > 0) {
    std::cerr << "braintune-coordinator: metrics and dashboard on port " << (*coordinator)->http_port() << std::endl;
  }
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

// The coordinator process: wires the job store, node and job managers, the scheduling policy
// and its driver, and the gRPC server (with reflection and the standard health service) in one place.
#ifndef BRAINTUNE_COORDINATOR_COORDINATOR_H_
#define BRAINTUNE_COORDINATOR_COORDINATOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "scheduler/scheduling_policy.h"

namespace braintune::coordinator {

struct CoordinatorOptions {
  // host:port to listen on; port 0 picks a free port (see Coordinator::port()).
  std::string listen_address = "127.0.0.1:50051";
  // HOST:PORT of the HTTP side: /metrics and the dashboard (http_server.h); empty: none. The
  // same rules as listen_address: TLS when tls_cert is given, loopback only without auth.
  std::string http_address;
  // SQLite database holding every job.
  std::string db_path = "braintune.db";
  // The ranks' output of every job, shipped by the agents (`braintune logs`); default
  // <db_path>.logs.
  std::string log_dir;
  // Access control: every call needs a bearer token from the token store in db_path
  // (`braintune-coordinator token create`); off, every caller may do everything.
  bool auth = false;
  // Serve a non-loopback address without --auth (everyone who can connect is admin). Off, such
  // a coordinator refuses to start.
  bool insecure = false;
  // TLS: the server's certificate chain and private key (PEM files); empty: plaintext.
  std::string tls_cert;
  std::string tls_key;
  // How often agents heartbeat, and after how long without one a node is lost.
  int heartbeat_interval_ms = 500;
  int node_timeout_ms = 10000;
  // How often the scheduler runs when nothing wakes it.
  int schedule_interval_ms = 500;
  // At least this long between two passes (pokes in between are served by the next one).
  int min_pass_gap_ms = 50;
  // Priorities, fair share, quotas, backfill, preemption (docs/operations.md).
  scheduler::PolicyConfig policy;
  // Finished jobs (SUCCEEDED, FAILED, CANCELLED) last changed more than this long ago are
  // forgotten with their logs, at start and every prune_interval_ms; fractions of a day are
  // allowed; 0 keeps every job forever.
  double retain_days = 90;
  int64_t prune_interval_ms = 3600 * 1000;
  // The output kept of each job (`braintune logs`): past it, one truncation marker line and
  // nothing more; 0: no cap.
  int64_t max_log_bytes = int64_t{64} << 20;
};

// Thread model: Start spawns the server threads and one scheduler thread; Shutdown may be
// called from any thread (e.g. a signal-watching thread), once.
class Coordinator {
 public:
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(const CoordinatorOptions& options);
  virtual ~Coordinator() = default;
  virtual int port() const = 0;
  virtual int http_port() const = 0;  // 0 without an HTTP side
  // Blocks until Shutdown.
  virtual void Wait() = 0;
  virtual void Shutdown() = 0;
};

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_COORDINATOR_H_

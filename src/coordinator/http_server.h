// The coordinator's HTTP side (--http HOST:PORT, docs/operations.md): /metrics for Prometheus
// and the dashboard, a few pages of plain HTML, CSS and JavaScript served from the binary
// (dashboard/) that read a small JSON API:
//   GET  /metrics                      Prometheus text format (metrics.h)
//   GET  /, /jobs/ID                   the pool page, a job's page (the sign-in page without a token)
//   POST /login, /logout               sign in with a token (kept in an HttpOnly, SameSite=Strict cookie)
//   GET  /api/whoami                   who the page speaks for
//   GET  /api/jobs                     the caller's jobs (an admin's: all), newest 200
//   GET  /api/jobs/ID                  one job: events, placement, spec, progress history
//   GET  /api/jobs/ID/result.json      its result (JobResult)
//   GET  /api/jobs/ID/log?offset=N     its output from byte N (tail=BYTES: the last BYTES)
//   POST /api/jobs/ID/cancel           cancel one's own job (needs the X-Braintune-Action header)
//   GET  /api/nodes                    the nodes (ListNodes' view)
// The API's rules are the gRPC API's (auth.h): with access control users see their own jobs and
// admins all; without it (loopback only) everyone is admin. /metrics needs a metrics or admin
// token as a bearer token when access control is on. JSON is the protos' (common/json.h).
#ifndef BRAINTUNE_COORDINATOR_HTTP_SERVER_H_
#define BRAINTUNE_COORDINATOR_HTTP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "coordinator/auth.h"
#include "coordinator/job_manager.h"
#include "coordinator/log_store.h"
#include "coordinator/metrics.h"

namespace braintune::coordinator {

struct HttpOptions {
  std::string address;   // HOST:PORT; port 0 picks a free one
  std::string tls_cert;  // PEM files; empty: plaintext (as the gRPC port)
  std::string tls_key;
};

// Thread model: serves on its own threads from Start until destroyed; the managers it is given
// must outlive it. The process must ignore SIGPIPE (a TLS client that leaves mid-response would
// otherwise kill it): braintune-coordinator's main does.
class HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpOptions& options, JobManager* jobs,
                                                           LogStore* logs, const Authenticator* auth,
                                                           const Metrics* metrics);
  virtual ~HttpServer() = default;
  virtual int port() const = 0;
};

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_HTTP_SERVER_H_

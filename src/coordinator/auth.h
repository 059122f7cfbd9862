// Who is calling: the bearer token of a request, checked against the token store
// (store/token_store.h) or, for a job's ranks, as a per-launch credential (job_credentials.h).
// With access control off (no --auth; the coordinator then serves loopback only) every caller
// of the job and agent APIs is an anonymous admin, as on a single-user machine; launches still
// hold only their own credentials. docs/operations.md has the whole security model.
#ifndef BRAINTUNE_COORDINATOR_AUTH_H_
#define BRAINTUNE_COORDINATOR_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "braintune/v1/job.pb.h"
#include "coordinator/job_credentials.h"
#include "store/token_store.h"

namespace braintune::coordinator {

struct Caller {
  std::string user;     // empty when access control is off
  bool admin = false;   // sees and cancels every job
  bool agent = false;   // a worker agent (the agent API)
  std::string node;     // an agent whose token is bound to this node name (token create --node)
};

// Whether HOST:PORT (or a bare HOST, as an HTTP Host header may be) names this machine only:
// localhost, a numeric 127.x.y.z or ::1 (bracketed or not), in any letter case. Without access control
// the coordinator serves, and answers, only such addresses.
bool IsLoopbackAddress(const std::string& address);

class Authenticator {
 public:
  // `tokens` null: access control off. `credentials` outlives this.
  Authenticator(store::TokenStore* tokens, const JobCredentials* credentials)
      : tokens_(tokens), credentials_(credentials) {}
  bool enabled() const { return tokens_ != nullptr; }

  // The caller of the user API (JobService): Unauthenticated without a valid user or admin
  // token, PermissionDenied for an agent token or a job credential.
  absl::StatusOr<Caller> User(const grpc::ServerContext& ctx) const;
  // The same, for a token that came over HTTP (the dashboard's cookie); "" when none came.
  absl::StatusOr<Caller> UserByToken(const std::string& token) const;
  // Who may read /metrics: an admin or a metrics token (token create --role metrics).
  absl::Status MetricsReader(const std::string& token) const;
  // The caller of the agent API: PermissionDenied for a user's token or a job credential.
  absl::StatusOr<Caller> Agent(const grpc::ServerContext& ctx) const;
  // The ranks of one launch (ReportProgress): their job credential. Unauthenticated without one
  // when access control is on; without access control, a caller with no credential is let in.
  absl::StatusOr<std::optional<JobCredentials::Launch>> Launch(const grpc::ServerContext& ctx) const;

  // NotFound, exactly as for a job that does not exist, unless `caller` owns `job` or is an
  // admin: a user learns nothing of other users' jobs, not even which ids exist.
  static absl::Status CheckOwner(const Caller& caller, const v1::Job& job);

 private:
  // The bearer token of the request; NotFound when there is none.
  static absl::StatusOr<std::string> Bearer(const grpc::ServerContext& ctx);
  absl::StatusOr<store::TokenInfo> Lookup(const grpc::ServerContext& ctx) const;
  absl::StatusOr<store::TokenInfo> LookupToken(const std::string& token) const;
  // A user or admin token's caller; other roles are refused the job API.
  static absl::StatusOr<Caller> UserOf(const store::TokenInfo& info);
  store::TokenStore* const tokens_;
  const JobCredentials* const credentials_;
};

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_AUTH_H_

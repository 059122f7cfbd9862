// Who is calling: the bearer token of a request, checked against the token store
// (store/token_store.h). With access control off (no --auth) every caller is an anonymous
// admin, as on a single-user machine.
#ifndef BRAINTUNE_COORDINATOR_AUTH_H_
#define BRAINTUNE_COORDINATOR_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/statusor.h"
#include "braintune/v1/job.pb.h"
#include "store/token_store.h"

namespace braintune::coordinator {

struct Caller {
  std::string user;     // empty when access control is off
  bool admin = false;   // sees and cancels every job
  bool agent = false;   // a worker agent or its ranks (the agent API)
};

class Authenticator {
 public:
  // `tokens` null: access control off.
  explicit Authenticator(store::TokenStore* tokens) : tokens_(tokens) {}
  bool enabled() const { return tokens_ != nullptr; }

  // The caller of the user API (JobService): Unauthenticated without a valid user or admin
  // token, PermissionDenied for the cluster token.
  absl::StatusOr<Caller> User(const grpc::ServerContext& ctx) const;
  // The caller of the agent API: PermissionDenied for a user's token.
  absl::StatusOr<Caller> Agent(const grpc::ServerContext& ctx) const;

  // PermissionDenied unless `caller` owns `job` or is an admin; names the job, not its owner.
  static absl::Status CheckOwner(const Caller& caller, const v1::Job& job);

 private:
  absl::StatusOr<store::TokenInfo> Lookup(const grpc::ServerContext& ctx) const;
  store::TokenStore* const tokens_;
};

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_AUTH_H_

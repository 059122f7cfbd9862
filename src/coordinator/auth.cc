#include "coordinator/auth.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace braintune::coordinator {

absl::StatusOr<store::TokenInfo> Authenticator::Lookup(const grpc::ServerContext& ctx) const {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "this coordinator requires a token: set BRAINTUNE_TOKEN or ~/.config/braintune/token (ask an admin for one)");
  }
  const std::string value(it->second.data(), it->second.size());
  if (!absl::StartsWith(value, "Bearer ")) return absl::UnauthenticatedError("authorization is not 'Bearer TOKEN'");
  return tokens_->Lookup(value.substr(7));
}

absl::StatusOr<Caller> Authenticator::User(const grpc::ServerContext& ctx) const {
  if (!enabled()) return Caller{"", true, false};
  ASSIGN_OR_RETURN(store::TokenInfo info, Lookup(ctx));
  if (info.role == "agent") return absl::PermissionDeniedError("the cluster token is for worker agents, not the job API");
  return Caller{info.user, info.role == "admin", false};
}

absl::StatusOr<Caller> Authenticator::Agent(const grpc::ServerContext& ctx) const {
  if (!enabled()) return Caller{"", true, true};
  ASSIGN_OR_RETURN(store::TokenInfo info, Lookup(ctx));
  if (info.role != "agent") return absl::PermissionDeniedError("the agent API needs the cluster token");
  return Caller{info.user, false, true};
}

absl::Status Authenticator::CheckOwner(const Caller& caller, const v1::Job& job) {
  if (caller.admin || caller.user == job.user()) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(job.id(), " belongs to another user"));
}

}  // namespace braintune::coordinator

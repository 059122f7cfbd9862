#include "coordinator/auth.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace braintune::coordinator {

namespace {

// 127.a.b.c as a numeric address: a host name that merely starts with "127." (a DNS-rebinding
// domain such as 127.attacker.example resolves wherever its owner likes) is not one.
bool IsLoopbackIpv4(const std::string& host) {
  const std::vector<std::string> parts = absl::StrSplit(host, '.');
  if (parts.size() != 4 || parts[0] != "127") return false;
  for (const std::string& part : parts) {
    if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), absl::ascii_isdigit)) return false;
  }
  return true;
}

}  // namespace

bool IsLoopbackAddress(const std::string& address) {
  std::string host = absl::AsciiStrToLower(address);
  if (absl::StartsWith(host, "[")) {
    host = host.substr(0, host.find(']') + 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  return IsLoopbackIpv4(host) || host == "localhost" || host == "[::1]" || host == "::1";
}

absl::StatusOr<std::string> Authenticator::Bearer(const grpc::ServerContext& ctx) {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return absl::NotFoundError("no token");
  const std::string value(it->second.data(), it->second.size());
  if (!absl::StartsWith(value, "Bearer ")) return absl::UnauthenticatedError("authorization is not 'Bearer TOKEN'");
  return value.substr(7);
}

absl::StatusOr<store::TokenInfo> Authenticator::Lookup(const grpc::ServerContext& ctx) const {
  absl::StatusOr<std::string> token = Bearer(ctx);
  if (!token.ok() && !absl::IsNotFound(token.status())) return token.status();
  return LookupToken(token.ok() ? *token : "");
}

absl::StatusOr<store::TokenInfo> Authenticator::LookupToken(const std::string& token) const {
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "this coordinator requires a token: set BRAINTUNE_TOKEN or ~/.config/braintune/token (ask an admin for one)");
  }
  if (JobCredentials::LooksLikeOne(token)) {
    return absl::PermissionDeniedError("a job's credential serves only that job's progress reports and daemons");
  }
  return tokens_->Lookup(token);
}

absl::StatusOr<Caller> Authenticator::UserOf(const store::TokenInfo& info) {
  if (info.role == "agent") return absl::PermissionDeniedError("the cluster token is for worker agents, not the job API");
  if (info.role == "metrics") return absl::PermissionDeniedError("a metrics token serves /metrics only");
  return Caller{info.user, info.role == "admin", false, ""};
}

absl::StatusOr<Caller> Authenticator::User(const grpc::ServerContext& ctx) const {
  if (!enabled()) return Caller{"", true, false, ""};
  ASSIGN_OR_RETURN(store::TokenInfo info, Lookup(ctx));
  return UserOf(info);
}

absl::StatusOr<Caller> Authenticator::UserByToken(const std::string& token) const {
  if (!enabled()) return Caller{"", true, false, ""};
  ASSIGN_OR_RETURN(store::TokenInfo info, LookupToken(token));
  return UserOf(info);
}

absl::Status Authenticator::MetricsReader(const std::string& token) const {
  if (!enabled()) return absl::OkStatus();
  ASSIGN_OR_RETURN(store::TokenInfo info, LookupToken(token));
  if (info.role != "admin" && info.role != "metrics") {
    return absl::PermissionDeniedError("/metrics needs a metrics or admin token");
  }
  return absl::OkStatus();
}

absl::StatusOr<Caller> Authenticator::Agent(const grpc::ServerContext& ctx) const {
  if (!enabled()) return Caller{"", true, true, ""};
  ASSIGN_OR_RETURN(store::TokenInfo info, Lookup(ctx));
  if (info.role != "agent") return absl::PermissionDeniedError("the agent API needs an agent token");
  // An agent token created with --node NAME is labelled "node/NAME" and speaks for that node only.
  Caller caller{info.user, false, true, ""};
  if (absl::StartsWith(info.user, "node/")) caller.node = info.user.substr(5);
  return caller;
}

absl::StatusOr<std::optional<JobCredentials::Launch>> Authenticator::Launch(const grpc::ServerContext& ctx) const {
  absl::StatusOr<std::string> token = Bearer(ctx);
  if (token.ok() && JobCredentials::LooksLikeOne(*token)) {
    ASSIGN_OR_RETURN(JobCredentials::Launch launch, credentials_->Verify(*token));
    return std::optional<JobCredentials::Launch>(launch);
  }
  if (!enabled()) return std::optional<JobCredentials::Launch>();
  return absl::UnauthenticatedError("progress reports need the launch's job credential");
}

absl::Status Authenticator::CheckOwner(const Caller& caller, const v1::Job& job) {
  if (caller.admin || caller.user == job.user()) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("no job with id '", job.id(), "'"));
}

}  // namespace braintune::coordinator

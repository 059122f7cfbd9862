// Bearer tokens for the coordinator's APIs (docs/operations.md, "Security model"). An admin
// issues them on the coordinator's host (`braintune-coordinator token create`); only their
// SHA-256 is stored, in the coordinator's database, so the database leaks no usable token.
// Roles: "user" (their own jobs), "admin" (every job), "agent" (worker agents; the agent API
// only; an agent token bound to a node is labelled "node/NAME"). Ranks never hold these: they
// get per-launch job credentials (coordinator/job_credentials.h).
#ifndef BRAINTUNE_STORE_TOKEN_STORE_H_
#define BRAINTUNE_STORE_TOKEN_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace braintune::store {

struct TokenInfo {
  std::string id;    // the first 12 hex digits of the hash: names a token in lists and revocations
  std::string user;  // who it stands for (agents: a label)
  std::string role;  // user, admin, agent or metrics (reads /metrics only)
  int64_t created_ms = 0;
};

// Thread model: safe to call from any thread; several processes may share the database.
class TokenStore {
 public:
  virtual ~TokenStore() = default;
  // A new random token (256 bits) for `user` with `role`; the token itself is returned once and
  // never stored.
  virtual absl::StatusOr<std::string> Issue(const std::string& user, const std::string& role) = 0;
  // The token's holder; Unauthenticated for an unknown or revoked token.
  virtual absl::StatusOr<TokenInfo> Lookup(const std::string& token) = 0;
  virtual absl::StatusOr<std::vector<TokenInfo>> List() = 0;
  // NotFound when no token has this id.
  virtual absl::Status Revoke(const std::string& id) = 0;
};

// The tokens table of the coordinator's SQLite database at `path` (created if needed).
absl::StatusOr<std::unique_ptr<TokenStore>> OpenSqliteTokenStore(const std::string& path);

// SHA-256 of `text`, 64 lowercase hex digits.
std::string Sha256Hex(const std::string& text);

}  // namespace braintune::store

#endif  // BRAINTUNE_STORE_TOKEN_STORE_H_

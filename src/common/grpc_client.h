// How every client of the coordinator connects (the CLI, worker agents, the ranks' progress
// reports): plaintext or TLS, with a bearer token on every call (docs/operations.md, "Access
// control").
#ifndef BRAINTUNE_COMMON_GRPC_CLIENT_H_
#define BRAINTUNE_COMMON_GRPC_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace braintune {

struct ClientSecurity {
  std::string token;   // bearer token; empty: none
  std::string tls_ca;  // PEM file of the CA that signed the coordinator's certificate; empty: plaintext
  // The name the server's certificate must carry, when it is not the address's host (a probe
  // dialling localhost, pods at changing IPs sharing one certificate); empty: the host.
  std::string tls_server_name;

  // From the environment: BRAINTUNE_TOKEN, else the file named by BRAINTUNE_TOKEN_FILE, else
  // ~/.config/braintune/token if it exists; BRAINTUNE_TLS_CA; BRAINTUNE_TLS_SERVER_NAME.
  static ClientSecurity FromEnvironment();
};

// A channel to `address`; an error names a CA file that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address, const ClientSecurity& security);

// A call context carrying the token, with a deadline `timeout` from now (0: none).
std::unique_ptr<grpc::ClientContext> MakeContext(const ClientSecurity& security,
                                                 std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

// The first line of a file (a token file), without surrounding whitespace.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// A server's credentials: TLS from PEM files (`cert_path`, `key_path`), or plaintext when both
// are empty. Errors name the flag (--tls-cert, --tls-key) and the file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const std::string& cert_path,
                                                                                const std::string& key_path);

}  // namespace braintune

#endif  // BRAINTUNE_COMMON_GRPC_CLIENT_H_

#include "common/grpc_client.h"

#include "common/status_macros.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace braintune {

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read the token file"));
  std::string line;
  std::getline(in, line);
  line = std::string(absl::StripAsciiWhitespace(line));
  if (line.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": the token file is empty"));
  return line;
}

ClientSecurity ClientSecurity::FromEnvironment() {
  ClientSecurity s;
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  s.token = env("BRAINTUNE_TOKEN");
  std::string file = env("BRAINTUNE_TOKEN_FILE");
  if (s.token.empty() && file.empty() && !env("HOME").empty()) {
    const std::string fallback = env("HOME") + "/.config/braintune/token";
    if (std::ifstream(fallback).good()) file = fallback;
  }
  if (s.token.empty() && !file.empty()) {
    absl::StatusOr<std::string> t = ReadTokenFile(file);
    if (t.ok()) s.token = *t;  // an unreadable file shows up as UNAUTHENTICATED with its reason
  }
  s.tls_ca = env("BRAINTUNE_TLS_CA");
  s.tls_server_name = env("BRAINTUNE_TLS_SERVER_NAME");
  return s;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address, const ClientSecurity& security) {
  if (security.tls_ca.empty()) return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  absl::StatusOr<std::string> pem = ReadWholeFile(security.tls_ca, "the TLS CA certificate");
  if (!pem.ok()) return pem.status();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = *std::move(pem);
  grpc::ChannelArguments args;
  if (!security.tls_server_name.empty()) args.SetSslTargetNameOverride(security.tls_server_name);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

std::unique_ptr<grpc::ClientContext> MakeContext(const ClientSecurity& security, std::chrono::milliseconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!security.token.empty()) ctx->AddMetadata("authorization", "Bearer " + security.token);
  if (timeout.count() > 0) ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const std::string& cert_path,
                                                                                const std::string& key_path) {
  if (cert_path.empty() && key_path.empty()) return grpc::InsecureServerCredentials();
  auto read = [](const std::string& path, const char* flag) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::string> pem = ReadWholeFile(path, flag);
    if (path.empty() || !pem.ok()) return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": cannot read"));
    return pem;
  };
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain, read(cert_path, "--tls-cert"));
  ASSIGN_OR_RETURN(pair.private_key, read(key_path, "--tls-key"));
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back(pair);
  return grpc::SslServerCredentials(ssl);
}

}  // namespace braintune

// braintune-rsh: OpenMPI's rsh agent for multi-node jobs (mpirun --mca plm_rsh_agent
// braintune-rsh), so nodes need no sshd. mpirun calls it as `braintune-rsh HOST COMMAND...`
// to start its daemon on HOST; it asks HOST's worker agent to run the command (NodeExec,
// proto/braintune/v1/agent_service.proto) and relays the output and the exit code.
//
// The launching agent sets BRAINTUNE_EXEC_HOSTS ("node=host:port,...": each node's NodeExec
// endpoint) and BRAINTUNE_TOKEN (the launch's own job credential, which the target agent has the
// coordinator check) in mpirun's environment. The target agent runs the daemon as the job's
// Unix account, with the job's GPUs of that node.
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "braintune/v1/agent_service.grpc.pb.h"
#include "common/grpc_client.h"

namespace {

// The value for `node` in an environment variable of "node=value" entries split by `sep`
// ("" when the variable or the node is absent).
std::string ValueFor(const char* variable, char sep, const std::string& node) {
  const char* list = std::getenv(variable);
  for (absl::string_view entry : absl::StrSplit(list ? list : "", sep, absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    if (kv.first == node) return kv.second;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  int i = 1;
  while (i < argc && argv[i][0] == '-') ++i;  // options an ssh-style caller may add
  if (argc - i < 2) {
    std::cerr << "usage: braintune-rsh HOST COMMAND... (OpenMPI's plm_rsh_agent; see the header of "
                 "services/braintune-rsh/main.cc)\n";
    return 2;
  }
  const std::string host = argv[i];
  const std::string endpoint = ValueFor("BRAINTUNE_EXEC_HOSTS", ',', host);
  if (endpoint.empty()) {
    const char* hosts = std::getenv("BRAINTUNE_EXEC_HOSTS");
    std::cerr << "braintune-rsh: no worker agent endpoint for node '" << host << "' in BRAINTUNE_EXEC_HOSTS ("
              << (hosts ? hosts : "unset") << ")\n";
    return 255;
  }
  // Like ssh: the remote side runs the words joined by spaces with /bin/sh.
  braintune::v1::ExecRequest req;
  const char* credential = std::getenv("BRAINTUNE_TOKEN");
  req.set_job_credential(credential ? credential : "");
  for (int w = i + 1; w < argc; ++w) req.add_argv(argv[w]);
  // TLS when the pool uses it (the launching agent passes its CA down as BRAINTUNE_TLS_CA, and
  // the name the agents' certificate carries, when it is not their address, as
  // BRAINTUNE_EXEC_TLS_SERVER_NAME).
  const char* ca = std::getenv("BRAINTUNE_TLS_CA");
  const char* name = std::getenv("BRAINTUNE_EXEC_TLS_SERVER_NAME");
  auto channel = braintune::MakeChannel(endpoint, {"", ca ? ca : "", name ? name : ""});
  if (!channel.ok()) {
    std::cerr << "braintune-rsh: " << channel.status().message() << "\n";
    return 255;
  }
  auto stub = braintune::v1::NodeExec::NewStub(*channel);
  grpc::ClientContext ctx;
  auto reader = stub->Exec(&ctx, req);
  braintune::v1::ExecOutput out;
  int code = 255;
  while (reader->Read(&out)) {
    if (!out.data().empty()) std::cout << out.data() << std::flush;
    if (out.exited()) code = out.exit_code();
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) {
    std::cerr << "braintune-rsh: " << host << " (" << endpoint << "): " << s.error_message() << "\n";
    return 255;
  }
  return code;
}

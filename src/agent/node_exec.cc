#include "agent/node_exec.h"

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/process_launcher.h"
#include "common/files.h"

namespace braintune::agent {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

NodeExecService::NodeExecService(std::string work_dir, int kill_grace_ms)
    : work_dir_(std::move(work_dir)), kill_grace_ms_(kill_grace_ms) {}

void NodeExecService::SetSecret(const std::string& secret) {
  absl::MutexLock lock(&mu_);
  secret_ = secret;
}

grpc::Status NodeExecService::Exec(grpc::ServerContext* ctx, const v1::ExecRequest* req,
                                   grpc::ServerWriter<v1::ExecOutput>* writer) {
  {
    absl::MutexLock lock(&mu_);
    if (secret_.empty() || req->secret() != secret_) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "NodeExec: wrong or missing agent secret");
    }
  }
  if (req->argv_size() == 0 || req->argv_size() > 4096) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "argv: 1 to 4096 arguments");
  }
  const std::string dir = work_dir_ + "/exec";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string log = absl::StrCat(dir, "/", ::getpid(), "-", next_++, ".log");
  std::vector<std::string> argv(req->argv().begin(), req->argv().end());
  std::cerr << "braintune-worker: exec for a peer: " << absl::StrJoin(argv, " ").substr(0, 200) << std::endl;
  absl::StatusOr<ManagedProcess> p = ManagedProcess::Start(argv, {}, log);
  if (!p.ok()) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string(p.status().message()));
  int64_t sent = 0;
  bool caller_gone = false;
  for (;;) {
    const ExitInfo exit = p->Poll();  // before reading: output read after the exit is all of it
    FileRange piece = ReadFileRange(log, sent, 64 << 10);
    if (!piece.data.empty()) {
      sent += static_cast<int64_t>(piece.data.size());
      v1::ExecOutput out;
      out.set_data(std::move(piece.data));
      if (!caller_gone && !writer->Write(out)) caller_gone = true;
      continue;
    }
    if (exit.exited) {
      v1::ExecOutput out;
      out.set_exited(true);
      out.set_exit_code(exit.exit_code);
      if (!caller_gone) writer->Write(out);
      break;
    }
    // mpirun (through braintune-rsh) gone: stop the daemon and everything it started.
    if (caller_gone || ctx->IsCancelled()) p->Stop(NowMs(), kill_grace_ms_);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::filesystem::remove(log, ec);
  return grpc::Status::OK;
}

}  // namespace braintune::agent

#include "agent/node_exec.h"

#include <unistd.h>

#include <chrono>
#include <map>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/process_launcher.h"
#include "agent/run_as.h"
#include "common/files.h"

namespace braintune::agent {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool IsDaemonCommand(const std::string& command) {
  size_t i = 0;
  const size_t n = command.size();
  auto skip_spaces = [&] {
    while (i < n && command[i] == ' ') ++i;
  };
  auto word = [&] {
    const size_t start = i;
    while (i < n && command[i] != ' ' && command[i] != ';') ++i;
    return command.substr(start, i - start);
  };
  // Prefixes as mpirun writes them: NAME=value ; and export NAME ;
  for (;;) {
    skip_spaces();
    const size_t mark = i;
    std::string w = word();
    if (w == "export") {
      skip_spaces();
      word();
      skip_spaces();
      if (i < n && command[i] == ';') {
        ++i;
        continue;
      }
      return false;
    }
    const size_t eq = w.find('=');
    if (eq != std::string::npos && eq > 0) {
      skip_spaces();
      if (i < n && command[i] == ';') {
        ++i;
        continue;
      }
      return false;
    }
    i = mark;
    break;
  }
  skip_spaces();
  const std::string program = word();
  if (program != "orted" && !(program.size() > 6 && program.compare(program.size() - 6, 6, "/orted") == 0)) return false;
  // The arguments: quoted text may hold anything but substitutions; unquoted, no other command.
  char quote = 0;
  for (; i < n; ++i) {
    const char c = command[i];
    if (quote == '\'') {
      if (c == '\'') quote = 0;
      continue;
    }
    if (c == '`' || (c == '$' && i + 1 < n && command[i + 1] == '(')) return false;
    if (quote == '"') {
      if (c == '"') quote = 0;
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == ';' || c == '&' || c == '|' || c == '<' || c == '>' || c == '\n' || c == '\\') {
      return false;
    }
  }
  return quote == 0;
}

NodeExecService::NodeExecService(std::string work_dir, int kill_grace_ms, Authorizer authorize)
    : work_dir_(std::move(work_dir)), kill_grace_ms_(kill_grace_ms), authorize_(std::move(authorize)) {}

grpc::Status NodeExecService::Exec(grpc::ServerContext* ctx, const v1::ExecRequest* req,
                                   grpc::ServerWriter<v1::ExecOutput>* writer) {
  if (req->job_credential().empty() || req->job_credential().size() > 256) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "NodeExec: a job credential is required");
  }
  absl::StatusOr<v1::AuthorizeExecResponse> job = authorize_(req->job_credential());
  if (!job.ok()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, std::string(job.status().message()));
  }
  if (req->argv_size() == 0 || req->argv_size() > 4096) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "argv: 1 to 4096 arguments");
  }
  const std::string command = absl::StrJoin(req->argv(), " ");
  if (command.size() > (1 << 20) || !IsDaemonCommand(command)) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "NodeExec runs OpenMPI's daemon (orted) only");
  }
  absl::StatusOr<std::optional<RunAs>> who = ResolveRunAs(job->account(), job->multi_user());
  if (!who.ok()) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string(who.status().message()));
  const std::string dir = work_dir_ + "/exec";
  const std::string job_dir = absl::StrCat(work_dir_, "/jobs/", job->job_id());
  if (absl::Status s = MakeOwnedDirectory(dir, std::nullopt, 0700); !s.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, std::string(s.message()));
  if (absl::Status s = MakeOwnedDirectory(job_dir, *who, 0700); !s.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string(s.message()));
  }
  const std::string log = absl::StrCat(dir, "/", ::getpid(), "-", next_++, ".log");
  std::map<std::string, std::string> env;
  if (!job->gpus().empty()) env["CUDA_VISIBLE_DEVICES"] = absl::StrJoin(job->gpus(), ",");
  env["TMPDIR"] = job_dir;  // OpenMPI's session directory: the job's own (agent.cc)
  if (!*who && ::geteuid() == 0) env.insert({{"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}});
  std::cerr << "braintune-worker: daemon for " << job->job_id() << (*who ? " as " + (*who)->name : "") << ": "
            << command.substr(0, 200) << std::endl;
  absl::StatusOr<ManagedProcess> p = ManagedProcess::Start({"/bin/sh", "-c", command}, env, log, *who, job_dir);
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
  std::error_code ec;
  std::filesystem::remove(log, ec);
  return grpc::Status::OK;
}

}  // namespace braintune::agent

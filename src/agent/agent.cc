#include "agent/agent.h"

#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/node_exec.h"
#include "agent/process_launcher.h"
#include "agent/run_as.h"
#include "common/atomic_file.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/status_macros.h"
#include "braintune/v1/agent_service.grpc.pb.h"

namespace braintune::agent {
namespace {

namespace fs = std::filesystem;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int CountCudaDevices() {
  int n = 0;
  while (fs::exists("/dev/nvidia" + std::to_string(n))) ++n;
  return n;
}

// `name` next to this binary if it is there, else `name` (searched on PATH).
std::string Sibling(const std::string& name) {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path candidate = self.parent_path() / name;
    if (fs::exists(candidate)) return candidate.string();
  }
  return name;
}

void Log(const std::string& msg) { std::cerr << "braintune-worker: " << msg << std::endl; }

// 64 random bits, hex: names this agent process (NodeInfo.instance_id).
std::string RandomId() {
  std::random_device rd;
  return absl::StrFormat("%08x%08x", rd(), rd());
}

// Most of a job's output sent with one heartbeat.
constexpr int64_t kLogPieceBytes = 256 << 10;
// Most output of all jobs sent with one heartbeat (the rest comes with the next).
constexpr int64_t kLogBytesPerHeartbeat = 2 << 20;

// A job this agent holds: running, or exited and not yet both recorded by the coordinator and
// shipped to it in full.
struct HeldJob {
  std::optional<ManagedProcess> process;
  int attempt = 0;
  std::string log_path;
  std::string output_dir;
  int64_t log_start = 0;    // this launch's output starts here in log_path (earlier launches' before)
  int64_t log_acked = 0;    // bytes of this launch's output the coordinator holds
  bool log_done = false;    // ...and it holds all of it
  bool forget = false;      // the coordinator has recorded the exit
  bool kill_requested = false;
  ExitInfo exit;  // exit.exited also set when the launch itself failed
};

// Thread model: one thread (RunAgent's) runs it; the NodeExec service it hands the secret to
// serves on gRPC's threads.
class Agent {
 public:
  Agent(AgentOptions options, std::shared_ptr<grpc::Channel> channel, NodeExecService* exec, std::string exec_address)
      : options_(std::move(options)),
        security_{options_.token, options_.tls_ca},
        channel_(std::move(channel)),
        exec_(exec),
        exec_address_(std::move(exec_address)) {
    stub_ = v1::AgentService::NewStub(channel_);
  }

  void Run(const std::atomic<bool>& stop) {
    bool registered = false;
    int64_t interval_ms = 500;
    while (!stop.load()) {
      if (!registered) {
        registered = Register(&interval_ms);
      } else {
        registered = HeartbeatOnce();
      }
      ReapAndStop();
      int64_t wait = registered ? interval_ms : 1000;
      for (int64_t waited = 0; waited < wait && !stop.load(); waited += 50) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    // Leaving: stop what still runs so no rank outlives its agent.
    for (auto& [id, job] : jobs_) job.kill_requested = true;
    int64_t give_up = NowMs() + options_.kill_grace_ms + 1000;
    bool all_gone = false;
    while (!all_gone && NowMs() < give_up) {
      ReapAndStop();
      all_gone = true;
      for (auto& [id, job] : jobs_) all_gone = all_gone && (!job.process || job.exit.exited);
      if (!all_gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

 private:
  bool Register(int64_t* interval_ms) {
    v1::RegisterNodeRequest req;
    v1::NodeInfo* node = req.mutable_node();
    node->set_name(options_.name);
    node->set_address(options_.address);
    node->set_cpu_slots(options_.cpu_slots);
    node->set_gpus(options_.gpus);
    node->set_agent_version("0.1.0");
    node->set_exec_address(exec_address_);
    node->set_instance_id(instance_id_);
    v1::RegisterNodeResponse resp;
    grpc::Status s = stub_->RegisterNode(MakeContext(security_, std::chrono::seconds(5)).get(), req, &resp);
    if (!s.ok()) {
      if (!warned_unreachable_) Log(absl::StrCat("cannot register with ", options_.coordinator, ": ", s.error_message(), " (retrying)"));
      warned_unreachable_ = true;
      return false;
    }
    warned_unreachable_ = false;
    if (resp.heartbeat_interval_ms() > 0) *interval_ms = resp.heartbeat_interval_ms();
    Log(absl::StrCat("registered node ", options_.name, " with ", options_.cpu_slots, " CPU slots and ",
                     options_.gpus, " GPUs at ", options_.coordinator, "; NodeExec on ", exec_address_));
    return true;
  }

  bool HeartbeatOnce() {
    v1::HeartbeatRequest req;
    req.set_node_name(options_.name);
    // However many jobs ship output, the request stays far below gRPC's 4 MiB limit.
    int64_t log_budget = kLogBytesPerHeartbeat;
    for (auto& [id, job] : jobs_) {
      v1::JobRuntime* rt = req.add_jobs();
      rt->set_job_id(id);
      rt->set_exited(job.exit.exited);
      rt->set_exit_code(job.exit.exit_code);
      rt->set_term_signal(job.exit.term_signal);
      rt->set_log_path(job.log_path);
      rt->set_output_dir(job.output_dir);
      rt->set_killed_by_request(job.kill_requested);
      rt->set_attempt(job.attempt);
      if (!job.log_done) {
        // Read the exit first: a piece read after it is the output's last when it reaches the end.
        const bool exited = job.exit.exited;
        FileRange piece =
            ReadFileRange(job.log_path, job.log_start + job.log_acked, std::min(kLogPieceBytes, log_budget));
        log_budget -= static_cast<int64_t>(piece.data.size());
        rt->set_log_offset(job.log_acked);
        rt->set_log_complete(exited && job.log_start + job.log_acked + static_cast<int64_t>(piece.data.size()) >= piece.size);
        rt->set_log_data(std::move(piece.data));
      }
    }
    v1::HeartbeatResponse resp;
    grpc::Status s = stub_->Heartbeat(MakeContext(security_, std::chrono::seconds(5)).get(), req, &resp);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      Log("coordinator does not know this node (restarted?); registering again");
      return false;
    }
    if (!s.ok()) {
      Log(absl::StrCat("heartbeat failed: ", s.error_message()));
      return false;
    }
    for (const auto& ack : resp.log_acks()) {
      auto it = jobs_.find(ack.job_id());
      if (it == jobs_.end() || it->second.attempt != ack.attempt()) continue;
      it->second.log_acked = ack.offset();
      it->second.log_done = ack.complete();
    }
    for (const auto& id : resp.forget_job_ids()) {
      auto it = jobs_.find(id);
      if (it != jobs_.end() && it->second.exit.exited) it->second.forget = true;
    }
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      const HeldJob& job = it->second;
      it = job.exit.exited && job.forget && job.log_done ? jobs_.erase(it) : std::next(it);
    }
    for (const auto& id : resp.kill_job_ids()) {
      auto it = jobs_.find(id);
      if (it != jobs_.end() && !it->second.exit.exited) {
        if (!it->second.kill_requested) Log(absl::StrCat("stopping ", id));
        it->second.kill_requested = true;
      }
    }
    for (const auto& launch : resp.launch()) {
      if (!jobs_.count(launch.job_id())) Launch(launch);
    }
    return true;
  }

  // Starts a launch's mpirun as the job's Unix account (run_as.h): its working and output
  // directory <work>/jobs/<id> is the account's (0700); its spec (<work>/specs, readable by the
  // account only) and its log (<work>/logs, the agent's only) sit where the job cannot swap them.
  void Launch(const v1::LaunchJob& launch) {
    HeldJob job;
    job.attempt = launch.attempt();
    const fs::path work = fs::absolute(fs::path(options_.work_dir));
    const std::string& id = launch.job_id();
    job.log_path = (work / "logs" / (id + ".log")).string();
    job.output_dir = (work / "jobs" / id).string();
    std::error_code ec;
    job.log_start = static_cast<int64_t>(fs::file_size(job.log_path, ec));
    if (ec) job.log_start = 0;
    absl::Status started = Start(launch, &job);
    if (!started.ok()) {
      Log(absl::StrCat("cannot launch ", id, ": ", started.message()));
      AppendToLog(job.log_path, absl::StrCat("braintune-worker: launch failed: ", started.message(), "\n"));
      job.exit = {true, 127, 0};
    }
    jobs_[id] = std::move(job);
  }

  absl::Status Start(const v1::LaunchJob& launch, HeldJob* job) {
    const fs::path work = fs::absolute(fs::path(options_.work_dir));
    const std::string& id = launch.job_id();
    RETURN_IF_ERROR(MakeOwnedDirectory((work / "logs").string(), std::nullopt, 0700));
    ASSIGN_OR_RETURN(std::optional<RunAs> who, ResolveRunAs(launch.account(), launch.multi_user()));
    RETURN_IF_ERROR(MakeOwnedDirectory((work / "specs").string(), std::nullopt, 0711));
    RETURN_IF_ERROR(MakeOwnedDirectory((work / "jobs").string(), std::nullopt, 0755));
    RETURN_IF_ERROR(MakeOwnedDirectory(job->output_dir, who, 0700));
    const std::string spec_path = (work / "specs" / (id + ".yaml")).string();
    RETURN_IF_ERROR(WriteSpec(spec_path, launch.spec().spec_yaml(), who));
    int ranks = 0;
    std::vector<std::string> hosts, endpoints;  // per node: mpirun's --host, braintune-rsh's
    for (const auto& p : launch.placements()) {
      ranks += p.slots();
      hosts.push_back(absl::StrCat(p.node(), ":", p.slots()));
      endpoints.push_back(absl::StrCat(p.node(), "=", p.exec_address()));
    }
    std::vector<std::string> argv = {options_.mpirun, "-np", std::to_string(ranks)};
    if (launch.placements_size() > 1) {
      // Every node's daemon is started through its agent (braintune-rsh), this one's included:
      // mpirun knows the nodes by their braintune names, not by this host's name.
      argv.insert(argv.end(), {"--host", absl::StrJoin(hosts, ","), "--mca", "plm_rsh_agent", options_.rsh_binary});
    }
    argv.insert(argv.end(), options_.mpirun_args.begin(), options_.mpirun_args.end());
    argv.insert(argv.end(), {options_.train_binary, "--spec", spec_path, "--job-id", id, "--coordinator",
                             options_.coordinator, "--output-dir", job->output_dir});
    std::map<std::string, std::string> env = {{"OMPI_MCA_btl_base_warn_component_unused", "0"}};
    if (!who && ::geteuid() == 0) {  // a single-user pool's agent running as root runs its jobs as root
      env.insert({{"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}});
    }
    env["BRAINTUNE_EXEC_HOSTS"] = absl::StrJoin(endpoints, ",");  // for braintune-rsh
    // OpenMPI's session directory and any scratch file: the job's own, not a /tmp name that
    // another account may hold.
    env["TMPDIR"] = job->output_dir;
    // The launch's own credential, never the agent's token: the ranks report this job's progress
    // with it, and braintune-rsh starts this job's daemons on its other nodes with it.
    env["BRAINTUNE_TOKEN"] = launch.job_credential();
    if (!security_.tls_ca.empty()) env["BRAINTUNE_TLS_CA"] = security_.tls_ca;
    if (!options_.exec_tls_server_name.empty()) env["BRAINTUNE_EXEC_TLS_SERVER_NAME"] = options_.exec_tls_server_name;
    // GPU pinning: the ranks see only the job's GPUs of their node (a rank takes the
    // local_rank-th). Other nodes' agents pin their daemons' ranks from the coordinator's word.
    if (launch.spec().gpus_per_rank() > 0) {
      for (const auto& p : launch.placements()) {
        if (p.node() == options_.name) env["CUDA_VISIBLE_DEVICES"] = absl::StrJoin(p.gpus(), ",");
      }
    }
    AppendToLog(job->log_path,
                absl::StrCat("braintune-worker: ", who ? absl::StrCat("as ", who->name, ": ") : "", absl::StrJoin(argv, " "), "\n"));
    ASSIGN_OR_RETURN(ManagedProcess p, ManagedProcess::Start(argv, env, job->log_path, who, job->output_dir));
    Log(absl::StrCat("launched ", id, " (", ranks, " ranks, pid ", p.pid(), who ? absl::StrCat(", as ", who->name) : "",
                     "), log ", job->log_path));
    job->process = std::move(p);
    return absl::OkStatus();
  }

  // The spec, readable by the job's account only; the agent's directory, so no symlink of the
  // job's can redirect the write.
  static absl::Status WriteSpec(const std::string& path, const std::string& text, const std::optional<RunAs>& who) {
    RETURN_IF_ERROR(WriteFileAtomically(path, text, 0600));
    if (who && ::lchown(path.c_str(), who->uid, who->gid) != 0) {
      return absl::UnavailableError(absl::StrCat(path, ": cannot give the job spec to '", who->name, "': ",
                                                 std::strerror(errno)));
    }
    return absl::OkStatus();
  }

  static void AppendToLog(const std::string& path, const std::string& line) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return;
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
  }

  void ReapAndStop() {
    for (auto& [id, job] : jobs_) {
      if (!job.process || job.exit.exited) continue;
      if (job.kill_requested) job.process->Stop(NowMs(), options_.kill_grace_ms);
      job.exit = job.process->Poll();
      if (job.exit.exited) {
        Log(absl::StrCat(id, " ended: exit code ", job.exit.exit_code,
                         job.exit.term_signal ? absl::StrCat(", signal ", job.exit.term_signal) : ""));
      }
    }
  }

  const AgentOptions options_;
  const ClientSecurity security_;
  std::shared_ptr<grpc::Channel> channel_;
  NodeExecService* const exec_;
  const std::string exec_address_;
  const std::string instance_id_ = RandomId();
  std::unique_ptr<v1::AgentService::Stub> stub_;
  std::map<std::string, HeldJob> jobs_;
  bool warned_unreachable_ = false;
};

}  // namespace

absl::Status RunAgent(const AgentOptions& options_in, const std::atomic<bool>& stop) {
  AgentOptions options = options_in;
  if (options.name.empty()) {
    char host[256] = {0};
    ::gethostname(host, sizeof(host) - 1);
    options.name = host;
  }
  if (options.cpu_slots <= 0) options.cpu_slots = static_cast<int>(std::thread::hardware_concurrency());
  if (options.gpus < 0) options.gpus = CountCudaDevices();
  if (options.train_binary.empty()) options.train_binary = Sibling("braintune-train");
  if (options.rsh_binary.empty()) options.rsh_binary = Sibling("braintune-rsh");
  if (options.kill_grace_ms < 0) return absl::InvalidArgumentError("--kill-grace-ms must be >= 0");
  std::error_code ec;
  fs::create_directories(options.work_dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("--work-dir ", options.work_dir, ": ", ec.message()));
  if (::geteuid() == 0) RETURN_IF_ERROR(SecureWorkDirectory(options.work_dir));
  if (!options.tls_ca.empty()) options.tls_ca = fs::absolute(options.tls_ca).string();  // the ranks run elsewhere
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(options.coordinator, {options.token, options.tls_ca});
  if (!channel.ok()) return channel.status();
  // The NodeExec server, for other nodes' multi-node launches.
  // Whose launch a NodeExec caller's credential is: asked of the coordinator, with this agent's token.
  std::shared_ptr<v1::AgentService::Stub> authorizer = v1::AgentService::NewStub(*channel);
  const ClientSecurity security{options.token, options.tls_ca};
  NodeExecService exec(fs::absolute(options.work_dir).string(), options.kill_grace_ms,
                       [authorizer, security, node = options.name](const std::string& credential)
                           -> absl::StatusOr<v1::AuthorizeExecResponse> {
                         v1::AuthorizeExecRequest req;
                         req.set_node_name(node);
                         req.set_job_credential(credential);
                         v1::AuthorizeExecResponse resp;
                         grpc::Status s =
                             authorizer->AuthorizeExec(MakeContext(security, std::chrono::seconds(10)).get(), req, &resp);
                         if (!s.ok()) return absl::PermissionDeniedError(s.error_message());
                         return resp;
                       });
  grpc::ServerBuilder builder;
  int port = 0;
  if (!options.tls_ca.empty() && options.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "the coordinator uses TLS (--tls-ca), so NodeExec must too: give this node's --tls-cert and --tls-key");
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> exec_credentials =
      MakeServerCredentials(options.tls_cert, options.tls_key);
  if (!exec_credentials.ok()) return exec_credentials.status();
  builder.AddListeningPort(absl::StrCat(options.address, ":", options.exec_port), *exec_credentials, &port);
  builder.RegisterService(&exec);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot serve NodeExec on ", options.address, ":", options.exec_port));
  }
  Agent(options, *channel, &exec, absl::StrCat(options.address, ":", port)).Run(stop);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return absl::OkStatus();
}

}  // namespace braintune::agent

#include "cli/cli.h"

#include <grpcpp/grpcpp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "braintune/v1/job_service.grpc.pb.h"
#include "cli/format.h"
#include "common/files.h"
#include "common/flags.h"
#include "common/grpc_client.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "config/job_spec.h"
#include "google/protobuf/struct.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "cli/cli_util.h"
#include "cli/dataset_commands.h"
#include "cli/eval_command.h"

namespace braintune::cli {
namespace {

namespace fs = std::filesystem;


std::string DefaultCoordinator() {
  const char* env = std::getenv("BRAINTUNE_COORDINATOR");
  return env && *env ? env : "127.0.0.1:50051";
}

std::string CurrentUser() {
  const char* env = std::getenv("USER");
  if (env && *env) return env;
  const passwd* pw = ::getpwuid(::getuid());
  return pw && pw->pw_name ? pw->pw_name : "";
}

void AddCommonFlags(Flags& f) {
  f.Value("coordinator", DefaultCoordinator(), "coordinator HOST:PORT (env BRAINTUNE_COORDINATOR)")
      .Value("output", "table", "output format: table or json");
}

std::string StateName(v1::JobState s) { return v1::JobState_Name(s); }
bool IsTerminal(v1::JobState s) { return s == v1::SUCCEEDED || s == v1::FAILED || s == v1::CANCELLED; }

std::string Ago(int64_t ms) {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  return FormatDuration((now - ms) / 1000.0) + " ago";
}

// One connection to the coordinator's JobService with errors a user can act on.
class Client {
 public:
  // The token and TLS CA come from the environment (BRAINTUNE_TOKEN, BRAINTUNE_TLS_CA;
  // common/grpc_client.h); an unreadable CA file ends the command with its name.
  explicit Client(std::string address) : address_(std::move(address)), security_(ClientSecurity::FromEnvironment()) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(address_, security_);
    if (!channel.ok()) std::exit(Fail(std::string(channel.status().message()), kUsage));
    stub_ = v1::JobService::NewStub(*channel);
  }

  v1::JobService::Stub* stub() { return stub_.get(); }

  // For a call with a deadline `seconds` from now (0: a stream that lasts as long as it must).
  std::unique_ptr<grpc::ClientContext> Context(int seconds = 10) {
    return MakeContext(security_, std::chrono::seconds(seconds));
  }

  std::string Explain(const grpc::Status& s) const {
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::StrCat("cannot reach the coordinator at ", address_, " (", s.error_message(),
                          "); is braintune-coordinator running? (--coordinator HOST:PORT)");
    }
    return s.error_message();
  }

 private:
  std::string address_;
  ClientSecurity security_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

// "training step 40/300  loss 0.8403  4.46 steps/s  ETA 1m02s"; evaluation jobs report
// stages, not optimizer steps: "fitting tuned (stage 5/6)".
std::string ProgressText(const v1::Job& job) {
  const v1::Progress& p = job.progress();
  if (job.spec().kind() == "evaluate") return absl::StrFormat("%s (stage %d/%d)", p.phase(), p.step(), p.total_steps());
  const double eta = p.steps_per_sec() > 0 ? (p.total_steps() - p.step()) / p.steps_per_sec() : 0;
  return absl::StrFormat("%s step %d/%d  loss %.4f  %.2f steps/s  ETA %s", p.phase(), p.step(), p.total_steps(),
                         p.loss(), p.steps_per_sec(), FormatDuration(eta));
}

void PrintResult(const v1::Job& job) {
  const v1::JobResult& r = job.result();
  if (r.has_evaluation()) {
    std::cout << FormatEvaluation(r.evaluation());
    return;
  }
  if (r.scores_size() == 0) return;
  std::vector<std::vector<std::string>> rows = {{"PARTICIPANT", "RANK", "R_UNTRAINED", "R_TUNED"}};
  for (const auto& s : r.scores()) {
    rows.push_back({s.participant(), std::to_string(s.rank()), absl::StrFormat("%.3f", s.pearson_r_untrained()),
                    absl::StrFormat("%.3f", s.pearson_r())});
  }
  rows.push_back({"mean", "", absl::StrFormat("%.3f", r.mean_pearson_r_untrained()),
                  absl::StrFormat("%.3f", r.mean_pearson_r())});
  std::cout << "\nheld-out story " << r.test_story() << ": Pearson r per participant (mean over targets)\n"
            << FormatTable(rows) << "\n"
            << absl::StrFormat("steps:       %d (%.2f steps/s, %.1f samples/s)\n", r.steps(), r.steps_per_sec(),
                               r.samples_per_sec())
            << "checkpoint:  " << r.checkpoint_path() << "\n"
            << "outputs:     " << r.output_dir() << "\n";
}

void PrintJob(const v1::Job& job) {
  std::vector<std::vector<std::string>> rows = {
      {"id:", job.id()},
      {"name:", job.spec().name()},
      {"user:", job.user()},
      {"state:", StateName(job.state())},
      {"message:", job.message()},
      {"ranks:", std::to_string(job.spec().ranks())},
      {"submitted:", Ago(job.created_ms())},
  };
  if (job.state() == v1::QUEUED && job.queue_position() > 0) {
    rows.push_back({"queue:", absl::StrCat("position ", job.queue_position())});
  }
  std::vector<std::string> where;
  for (const auto& p : job.placements()) where.push_back(absl::StrCat(p.node(), ":", p.slots()));
  if (!where.empty()) rows.push_back({"placement:", absl::StrJoin(where, ", ")});
  if (job.progress().total_steps() > 0) {
    rows.push_back({"progress:", ProgressText(job)});
  }
  // The loss over the run (the coordinator's history), as a sparkline with its first, last and
  // lowest values.
  for (const bool validation : {false, true}) {
    std::vector<double> values;
    for (const v1::ProgressPoint& p : job.history()) {
      if (!validation) values.push_back(p.loss());
      else if (p.has_validation_loss()) values.push_back(p.validation_loss());
    }
    if (values.size() < 2) continue;
    rows.push_back({validation ? "validation:" : "loss:",
                    absl::StrFormat("%s  %.4f -> %.4f (lowest %.4f)", Sparkline(values), values.front(), values.back(),
                                    *std::min_element(values.begin(), values.end()))});
  }
  if (!job.log_path().empty()) rows.push_back({"log:", job.log_path()});
  std::cout << FormatTable(rows);
  if (job.events_size() > 0) {
    std::vector<std::vector<std::string>> ev = {{"  WHEN", "STATE", "WHY"}};
    for (const auto& e : job.events()) ev.push_back({"  " + Ago(e.time_ms()), StateName(e.state()), e.message()});
    std::cout << "events:\n" << FormatTable(ev);
  }
  PrintResult(job);
}

// Streams a job's changes until it ends; draws a progress bar on a terminal, a line per report
// otherwise. Returns kOk only when the job SUCCEEDED.
int WatchJob(Client& client, const std::string& id, bool json) {
  auto ctx = client.Context(0);
  v1::WatchJobRequest req;
  req.set_job_id(id);
  auto reader = client.stub()->WatchJob(ctx.get(), req);
  v1::WatchJobResponse resp;
  v1::Job last;
  bool tty = ::isatty(1);
  v1::JobState shown_state = v1::JOB_STATE_UNSPECIFIED;
  int64_t shown_step = -1;
  while (reader->Read(&resp)) {
    last = resp.job();
    if (json) {
      std::cout << ToJson(last, /*one_line=*/true) << std::endl;
      continue;
    }
    const v1::Progress& p = last.progress();
    if (last.state() != shown_state) {
      if (tty && shown_step >= 0) std::cout << "\n";
      std::cout << last.id() << " " << StateName(last.state()) << ": " << last.message() << std::endl;
      shown_state = last.state();
      shown_step = -1;
    }
    if (last.state() == v1::RUNNING && p.total_steps() > 0 && p.step() != shown_step) {
      std::string line = absl::StrCat(ProgressBar(p.step(), p.total_steps()), " ", ProgressText(last));
      if (tty) {
        std::cout << "\r" << line << "\033[K" << std::flush;
      } else {
        std::cout << line << std::endl;
      }
      shown_step = p.step();
    }
  }
  grpc::Status s = reader->Finish();
  if (tty && shown_step >= 0) std::cout << "\n";
  if (!s.ok()) return Fail(client.Explain(s));
  if (!json) {
    if (IsTerminal(last.state()) && last.state() != v1::SUCCEEDED && !last.log_path().empty()) {
      std::cout << "log: " << last.log_path() << "\n";
    }
    if (last.state() == v1::SUCCEEDED) PrintResult(last);
  }
  return last.state() == v1::SUCCEEDED ? kOk : kFailed;
}

int CmdSubmit(int argc, char** argv) {
  Flags f("braintune submit FILE [flags]", "Submits the YAML job spec FILE to the coordinator and prints the job id.");
  AddCommonFlags(f);
  f.Bool("watch", "keep watching the job until it ends (exit code 0 only if it succeeds)")
      .Value("user", CurrentUser(), "submitting user");
  f.ParseOrExit(argc, argv, 2, "braintune: error");
  if (f.positional().size() != 1) return Fail("submit takes exactly one FILE (see --help)", kUsage);
  if (int rc = CheckOutputFlag(f); rc != kOk) return rc;
  const std::string& file = f.positional()[0];
  // Validate locally first: the user gets the file name and line in the message.
  absl::StatusOr<config::LoadedSpec> loaded = config::LoadJobSpecFile(file);
  if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
  // The workers read the dataset, not this machine (a laptop, or a container's view of shared
  // storage at another path): a path missing here is a warning; the job fails if they lack it too.
  if (!fs::exists(loaded->spec.data.path)) {
    std::cerr << "braintune: warning: " << file << ": data.path: " << loaded->spec.data.path
              << " does not exist on this machine; the job fails unless the workers see it there\n";
  }

  // The text alone: the coordinator derives everything it schedules by from it.
  Client client(f.Get("coordinator"));
  v1::SubmitJobRequest req;
  req.set_user(f.Get("user"));
  req.mutable_spec()->set_spec_yaml(loaded->text);
  req.mutable_spec()->set_source_file(fs::absolute(fs::path(file)).string());
  v1::SubmitJobResponse resp;
  grpc::Status s = client.stub()->SubmitJob(client.Context().get(), req, &resp);
  if (!s.ok()) return Fail(client.Explain(s));
  bool json = f.Get("output") == "json";
  if (json && !f.IsSet("watch")) {
    std::cout << ToJson(resp.job()) << "\n";
  } else if (!json) {
    std::cout << "submitted " << resp.job().id() << " (" << StateName(resp.job().state()) << ": "
              << resp.job().message() << ")\n";
  }
  if (f.IsSet("watch")) return WatchJob(client, resp.job().id(), json);
  return kOk;
}

// status, watch and cancel share their shape: one job id, a coordinator, an output format.
int CmdOneJob(int argc, char** argv, const std::string& name, const std::string& what,
              const std::function<int(Client&, const std::string&, bool)>& run) {
  Flags f(absl::StrCat("braintune ", name, " ID [flags]"), what);
  AddCommonFlags(f);
  f.ParseOrExit(argc, argv, 2, "braintune: error");
  if (f.positional().size() != 1) return Fail(absl::StrCat(name, " takes exactly one job ID (see --help)"), kUsage);
  if (int rc = CheckOutputFlag(f); rc != kOk) return rc;
  Client client(f.Get("coordinator"));
  return run(client, f.positional()[0], f.Get("output") == "json");
}

int CmdStatus(int argc, char** argv) {
  return CmdOneJob(argc, argv, "status", "Shows one job: state, why, placement, progress, events and results.",
                   [](Client& c, const std::string& id, bool json) {
                     v1::GetJobRequest req;
                     req.set_job_id(id);
                     v1::GetJobResponse resp;
                     grpc::Status s = c.stub()->GetJob(c.Context().get(), req, &resp);
                     if (!s.ok()) return Fail(c.Explain(s));
                     if (json) {
                       std::cout << ToJson(resp.job()) << "\n";
                     } else {
                       PrintJob(resp.job());
                     }
                     return kOk;
                   });
}

int CmdWatch(int argc, char** argv) {
  return CmdOneJob(argc, argv, "watch",
                   "Follows a job live (progress bar, loss, throughput) until it ends; exit code 0 only if it "
                   "SUCCEEDED. With --output json, one JSON object per line per change.",
                   [](Client& c, const std::string& id, bool json) { return WatchJob(c, id, json); });
}

int CmdCancel(int argc, char** argv) {
  return CmdOneJob(argc, argv, "cancel", "Cancels a job: queued jobs end at once, running ranks are stopped.",
                   [](Client& c, const std::string& id, bool json) {
                     v1::CancelJobRequest req;
                     req.set_job_id(id);
                     v1::CancelJobResponse resp;
                     grpc::Status s = c.stub()->CancelJob(c.Context().get(), req, &resp);
                     if (!s.ok()) return Fail(c.Explain(s));
                     if (json) {
                       std::cout << ToJson(resp.job()) << "\n";
                     } else {
                       std::cout << id << " " << StateName(resp.job().state()) << ": " << resp.job().message() << "\n";
                     }
                     return kOk;
                   });
}

// Prints a job's combined rank output (every launch, in order) as the coordinator holds it;
// with --follow, keeps printing new output until the job has ended.
int CmdLogs(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  static char follow_flag[] = "--follow";
  for (char*& a : args) {
    if (std::string(a) == "-f") a = follow_flag;
  }
  Flags f("braintune logs ID [flags]",
          "Prints the output of a job's ranks (all launches, in order), kept by the coordinator: it works from "
          "any machine and after the job ended. -f / --follow keeps printing new output until the job ends.");
  f.Value("coordinator", DefaultCoordinator(), "coordinator HOST:PORT (env BRAINTUNE_COORDINATOR)")
      .Bool("follow", "keep printing new output until the job has ended (also -f)");
  f.ParseOrExit(static_cast<int>(args.size()), args.data(), 2, "braintune: error");
  if (f.positional().size() != 1) return Fail("logs takes exactly one job ID (see --help)", kUsage);
  Client client(f.Get("coordinator"));
  auto ctx = client.Context(0);
  v1::StreamLogsRequest req;
  req.set_job_id(f.positional()[0]);
  req.set_follow(f.IsSet("follow"));
  auto reader = client.stub()->StreamLogs(ctx.get(), req);
  v1::StreamLogsResponse resp;
  while (reader->Read(&resp)) std::cout << resp.data() << std::flush;
  grpc::Status s = reader->Finish();
  return s.ok() ? kOk : Fail(client.Explain(s));
}

int CmdList(int argc, char** argv) {
  constexpr int kDefaultLimit = 100;
  Flags f("braintune list [flags]",
          "Lists jobs, oldest first: the newest 100 (--limit N: the newest N; --all: every job). Finished jobs are "
          "kept for the coordinator's --retain-days.");
  AddCommonFlags(f);
  f.Value("state", "", "only jobs in this state (e.g. RUNNING)")
      .Value("limit", "0", "only the newest N jobs (0: 100)")
      .Bool("all", "every job (fetched a page at a time)");
  f.ParseOrExit(argc, argv, 2, "braintune: error");
  if (int rc = CheckOutputFlag(f); rc != kOk) return rc;
  v1::ListJobsRequest req;
  if (!f.Get("state").empty()) {
    v1::JobState st;
    if (!v1::JobState_Parse(absl::AsciiStrToUpper(f.Get("state")), &st)) {
      return Fail(absl::StrCat("--state: unknown state '", f.Get("state"), "'"), kUsage);
    }
    req.add_states(st);
  }
  absl::StatusOr<int64_t> limit = f.GetInt("limit");
  if (!limit.ok()) return Fail(std::string(limit.status().message()), kUsage);
  if (*limit < 0) return Fail(absl::StrCat("--limit: ", *limit, " is negative"), kUsage);
  if (f.IsSet("all") && *limit > 0) return Fail("--limit and --all: give one", kUsage);
  const int wanted = f.IsSet("all") ? 0 : (*limit > 0 ? static_cast<int>(*limit) : kDefaultLimit);
  req.set_limit(wanted);
  req.set_page_size(wanted > 0 && wanted < 1000 ? wanted : 1000);  // 1000: the most a page holds
  // The coordinator replies a page at a time (each far below the message limit); all pages
  // make one list.
  Client client(f.Get("coordinator"));
  v1::ListJobsResponse resp;
  do {
    v1::ListJobsResponse page;
    grpc::Status s = client.stub()->ListJobs(client.Context().get(), req, &page);
    if (!s.ok()) return Fail(client.Explain(s));
    for (auto& job : *page.mutable_jobs()) *resp.add_jobs() = std::move(job);
    req.set_page_token(page.next_page_token());
  } while (!req.page_token().empty());
  if (f.Get("output") == "json") {
    std::cout << ToJson(resp) << "\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "NAME", "USER", "STATE", "RANKS", "PROGRESS", "SUBMITTED", "MESSAGE"}};
  for (const auto& job : resp.jobs()) {
    std::string progress = job.progress().total_steps() > 0
                               ? absl::StrCat(job.progress().step(), "/", job.progress().total_steps())
                               : "-";
    rows.push_back({job.id(), job.spec().name(), job.user(), StateName(job.state()), std::to_string(job.spec().ranks()),
                    progress, Ago(job.created_ms()), job.message()});
  }
  std::cout << FormatTable(rows);
  if (wanted > 0 && resp.jobs_size() == wanted) {
    std::cerr << "(the newest " << wanted << " jobs; --limit N or --all for more)\n";  // the table stays parseable
  }
  return kOk;
}

int CmdNodes(int argc, char** argv) {
  Flags f("braintune nodes [flags]",
          "Lists the pool's worker nodes: state, slots and GPUs in use, the jobs placed on them (yours by id, "
          "others counted), and when each last heartbeated.");
  AddCommonFlags(f);
  f.ParseOrExit(argc, argv, 2, "braintune: error");
  if (int rc = CheckOutputFlag(f); rc != kOk) return rc;
  if (!f.positional().empty()) return Fail("nodes takes no arguments (see --help)", kUsage);
  Client client(f.Get("coordinator"));
  v1::ListNodesResponse resp;
  grpc::Status s = client.stub()->ListNodes(client.Context().get(), v1::ListNodesRequest(), &resp);
  if (!s.ok()) return Fail(client.Explain(s));
  if (f.Get("output") == "json") {
    std::cout << ToJson(resp) << "\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows = {{"NODE", "STATE", "SLOTS", "GPUS", "JOBS", "HEARTBEAT"}};
  for (const v1::NodeStatus& n : resp.nodes()) {
    std::string jobs = absl::StrJoin(n.job_ids(), ",");
    if (n.other_jobs() > 0) absl::StrAppend(&jobs, jobs.empty() ? "" : " + ", n.other_jobs(), " other");
    rows.push_back({n.name(), absl::AsciiStrToLower(v1::NodeStatus::State_Name(n.state())),
                    absl::StrCat(n.slots_in_use(), "/", n.cpu_slots()), absl::StrCat(n.gpus_in_use(), "/", n.gpus()),
                    jobs.empty() ? "-" : jobs, n.last_heartbeat_ms() > 0 ? Ago(n.last_heartbeat_ms()) : "never"});
  }
  std::cout << FormatTable(rows);
  if (resp.nodes().empty()) std::cerr << "(no worker node has registered)\n";
  return kOk;
}

constexpr char kTopHelp[] =
    "usage: braintune COMMAND [args] [flags]\n\n"
    "Brain-tuning jobs on a shared pool (talk to braintune-coordinator):\n"
    "  submit FILE        submit a YAML job spec (--watch to follow it)\n"
    "  list               list jobs\n"
    "  status ID          show a job\n"
    "  watch ID           follow a job live until it ends\n"
    "  cancel ID          cancel a job\n"
    "  logs ID [-f]       print a job's output (-f: follow it until the job ends)\n"
    "  nodes              list the worker nodes and what runs on them\n"
    "  health             exit 0 only when the coordinator serves (gRPC health check)\n"
    "Evaluation (runs here):\n"
    "  eval SPEC          brain alignment of the models of a spec of kind evaluate (HTML report)\n"
    "  features SPEC      model features of a spec of kind features, to HDF5 for your own analyses\n"
    "Datasets (local tools):\n"
    "  dataset validate FILE      check everything, list every problem with its path\n"
    "  dataset inspect FILE       summarise participants, stories, targets, optional parts\n"
    "  dataset synth --out FILE   synthetic brain with a known stimulus-to-response mapping\n"
    "  dataset import-lebel DIR   convert an OpenNeuro ds003020 tree into one braintune file\n"
    "  dataset import-narratives DIR   the same for Narratives (ds002345, fsaverage6 or volumes)\n"
    "  dataset import-meg-masc DIR     the same for MEG-MASC (BIDS MEG, KIT or FIF, MNE)\n\n"
    "Every command takes --help. Job commands take --coordinator HOST:PORT and --output json.\n";

}  // namespace

int CmdHealth(int argc, char** argv) {
  Flags f("braintune health [flags]",
          "Asks the coordinator's gRPC health service (grpc.health.v1) whether it serves; exits 0 only when it "
          "answers SERVING, 1 otherwise: for container health checks and Kubernetes probes. Needs no token; "
          "TLS as every command (BRAINTUNE_TLS_CA).");
  AddCommonFlags(f);
  f.Value("timeout-ms", "3000", "how long to wait for the answer");
  f.ParseOrExit(argc, argv, 2, "braintune health");
  if (int rc = CheckOutputFlag(f); rc != kOk) return rc;
  auto timeout = f.GetInt("timeout-ms");
  if (!timeout.ok() || *timeout < 1 || *timeout > 600000) return Fail("--timeout-ms must be 1..600000", kUsage);
  const std::string address = f.Get("coordinator");
  const ClientSecurity security = ClientSecurity::FromEnvironment();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(address, security);
  if (!channel.ok()) return Fail(std::string(channel.status().message()), kUsage);
  auto stub = grpc::health::v1::Health::NewStub(*channel);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  auto context = MakeContext(security, std::chrono::milliseconds(*timeout));
  const grpc::Status s = stub->Check(context.get(), request, &response);
  const std::string state = s.ok() ? grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())
                                   : "UNREACHABLE";
  const bool serving = s.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  if (f.Get("output") == "json") {
    google::protobuf::Struct out;
    (*out.mutable_fields())["coordinator"].set_string_value(address);
    (*out.mutable_fields())["status"].set_string_value(state);
    if (!s.ok()) (*out.mutable_fields())["error"].set_string_value(s.error_message());
    std::cout << ToJson(out, /*one_line=*/true) << "\n";
  } else {
    std::cout << address << ": " << state << (s.ok() ? "" : absl::StrCat(" (", s.error_message(), ")")) << "\n";
  }
  return serving ? kOk : kFailed;
}

int RunCli(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << kTopHelp;
    return argc < 2 ? kUsage : kOk;
  }
  std::string cmd = argv[1];
  if (cmd == "submit") return CmdSubmit(argc, argv);
  if (cmd == "status") return CmdStatus(argc, argv);
  if (cmd == "nodes") return CmdNodes(argc, argv);
  if (cmd == "features") return CmdFeatures(argc, argv);
  if (cmd == "list") return CmdList(argc, argv);
  if (cmd == "watch") return CmdWatch(argc, argv);
  if (cmd == "cancel") return CmdCancel(argc, argv);
  if (cmd == "logs") return CmdLogs(argc, argv);
  if (cmd == "eval") return CmdEval(argc, argv);
  if (cmd == "health") return CmdHealth(argc, argv);
  if (cmd == "dataset") {
    return RunDatasetCommand(argc, argv);
  }
  std::cerr << kTopHelp;
  return Fail(absl::StrCat("unknown command '", cmd, "'"), kUsage);
}

}  // namespace braintune::cli

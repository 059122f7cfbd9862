#include "coordinator/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "coordinator/job_state.h"

namespace braintune::coordinator {
namespace {

// Queue waits from a second to a day; scheduling passes and RPCs from 100 us to 10 s.
const std::vector<double> kWaitBounds = {1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600};
const std::vector<double> kFastBounds = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
// Distinct RPC methods counted by name; past this, "other" (a client calling made-up methods
// cannot grow the series without bound).
constexpr size_t kMaxMethods = 64;

const char* ReasonName(FailureReason r) {
  switch (r) {
    case FailureReason::kRanksFailed: return "ranks_failed";
    case FailureReason::kAgentLostJob: return "agent_lost_job";
    case FailureReason::kOther: break;
  }
  return "other";
}

const char* NodeStateName(v1::NodeStatus::State s) {
  switch (s) {
    case v1::NodeStatus::LIVE: return "live";
    case v1::NodeStatus::LOST: return "lost";
    case v1::NodeStatus::EXPECTED: return "expected";
    default: return "unknown";
  }
}

// Prometheus' float format: integers without a fraction, NaN and infinities by name.
std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < 1e15) return absl::StrFormat("%.0f", v);
  // The shortest form that reads back as the same double (0.0005, not 0.00050000000000000001).
  for (int precision = 1; precision < 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, v);
    if (std::strtod(text.c_str(), nullptr) == v) return text;
  }
  return absl::StrFormat("%.17g", v);
}

void Header(std::string* out, const char* name, const char* type, const char* help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void Sample(std::string* out, const std::string& name, const std::string& labels, double value) {
  absl::StrAppend(out, name, labels.empty() ? "" : absl::StrCat("{", labels, "}"), " ", Number(value), "\n");
}

std::string Label(const char* key, const std::string& value) {
  return absl::StrCat(key, "=\"", EscapeLabelValue(value), "\"");
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::Render(const std::string& name, const std::string& labels, std::string* out) const {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? Number(bounds_[i]) : "+Inf";
    Sample(out, name + "_bucket", absl::StrCat(labels, sep, "le=\"", le, "\""), static_cast<double>(cumulative));
  }
  Sample(out, name + "_sum", labels, sum_);
  Sample(out, name + "_count", labels, static_cast<double>(count_));
}

Metrics::Metrics() : pass_seconds_(kFastBounds), queue_wait_seconds_(kWaitBounds) {}

void Metrics::Rpc(const std::string& method, int code, double seconds) {
  absl::MutexLock lock(&mu_);
  std::string name = method;
  if (!rpc_seconds_.count(name) && rpc_seconds_.size() >= kMaxMethods) name = "other";
  ++rpcs_[{name, code}];
  rpc_seconds_.try_emplace(name, kFastBounds).first->second.Observe(seconds);
}

void Metrics::SchedulingPass(double seconds) {
  absl::MutexLock lock(&mu_);
  pass_seconds_.Observe(seconds);
}

void Metrics::JobTransition(v1::JobState to, int64_t queued_since_ms, int64_t now_ms, FailureReason reason) {
  absl::MutexLock lock(&mu_);
  switch (to) {
    case v1::SCHEDULED:
      if (queued_since_ms > 0) queue_wait_seconds_.Observe(std::max<int64_t>(0, now_ms - queued_since_ms) / 1000.0);
      break;
    case v1::RESTARTING: ++restarts_; break;
    case v1::PREEMPTED: ++preemptions_; break;
    case v1::FAILED: ++failures_[reason]; break;
    default: break;
  }
  if (IsTerminal(to)) ++finished_[to];
}

std::string Metrics::Render(const PoolSnapshot& pool, int64_t now_ms) const {
  std::string out;
  // Jobs by state, user and group (combinations with no job are left out).
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> by_state;
  int64_t queued = 0, oldest_queued_ms = 0;
  for (const auto& j : pool.jobs) {
    ++by_state[{v1::JobState_Name(j.state), j.user, j.group}];
    if (j.state != v1::QUEUED) continue;
    ++queued;
    if (j.queued_since_ms > 0 && (oldest_queued_ms == 0 || j.queued_since_ms < oldest_queued_ms)) {
      oldest_queued_ms = j.queued_since_ms;
    }
  }
  Header(&out, "braintune_jobs", "gauge", "Jobs the coordinator holds (finished ones until pruned), by state, user and group.");
  for (const auto& [key, n] : by_state) {
    const auto& [state, user, group] = key;
    Sample(&out, "braintune_jobs", absl::StrCat(Label("state", state), ",", Label("user", user), ",", Label("group", group)), n);
  }
  Header(&out, "braintune_queue_length", "gauge", "Jobs waiting to be placed (QUEUED).");
  Sample(&out, "braintune_queue_length", "", queued);
  Header(&out, "braintune_queue_oldest_wait_seconds", "gauge", "How long the longest-waiting queued job has waited (0: none queued).");
  Sample(&out, "braintune_queue_oldest_wait_seconds", "", oldest_queued_ms > 0 ? (now_ms - oldest_queued_ms) / 1000.0 : 0);

  std::map<v1::NodeStatus::State, int64_t> node_states = {
      {v1::NodeStatus::LIVE, 0}, {v1::NodeStatus::LOST, 0}, {v1::NodeStatus::EXPECTED, 0}};
  for (const auto& n : pool.nodes) ++node_states[n.state()];
  Header(&out, "braintune_nodes", "gauge", "Worker nodes by state (live, lost, expected after a restart).");
  for (const auto& [state, n] : node_states) Sample(&out, "braintune_nodes", Label("state", NodeStateName(state)), n);
  struct NodeGauge {
    const char* name;
    const char* help;
    double (*value)(const v1::NodeStatus&, int64_t);
  };
  const NodeGauge node_gauges[] = {
      {"braintune_node_slots", "CPU slots (ranks) the node offers.", [](const v1::NodeStatus& n, int64_t) { return double(n.cpu_slots()); }},
      {"braintune_node_slots_in_use", "Slots held by jobs placed on the node.", [](const v1::NodeStatus& n, int64_t) { return double(n.slots_in_use()); }},
      {"braintune_node_gpus", "GPUs the node offers.", [](const v1::NodeStatus& n, int64_t) { return double(n.gpus()); }},
      {"braintune_node_gpus_in_use", "GPUs held by jobs placed on the node.", [](const v1::NodeStatus& n, int64_t) { return double(n.gpus_in_use()); }},
      {"braintune_node_heartbeat_age_seconds", "Time since the node's agent last heartbeated (NaN: never).",
       [](const v1::NodeStatus& n, int64_t now) {
         return n.last_heartbeat_ms() > 0 ? (now - n.last_heartbeat_ms()) / 1000.0 : std::nan("");
       }},
  };
  for (const NodeGauge& g : node_gauges) {
    Header(&out, g.name, "gauge", g.help);
    for (const auto& n : pool.nodes) Sample(&out, g.name, Label("node", n.name()), g.value(n, now_ms));
  }

  // Per running job: what rank 0 last reported. Only RUNNING jobs: the series of a job end
  // with it (bounded by the pool's slots, not by history).
  struct JobGauge {
    const char* name;
    const char* help;
    double (*value)(const PoolSnapshot::JobBrief&);
  };
  const JobGauge job_gauges[] = {
      {"braintune_job_steps_per_second", "Training steps per second of a running job.", [](const PoolSnapshot::JobBrief& j) { return j.progress.steps_per_sec(); }},
      {"braintune_job_samples_per_second", "Training samples per second of a running job.", [](const PoolSnapshot::JobBrief& j) { return j.progress.samples_per_sec(); }},
      {"braintune_job_loss", "The latest training loss of a running job.", [](const PoolSnapshot::JobBrief& j) { return j.progress.loss(); }},
      {"braintune_job_validation_loss", "The latest validation loss of a running job (NaN: none yet).",
       [](const PoolSnapshot::JobBrief& j) { return j.progress.has_validation_loss() ? j.progress.validation_loss() : std::nan(""); }},
      {"braintune_job_data_wait_ratio", "Share of a running job's training time rank 0 waited for data.", [](const PoolSnapshot::JobBrief& j) { return j.progress.data_wait_share(); }},
      {"braintune_job_gpu_memory_bytes", "GPU memory in use on a running job's rank-0 device (0 on CPU).", [](const PoolSnapshot::JobBrief& j) { return double(j.progress.gpu_memory_bytes()); }},
      {"braintune_job_progress_ratio", "Steps done over total steps of a running job.",
       [](const PoolSnapshot::JobBrief& j) { return j.progress.total_steps() > 0 ? double(j.progress.step()) / j.progress.total_steps() : 0.0; }},
      {"braintune_job_last_progress_timestamp_seconds", "When a running job last reported progress (Unix time; before its first report: when it started).",
       [](const PoolSnapshot::JobBrief& j) { return j.last_progress_ms / 1000.0; }},
  };
  for (const JobGauge& g : job_gauges) {
    Header(&out, g.name, "gauge", g.help);
    for (const auto& j : pool.jobs) {
      if (j.state != v1::RUNNING) continue;
      Sample(&out, g.name, absl::StrCat(Label("job_id", j.id), ",", Label("user", j.user)), g.value(j));
    }
  }

  absl::MutexLock lock(&mu_);
  Header(&out, "braintune_jobs_finished_total", "counter", "Jobs that ended, by final state, since the coordinator started.");
  for (v1::JobState s : {v1::SUCCEEDED, v1::FAILED, v1::CANCELLED}) {
    auto it = finished_.find(s);
    Sample(&out, "braintune_jobs_finished_total", Label("state", v1::JobState_Name(s)), it == finished_.end() ? 0 : it->second);
  }
  Header(&out, "braintune_job_failures_total", "counter", "Jobs that failed, by reason (ranks_failed: mpirun exited non-zero "
         "with no restarts left; agent_lost_job: the node's agent no longer held it).");
  for (FailureReason r : {FailureReason::kRanksFailed, FailureReason::kAgentLostJob, FailureReason::kOther}) {
    auto it = failures_.find(r);
    Sample(&out, "braintune_job_failures_total", Label("reason", ReasonName(r)), it == failures_.end() ? 0 : it->second);
  }
  Header(&out, "braintune_job_restarts_total", "counter", "Relaunches of jobs after their ranks failed.");
  Sample(&out, "braintune_job_restarts_total", "", restarts_);
  Header(&out, "braintune_job_preemptions_total", "counter", "Jobs stopped and requeued for higher-priority ones.");
  Sample(&out, "braintune_job_preemptions_total", "", preemptions_);
  Header(&out, "braintune_job_queue_wait_seconds", "histogram", "How long jobs waited in the queue before being placed.");
  queue_wait_seconds_.Render("braintune_job_queue_wait_seconds", "", &out);
  Header(&out, "braintune_scheduling_pass_duration_seconds", "histogram", "Duration of the scheduler's passes.");
  pass_seconds_.Render("braintune_scheduling_pass_duration_seconds", "", &out);

  auto split = [](const std::string& method) {
    // "/braintune.v1.JobService/SubmitJob" -> ("braintune.v1.JobService", "SubmitJob")
    const size_t slash = method.rfind('/');
    if (method.size() < 2 || method[0] != '/' || slash == 0 || slash == std::string::npos) {
      return std::pair<std::string, std::string>{"", method};
    }
    return std::pair<std::string, std::string>{method.substr(1, slash - 1), method.substr(slash + 1)};
  };
  Header(&out, "braintune_grpc_requests_total", "counter", "gRPC calls served, by service, method and status code.");
  for (const auto& [key, n] : rpcs_) {
    const auto [service, method] = split(key.first);
    Sample(&out, "braintune_grpc_requests_total",
           absl::StrCat(Label("grpc_service", service), ",", Label("grpc_method", method), ",",
                        Label("grpc_code", absl::StatusCodeToString(static_cast<absl::StatusCode>(key.second)))),
           n);
  }
  Header(&out, "braintune_grpc_request_duration_seconds", "histogram", "Time to serve gRPC calls (streams: their whole life), by method.");
  for (const auto& [name, h] : rpc_seconds_) {
    const auto [service, method] = split(name);
    h.Render("braintune_grpc_request_duration_seconds",
             absl::StrCat(Label("grpc_service", service), ",", Label("grpc_method", method)), &out);
  }
  return out;
}

}  // namespace braintune::coordinator

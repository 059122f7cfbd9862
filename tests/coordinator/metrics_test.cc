// The exposition as Prometheus reads it: names, HELP/TYPE lines, cumulative histogram buckets,
// escaped label values, per-job series only for running jobs. (A real Prometheus scrapes a
// real coordinator in tests/integration/observability_test.cc.)
#include "coordinator/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace braintune::coordinator {
namespace {

// name{labels} -> value, for the sample lines; fails the test on a line that is neither a
// comment nor a sample, and on a sample whose family has no TYPE line before it.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> out;
  std::set<std::string> typed;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      EXPECT_EQ(parts.size(), 4u) << line;
      typed.insert(parts[2]);
      continue;
    }
    if (absl::StartsWith(line, "# HELP ")) continue;
    const size_t space = line.rfind(' ');
    EXPECT_NE(space, absl::string_view::npos) << line;
    const std::string key(line.substr(0, space));
    std::string family = key.substr(0, key.find('{'));
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!typed.count(family) && absl::EndsWith(family, suffix)) family.resize(family.size() - strlen(suffix));
    }
    EXPECT_TRUE(typed.count(family)) << "no TYPE before " << line;
    EXPECT_TRUE(absl::StartsWith(family, "braintune_")) << line;
    double v = 0;
    const std::string value(line.substr(space + 1));
    if (value == "NaN") v = std::nan("");
    else EXPECT_TRUE(absl::SimpleAtod(value, &v)) << line;
    EXPECT_FALSE(out.count(key)) << "duplicate series " << key;
    out[key] = v;
  }
  return out;
}

TEST(MetricsTest, HistogramsAreCumulativeWithSumAndCount) {
  Metrics m;
  for (double s : {0.0002, 0.003, 0.003, 2.0, 100.0}) m.SchedulingPass(s);
  auto samples = Samples(m.Render({}, 0));
  EXPECT_EQ(samples["braintune_scheduling_pass_duration_seconds_bucket{le=\"0.0001\"}"], 0);
  EXPECT_EQ(samples["braintune_scheduling_pass_duration_seconds_bucket{le=\"0.0005\"}"], 1);
  EXPECT_EQ(samples["braintune_scheduling_pass_duration_seconds_bucket{le=\"0.005\"}"], 3);
  EXPECT_EQ(samples["braintune_scheduling_pass_duration_seconds_bucket{le=\"5\"}"], 4);
  EXPECT_EQ(samples["braintune_scheduling_pass_duration_seconds_bucket{le=\"+Inf\"}"], 5);
  EXPECT_EQ(samples["braintune_scheduling_pass_duration_seconds_count"], 5);
  EXPECT_NEAR(samples["braintune_scheduling_pass_duration_seconds_sum"], 102.0062, 1e-9);
}

TEST(MetricsTest, TransitionsAreCountedByKindAndReason) {
  Metrics m;
  m.JobTransition(v1::SCHEDULED, /*queued_since_ms=*/1000, /*now_ms=*/31000);  // waited 30 s
  m.JobTransition(v1::RESTARTING, 0, 0);
  m.JobTransition(v1::PREEMPTED, 0, 0);
  m.JobTransition(v1::FAILED, 0, 0, FailureReason::kRanksFailed);
  m.JobTransition(v1::FAILED, 0, 0, FailureReason::kAgentLostJob);
  m.JobTransition(v1::SUCCEEDED, 0, 0);
  auto samples = Samples(m.Render({}, 0));
  EXPECT_EQ(samples["braintune_job_queue_wait_seconds_bucket{le=\"15\"}"], 0);
  EXPECT_EQ(samples["braintune_job_queue_wait_seconds_bucket{le=\"60\"}"], 1);
  EXPECT_EQ(samples["braintune_job_queue_wait_seconds_sum"], 30);
  EXPECT_EQ(samples["braintune_job_restarts_total"], 1);
  EXPECT_EQ(samples["braintune_job_preemptions_total"], 1);
  EXPECT_EQ(samples["braintune_job_failures_total{reason=\"ranks_failed\"}"], 1);
  EXPECT_EQ(samples["braintune_job_failures_total{reason=\"agent_lost_job\"}"], 1);
  EXPECT_EQ(samples["braintune_job_failures_total{reason=\"other\"}"], 0);
  EXPECT_EQ(samples["braintune_jobs_finished_total{state=\"FAILED\"}"], 2);
  EXPECT_EQ(samples["braintune_jobs_finished_total{state=\"SUCCEEDED\"}"], 1);
}

TEST(MetricsTest, RpcsByMethodAndCodeWithBoundedMethods) {
  Metrics m;
  m.Rpc("/braintune.v1.JobService/SubmitJob", 0, 0.002);
  m.Rpc("/braintune.v1.JobService/SubmitJob", 3, 0.001);
  for (int i = 0; i < 500; ++i) m.Rpc("/made.up.Service/M" + std::to_string(i), 12, 0.0);
  auto samples = Samples(m.Render({}, 0));
  EXPECT_EQ(samples["braintune_grpc_requests_total{grpc_service=\"braintune.v1.JobService\",grpc_method=\"SubmitJob\",grpc_code=\"OK\"}"], 1);
  EXPECT_EQ(samples["braintune_grpc_requests_total{grpc_service=\"braintune.v1.JobService\",grpc_method=\"SubmitJob\",grpc_code=\"INVALID_ARGUMENT\"}"], 1);
  int methods = 0;
  for (const auto& [key, v] : samples) methods += absl::StartsWith(key, "braintune_grpc_requests_total{");
  EXPECT_LE(methods, 66) << "made-up method names must not grow the series without bound";
  EXPECT_GT(samples["braintune_grpc_requests_total{grpc_service=\"\",grpc_method=\"other\",grpc_code=\"UNIMPLEMENTED\"}"], 400);
}

TEST(MetricsTest, PoolGaugesAndPerJobSeriesOnlyForRunningJobs) {
  PoolSnapshot pool;
  PoolSnapshot::JobBrief running{"job-1", "ana \"the\" user\\", "lab", v1::RUNNING};
  running.progress.set_steps_per_sec(2.5);
  running.progress.set_step(30);
  running.progress.set_total_steps(120);
  running.progress.set_validation_loss(0.75);
  running.last_progress_ms = 5000;
  PoolSnapshot::JobBrief queued{"job-2", "bo", "", v1::QUEUED};
  queued.queued_since_ms = 4000;
  pool.jobs = {running, queued, {"job-3", "bo", "", v1::SUCCEEDED}};
  v1::NodeStatus node;
  node.set_name("n1");
  node.set_state(v1::NodeStatus::LIVE);
  node.set_cpu_slots(4);
  node.set_slots_in_use(1);
  node.set_last_heartbeat_ms(9000);
  pool.nodes = {node};
  const std::string text = Metrics().Render(pool, 10000);
  auto samples = Samples(text);
  const std::string ana = "user=\"ana \\\"the\\\" user\\\\\"";  // the quote and backslash escaped
  EXPECT_EQ(samples["braintune_jobs{state=\"RUNNING\"," + ana + ",group=\"lab\"}"], 1) << text;
  EXPECT_EQ(samples["braintune_jobs{state=\"QUEUED\",user=\"bo\",group=\"\"}"], 1);
  EXPECT_EQ(samples["braintune_queue_length"], 1);
  EXPECT_EQ(samples["braintune_queue_oldest_wait_seconds"], 6);
  EXPECT_EQ(samples["braintune_job_steps_per_second{job_id=\"job-1\"," + ana + "}"], 2.5);
  EXPECT_EQ(samples["braintune_job_progress_ratio{job_id=\"job-1\"," + ana + "}"], 0.25);
  EXPECT_EQ(samples["braintune_job_validation_loss{job_id=\"job-1\"," + ana + "}"], 0.75);
  EXPECT_EQ(samples["braintune_job_last_progress_timestamp_seconds{job_id=\"job-1\"," + ana + "}"], 5);
  EXPECT_EQ(samples["braintune_nodes{state=\"live\"}"], 1);
  EXPECT_EQ(samples["braintune_nodes{state=\"lost\"}"], 0);
  EXPECT_EQ(samples["braintune_node_slots{node=\"n1\"}"], 4);
  EXPECT_EQ(samples["braintune_node_slots_in_use{node=\"n1\"}"], 1);
  EXPECT_EQ(samples["braintune_node_heartbeat_age_seconds{node=\"n1\"}"], 1);
  EXPECT_EQ(text.find("job_id=\"job-2\""), std::string::npos) << "queued jobs have no per-job series";
  EXPECT_EQ(text.find("job_id=\"job-3\""), std::string::npos) << "finished jobs have no per-job series";
}

}  // namespace
}  // namespace braintune::coordinator

// Faults, each with real processes on loopback: a coordinator, two worker agents (each its own
// "node"), real mpirun ranks. A rank killed: the job restarts and succeeds. The coordinator
// killed with SIGKILL while jobs are queued and running: after a restart nothing is lost or
// run twice. An agent killed: its node is lost after missed heartbeats and its job runs again
// on the other node; the agent comes back and registers cleanly.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <thread>

#include "braintune/v1/job_service.pb.h"
#include "testing/process.h"
#include "testing/tiny_job.h"

namespace braintune {
namespace {

using testing::BackgroundProcess;
using testing::Binary;
using testing::RunCommand;

class FaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteTinyJob(dir_, {.steps = 150,
                                 .resources = "ranks: 2, restart_backoff_seconds: 1",
                                 .checkpoint_every = 20});
    address_ = "127.0.0.1:" + std::to_string(testing::FreePort());
    StartCoordinator();
    for (const char* node : {"node-a", "node-b"}) StartAgent(node);
    for (int i = 0; i < 100 && Cli("list").exit_code != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  void StartCoordinator() {
    coordinator_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{Binary("braintune-coordinator"), "--listen", address_, "--db", dir_.File("jobs.db"),
                                 "--heartbeat-interval-ms", "200", "--node-timeout-ms", "2000"},
        dir_.File("coordinator.log"));
  }

  void StartAgent(const std::string& node) {
    agents_[node] = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{Binary("braintune-worker"), "--coordinator", address_, "--name", node, "--slots",
                                 "2", "--work-dir", dir_.File("work-" + node), "--kill-grace-ms", "2000"},
        dir_.File(node + ".log"));
  }

  testing::CommandResult Cli(const std::string& args) {
    return RunCommand(Binary("braintune") + " " + args + " --coordinator " + address_ + " 2>&1");
  }

  std::string Submit(const std::string& file = "job.yaml") {
    auto r = Cli("submit " + dir_.File(file) + " --output json");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    v1::Job job;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.output, &job).ok()) << r.output;
    return job.id();
  }

  // Polls `braintune status` until `done` or the timeout; returns the last job seen.
  v1::Job WaitFor(const std::string& id, const std::function<bool(const v1::Job&)>& done, int seconds) {
    v1::Job job;
    for (int i = 0; i < seconds * 10; ++i) {
      auto r = Cli("status " + id + " --output json");
      if (r.exit_code == 0 && google::protobuf::util::JsonStringToMessage(r.output, &job).ok() && done(job)) return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "timed out on " << id << " in " << v1::JobState_Name(job.state()) << ": " << job.message()
                  << "\ncoordinator:\n" << testing::ReadFileOrEmpty(dir_.File("coordinator.log"));
    return job;
  }
  static bool Training(const v1::Job& j) { return j.state() == v1::RUNNING && j.progress().step() >= 5; }
  static bool Succeeded(const v1::Job& j) { return j.state() == v1::SUCCEEDED; }

  static bool WentThrough(const v1::Job& job, v1::JobState state) {
    for (const auto& e : job.events()) {
      if (e.state() == state) return true;
    }
    return false;
  }

  testing::TempDir dir_;
  std::string address_;
  std::unique_ptr<BackgroundProcess> coordinator_;
  std::map<std::string, std::unique_ptr<BackgroundProcess>> agents_;
};

TEST_F(FaultsTest, AKilledRankRestartsTheJobWhichResumesAndSucceeds) {
  const std::string id = Submit();
  WaitFor(id, [](const v1::Job& j) { return j.state() == v1::RUNNING && j.progress().step() >= 50; }, 60);
  ASSERT_EQ(RunCommand("pkill -9 -f '[b]raintune-train.*--job-id " + id + " '").exit_code, 0);
  v1::Job restarting = WaitFor(id, [](const v1::Job& j) { return j.state() == v1::RESTARTING; }, 20);
  EXPECT_NE(restarting.message().find("restart 1 of 2"), std::string::npos) << restarting.message();
  v1::Job done = WaitFor(id, Succeeded, 120);
  EXPECT_EQ(done.restarts(), 1);
  EXPECT_EQ(done.attempt(), 2);
  EXPECT_EQ(done.progress().step(), 150);
  // Both launches' output is in the job's log, in order; the second resumed from the latest
  // checkpoint (every 20 steps; the kill came after step 50).
  auto logs = Cli("logs " + id);
  EXPECT_EQ(logs.exit_code, 0);
  const size_t first = logs.output.find("mpirun"), second = logs.output.find("mpirun", first + 1);
  ASSERT_NE(second, std::string::npos) << logs.output;
  const size_t resumed = logs.output.find("resuming from step ", second);
  ASSERT_NE(resumed, std::string::npos) << logs.output;
  EXPECT_GE(std::atoi(logs.output.c_str() + resumed + 19), 40) << logs.output.substr(resumed, 60);
}

TEST_F(FaultsTest, APreemptedJobCheckpointsOnSigtermAndResumesFromThere) {
  // Both nodes busy with preemptible priority-100 jobs whose output directories are on a disk
  // every node sees (here, the test's), so a job resumes wherever it runs next.
  for (const char* name : {"low-a", "low-b"}) {
    // Long enough (about 15 s here) that the urgent job's preemption reaches it mid-run.
    testing::WriteTinyJob(dir_, {.name = name,
                                 .steps = 600,
                                 .resources = "ranks: 2",
                                 .checkpoint_every = 1000,
                                 .file = std::string(name) + ".yaml",
                                 .output_dir = std::string("out-") + name});
  }
  testing::WriteTinyJob(dir_, {.name = "urgent",
                               .steps = 60,
                               .resources = "ranks: 2, priority: 900",
                               .checkpoint_every = 1000,
                               .file = "urgent.yaml"});
  const std::string a = Submit("low-a.yaml"), b = Submit("low-b.yaml");
  WaitFor(a, Training, 60);
  WaitFor(b, Training, 60);
  const std::string urgent = Submit("urgent.yaml");
  // One of them is stopped (SIGTERM: it checkpoints where it is), requeued, and resumes later.
  v1::Job preempted;
  for (int i = 0; i < 300 && preempted.id().empty(); ++i) {
    for (const std::string& id : {a, b}) {
      auto r = Cli("status " + id + " --output json");
      v1::Job job;
      if (google::protobuf::util::JsonStringToMessage(r.output, &job).ok() && WentThrough(job, v1::PREEMPTED)) {
        preempted = job;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(preempted.id().empty()) << "nothing was preempted";
  EXPECT_EQ(WaitFor(urgent, Succeeded, 120).state(), v1::SUCCEEDED);
  v1::Job done = WaitFor(preempted.id(), Succeeded, 180);
  EXPECT_EQ(done.attempt(), 2);
  auto logs = Cli("logs " + preempted.id());
  // The second launch continues from a step only the SIGTERM checkpoint can hold (step
  // checkpoints come every 1000 steps, the job has 600).
  const size_t resumed = logs.output.find("resuming from step ");
  ASSERT_NE(resumed, std::string::npos) << logs.output;
  const int at = std::atoi(logs.output.c_str() + resumed + 19);
  EXPECT_GT(at, 0) << logs.output;
  EXPECT_LT(at, 600) << logs.output;
  // The first launch's rank 0 says where it stopped; mpirun, stopping too, may drop that line.
  if (const size_t stopped = logs.output.find("stopped by SIGTERM after step "); stopped != std::string::npos) {
    EXPECT_EQ(std::atoi(logs.output.c_str() + stopped + 30), at) << logs.output;
  }
}

TEST_F(FaultsTest, ACoordinatorKilledWhileJobsRunAndWaitLosesAndRepeatsNothing) {
  const std::string a = Submit(), b = Submit(), c = Submit();  // two run (one per node), one waits
  WaitFor(a, Training, 60);
  WaitFor(b, Training, 60);
  ASSERT_EQ(WaitFor(c, [](const v1::Job& j) { return j.state() == v1::QUEUED; }, 5).state(), v1::QUEUED);
  coordinator_->Signal(SIGKILL);
  coordinator_->Wait(5000);
  StartCoordinator();
  // The running jobs are re-attached (the agents register again and report them), not rerun;
  // the queued one runs when slots free up; every job ends once.
  for (const std::string& id : {a, b, c}) {
    v1::Job job = WaitFor(id, Succeeded, 180);
    EXPECT_EQ(job.attempt(), 1) << id << " ran twice";
    EXPECT_FALSE(WentThrough(job, v1::FAILED)) << id;
  }
  v1::ListJobsResponse list;
  auto listed = Cli("list --output json");
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(listed.output, &list).ok()) << listed.output;
  EXPECT_EQ(list.jobs_size(), 3);
}

TEST_F(FaultsTest, AKilledAgentsJobRunsAgainOnTheOtherNode) {
  const std::string id = Submit();
  v1::Job running = WaitFor(id, Training, 60);
  ASSERT_EQ(running.placements_size(), 1);
  const std::string lost = running.placements(0).node(), other = lost == "node-a" ? "node-b" : "node-a";
  agents_[lost]->Signal(SIGKILL);  // its mpirun gets SIGTERM (parent death) and stops the ranks
  agents_[lost]->Wait(5000);
  v1::Job requeued = WaitFor(id, [&](const v1::Job& j) { return j.attempt() == 2 && j.placements_size() == 1; }, 30);
  EXPECT_EQ(requeued.placements(0).node(), other);
  EXPECT_TRUE(WentThrough(requeued, v1::QUEUED));
  v1::Job done = WaitFor(id, Succeeded, 120);
  EXPECT_EQ(done.restarts(), 0) << "a lost node is not the job's failure";
  // The agent comes back under the same name and registers cleanly.
  StartAgent(lost);
  std::string log;
  for (int i = 0; i < 50 && log.find("registered node " + lost) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log = testing::ReadFileOrEmpty(dir_.File(lost + ".log"));
  }
  const size_t last_start = log.rfind("registered node " + lost);
  EXPECT_NE(last_start, std::string::npos) << log;
  // This test's ranks only (their spec is under its directory): not another test's running beside it.
  EXPECT_EQ(RunCommand("pgrep -f '[b]raintune-train --spec " + dir_.path() + "/.* --job-id " + id + " '").exit_code, 1)
      << "no rank left behind";
}

// Issue 17, reproduction 6: an agent restarted within the node timeout used to fail its jobs
// ("no longer holds the job"); the new instance's registration now requeues them.
TEST_F(FaultsTest, ARestartedAgentsJobsAreRequeuedNotFailed) {
  const std::string id = Submit();
  v1::Job running = WaitFor(id, Training, 60);
  ASSERT_EQ(running.placements_size(), 1);
  const std::string node = running.placements(0).node();
  agents_[node]->Signal(SIGKILL);
  agents_[node]->Wait(5000);
  StartAgent(node);  // at once: well within the 2 s node timeout
  v1::Job again = WaitFor(id, [](const v1::Job& j) { return j.attempt() == 2; }, 30);
  EXPECT_TRUE(WentThrough(again, v1::QUEUED)) << again.message();
  v1::Job done = WaitFor(id, Succeeded, 120);
  EXPECT_FALSE(WentThrough(done, v1::FAILED));
  EXPECT_EQ(done.restarts(), 0) << "a restarted agent is not the job's failure";
}

}  // namespace
}  // namespace braintune

#include "coordinator/job_manager.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"

#include "coordinator/job_state.h"
#include "testing/process.h"

namespace braintune::coordinator {
namespace {

TEST(JobStateTest, LegalAndIllegalTransitions) {
  EXPECT_TRUE(CheckTransition(v1::QUEUED, v1::SCHEDULED).ok());
  EXPECT_TRUE(CheckTransition(v1::SCHEDULED, v1::RUNNING).ok());
  EXPECT_TRUE(CheckTransition(v1::RUNNING, v1::SUCCEEDED).ok());
  EXPECT_TRUE(CheckTransition(v1::RUNNING, v1::RESTARTING).ok());
  EXPECT_TRUE(CheckTransition(v1::RESTARTING, v1::RUNNING).ok());
  EXPECT_TRUE(CheckTransition(v1::RUNNING, v1::PREEMPTED).ok());
  EXPECT_TRUE(CheckTransition(v1::PREEMPTED, v1::QUEUED).ok());
  EXPECT_FALSE(CheckTransition(v1::QUEUED, v1::RUNNING).ok());
  EXPECT_FALSE(CheckTransition(v1::QUEUED, v1::SUCCEEDED).ok());
  for (auto terminal : {v1::SUCCEEDED, v1::FAILED, v1::CANCELLED}) {
    EXPECT_TRUE(IsTerminal(terminal));
    for (auto to : {v1::QUEUED, v1::RUNNING, v1::SUCCEEDED, v1::FAILED, v1::CANCELLED}) {
      absl::Status s = CheckTransition(terminal, to);
      EXPECT_FALSE(s.ok());
      EXPECT_NE(std::string(s.message()).find(StateName(terminal)), std::string::npos);
    }
  }
}

v1::JobSpec Spec(const std::string& name, int ranks, int priority = 100, const std::string& more_resources = "") {
  v1::JobSpec spec;
  spec.set_spec_yaml("name: " + name + "\nresources: {ranks: " + std::to_string(ranks) +
                     ", priority: " + std::to_string(priority) + more_resources + "}\ndata: {path: /d.h5}\n");
  return spec;
}

v1::NodeInfo Node(const std::string& name, int slots) {
  v1::NodeInfo n;
  n.set_name(name);
  n.set_cpu_slots(slots);
  return n;
}

class JobManagerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    manager_.reset();
    store_.reset();
    store_ = *store::OpenSqliteJobStore(dir_.File("jobs.db"));
    manager_ = *JobManager::Create(store_.get(), &scheduling_, &nodes_);
  }
  v1::HeartbeatResponse Beat(const std::string& node, std::vector<v1::JobRuntime> jobs) {
    v1::HeartbeatRequest req;
    req.set_node_name(node);
    for (auto& j : jobs) *req.add_jobs() = j;
    return manager_->HandleHeartbeat(req);
  }
  // What the agent reports for the job's current launch (attempt).
  v1::JobRuntime Runtime(const std::string& id, bool exited = false, int code = 0) {
    v1::JobRuntime rt;
    rt.set_job_id(id);
    rt.set_attempt(manager_->Get(id)->attempt());
    rt.set_exited(exited);
    rt.set_exit_code(code);
    rt.set_log_path("/tmp/" + id + ".log");
    return rt;
  }
  v1::JobState State(const std::string& id) { return manager_->Get(id)->state(); }

  testing::TempDir dir_;
  std::unique_ptr<scheduler::SchedulingPolicy> policy_ = scheduler::MakeMultifactorPolicy({});
  NodeManager nodes_{10000};
  SchedulingDriver scheduling_{policy_.get(), &nodes_};
  std::unique_ptr<store::JobStore> store_;
  std::unique_ptr<JobManager> manager_;
};

TEST_F(JobManagerTest, InvalidSpecIsRejectedAndNotStored) {
  v1::JobSpec spec;
  spec.set_spec_yaml("name: x\ndata: {path: d.h5}\ntraining: {stepz: 1}\n");
  spec.set_source_file("job.yaml");
  auto job = manager_->Submit(spec, "ana");
  ASSERT_FALSE(job.ok());
  EXPECT_NE(std::string(job.status().message()).find("job.yaml"), std::string::npos);
  EXPECT_TRUE(manager_->List({}, 0).empty());
}

TEST_F(JobManagerTest, FifoGangSchedulingLaunchAndSuccess) {
  nodes_.Register(Node("n1", 2), NowMs());
  auto a = manager_->Submit(Spec("a", 2), "ana");
  auto b = manager_->Submit(Spec("b", 1), "bo");
  ASSERT_TRUE(a.ok() && b.ok());
  manager_->SchedulePass();
  EXPECT_EQ(State(a->id()), v1::SCHEDULED);
  EXPECT_EQ(State(b->id()), v1::QUEUED) << "the node is full: b waits for all of its ranks";
  EXPECT_EQ(manager_->Get(b->id())->queue_position(), 1);
  EXPECT_NE(manager_->Get(b->id())->message().find("needs 1 slots, 0 free"), std::string::npos);

  auto resp = Beat("n1", {});
  ASSERT_EQ(resp.launch_size(), 1);
  EXPECT_EQ(resp.launch(0).job_id(), a->id());
  EXPECT_EQ(resp.launch(0).placements(0).slots(), 2);
  Beat("n1", {Runtime(a->id())});
  EXPECT_EQ(State(a->id()), v1::RUNNING);
  EXPECT_EQ(Beat("n1", {Runtime(a->id())}).launch_size(), 0) << "a held job is not launched twice";

  resp = Beat("n1", {Runtime(a->id(), /*exited=*/true, 0)});
  EXPECT_EQ(State(a->id()), v1::SUCCEEDED);
  ASSERT_EQ(resp.forget_job_ids_size(), 1);
  manager_->SchedulePass();
  EXPECT_EQ(State(b->id()), v1::SCHEDULED) << "slots freed by a go to b";
}

TEST_F(JobManagerTest, NonZeroExitWithoutRestartsFailsWithTheLog) {
  nodes_.Register(Node("n1", 1), NowMs());
  auto a = manager_->Submit(Spec("a", 1, 100, ", max_restarts: 0"), "ana");
  manager_->SchedulePass();
  Beat("n1", {Runtime(a->id())});
  Beat("n1", {Runtime(a->id(), true, 3)});
  auto job = manager_->Get(a->id());
  EXPECT_EQ(job->state(), v1::FAILED);
  EXPECT_NE(job->message().find("exited with code 3"), std::string::npos) << job->message();
  EXPECT_NE(job->message().find(a->id() + ".log"), std::string::npos) << job->message();
  EXPECT_NE(job->message().find("braintune logs " + a->id()), std::string::npos) << job->message();
}

TEST_F(JobManagerTest, CancelQueuedEndsAtOnceCancelRunningKillsFirst) {
  nodes_.Register(Node("n1", 1), NowMs());
  auto a = manager_->Submit(Spec("a", 1), "ana");
  auto b = manager_->Submit(Spec("b", 1), "ana");
  manager_->SchedulePass();
  Beat("n1", {Runtime(a->id())});
  ASSERT_EQ(State(a->id()), v1::RUNNING);

  ASSERT_TRUE(manager_->Cancel(b->id()).ok());
  EXPECT_EQ(State(b->id()), v1::CANCELLED);

  ASSERT_TRUE(manager_->Cancel(a->id()).ok());
  EXPECT_EQ(State(a->id()), v1::RUNNING) << "still running until the agent reports the ranks gone";
  auto resp = Beat("n1", {Runtime(a->id())});
  ASSERT_EQ(resp.kill_job_ids_size(), 1);
  v1::JobRuntime gone = Runtime(a->id(), true, 143);
  gone.set_killed_by_request(true);
  Beat("n1", {gone});
  EXPECT_EQ(State(a->id()), v1::CANCELLED);
  EXPECT_EQ(manager_->Cancel(a->id()).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(JobManagerTest, WatchersSeeChanges) {
  auto a = manager_->Submit(Spec("a", 1), "ana");
  int64_t version = 0;
  auto first = manager_->WaitForChange(a->id(), &version, absl::Milliseconds(10));
  ASSERT_TRUE(first.ok());
  int64_t seen = version;
  (void)manager_->WaitForChange(a->id(), &version, absl::Milliseconds(10));
  EXPECT_EQ(version, seen) << "no change, no new version";
  ASSERT_TRUE(manager_->Cancel(a->id()).ok());
  auto after = manager_->WaitForChange(a->id(), &version, absl::Seconds(1));
  EXPECT_GT(version, seen);
  EXPECT_EQ(after->state(), v1::CANCELLED);
}

TEST_F(JobManagerTest, RestartKeepsEveryJobAndItsStateAndNewIdsDoNotCollide) {
  nodes_.Register(Node("n1", 1), NowMs());
  auto a = manager_->Submit(Spec("a", 1), "ana");
  auto b = manager_->Submit(Spec("b", 1), "ana");
  manager_->SchedulePass();
  Beat("n1", {Runtime(a->id())});
  ASSERT_TRUE(manager_->Cancel(b->id()).ok());
  Open();  // a new manager over the same database, as after a coordinator restart
  auto jobs = manager_->List({}, 0);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].state(), v1::RUNNING);
  EXPECT_EQ(jobs[1].state(), v1::CANCELLED);
  auto c = manager_->Submit(Spec("c", 1), "ana");
  EXPECT_NE(c->id(), a->id());
  EXPECT_NE(c->id(), b->id());
  // The agent re-registers and still reports the running job: it stays RUNNING, then succeeds.
  Beat("n1", {Runtime(a->id())});
  EXPECT_EQ(State(a->id()), v1::RUNNING);
  Beat("n1", {Runtime(a->id(), true, 0)});
  EXPECT_EQ(State(a->id()), v1::SUCCEEDED);
}

TEST_F(JobManagerTest, AJobTooBigForThePoolIsRejectedAtSubmission) {
  nodes_.Register(Node("n1", 2), NowMs());
  auto big = manager_->Submit(Spec("big", 8), "ana");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(big.status().message()).find("can never run on this pool: needs 8 slots but the pool has 2"),
            std::string::npos)
      << big.status();
  EXPECT_TRUE(manager_->List({}, 0).empty());
}

TEST_F(JobManagerTest, AJobTooBigForThePoolAsItIsDoesNotHoldUpTheQueue) {
  auto big = manager_->Submit(Spec("big", 8), "ana");  // no nodes yet: not judged
  ASSERT_TRUE(big.ok()) << big.status();
  nodes_.Register(Node("n1", 2), NowMs());
  auto small = manager_->Submit(Spec("small", 1), "bo");
  manager_->SchedulePass();
  EXPECT_EQ(State(big->id()), v1::QUEUED);
  EXPECT_NE(manager_->Get(big->id())->message().find("cannot fit the pool"), std::string::npos)
      << manager_->Get(big->id())->message();
  EXPECT_EQ(State(small->id()), v1::SCHEDULED);
}

TEST_F(JobManagerTest, PriorityOrderAndPreemptionRequeueTheLowerJob) {
  nodes_.Register(Node("n1", 2), NowMs());
  auto low = manager_->Submit(Spec("low", 2, 10), "ana");
  manager_->SchedulePass();
  Beat("n1", {});
  Beat("n1", {Runtime(low->id())});
  ASSERT_EQ(State(low->id()), v1::RUNNING);
  auto mid = manager_->Submit(Spec("mid", 1, 100), "bo");
  auto high = manager_->Submit(Spec("high", 2, 900), "cy");
  manager_->SchedulePass();
  EXPECT_EQ(manager_->Get(high->id())->queue_position(), 1) << "highest priority first";
  EXPECT_EQ(manager_->Get(mid->id())->queue_position(), 2);
  EXPECT_NE(manager_->Get(high->id())->message().find("preempting " + low->id()), std::string::npos)
      << manager_->Get(high->id())->message();
  EXPECT_TRUE(manager_->Get(low->id())->preempt_requested());
  // The agent is told to stop low; when its ranks are gone it is queued again.
  auto resp = Beat("n1", {Runtime(low->id())});
  ASSERT_EQ(resp.kill_job_ids_size(), 1);
  EXPECT_EQ(resp.kill_job_ids(0), low->id());
  const v1::JobRuntime first_launch_gone = Runtime(low->id(), /*exited=*/true, 143);
  Beat("n1", {first_launch_gone});
  v1::Job requeued = *manager_->Get(low->id());
  EXPECT_EQ(requeued.state(), v1::QUEUED);
  EXPECT_EQ(requeued.attempt(), 1);
  // The agent may report that exit again until it has shipped the launch's log: no effect.
  Beat("n1", {first_launch_gone});
  EXPECT_EQ(State(low->id()), v1::QUEUED);
  EXPECT_FALSE(requeued.preempt_requested());
  ASSERT_GE(requeued.events_size(), 2);
  EXPECT_EQ(requeued.events(requeued.events_size() - 2).state(), v1::PREEMPTED);
  manager_->SchedulePass();
  EXPECT_EQ(State(high->id()), v1::SCHEDULED);
  EXPECT_EQ(State(mid->id()), v1::QUEUED);
  EXPECT_EQ(State(low->id()), v1::QUEUED);
  // High ends; low is placed again (attempt 2) and the old launch's report is only forgotten.
  ASSERT_TRUE(manager_->Cancel(mid->id()).ok());
  Beat("n1", {Runtime(high->id())});
  Beat("n1", {Runtime(high->id(), true, 0)});
  manager_->SchedulePass();
  ASSERT_EQ(State(low->id()), v1::SCHEDULED);
  EXPECT_EQ(manager_->Get(low->id())->attempt(), 2);
  auto stale = Beat("n1", {first_launch_gone});
  EXPECT_EQ(State(low->id()), v1::SCHEDULED);
  ASSERT_EQ(stale.forget_job_ids_size(), 1);
  EXPECT_EQ(stale.launch_size(), 0) << "relaunched once the agent has dropped the old launch";
  auto relaunch = Beat("n1", {});
  ASSERT_EQ(relaunch.launch_size(), 1);
  EXPECT_EQ(relaunch.launch(0).attempt(), 2);
}

TEST_F(JobManagerTest, GpuJobsGetDisjointGpusOfTheirNode) {
  v1::NodeInfo n1 = Node("n1", 4);
  n1.set_gpus(4);
  nodes_.Register(n1, NowMs());
  auto gpu_job = [](const std::string& name, int ranks, int gpus_per_rank) {
    v1::JobSpec spec;
    spec.set_spec_yaml("name: " + name + "\nresources: {ranks: " + std::to_string(ranks) +
                       ", gpus_per_rank: " + std::to_string(gpus_per_rank) + "}\ndata: {path: /d.h5}\n");
    return spec;
  };
  auto a = manager_->Submit(gpu_job("a", 2, 1), "ana");
  auto b = manager_->Submit(gpu_job("b", 1, 2), "bo");
  auto c = manager_->Submit(gpu_job("c", 1, 1), "cy");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.status() << b.status() << c.status();
  EXPECT_FALSE(manager_->Submit(gpu_job("huge", 1, 8), "ana").ok()) << "more GPUs than the pool has";
  manager_->SchedulePass();
  auto gpus_of = [&](const std::string& id) {
    const v1::Job job = *manager_->Get(id);
    return job.placements_size() ? std::vector<int>(job.placements(0).gpus().begin(), job.placements(0).gpus().end())
                                 : std::vector<int>{};
  };
  EXPECT_EQ(gpus_of(a->id()), (std::vector<int>{0, 1}));
  EXPECT_EQ(gpus_of(b->id()), (std::vector<int>{2, 3}));
  EXPECT_EQ(State(c->id()), v1::QUEUED) << "no GPU left";
  auto launch = Beat("n1", {});
  ASSERT_EQ(launch.launch_size(), 2);
  EXPECT_EQ(launch.launch(0).placements(0).gpus_size(), 2) << "the agent is told which GPUs";
  Beat("n1", {Runtime(a->id()), Runtime(b->id())});
  Beat("n1", {Runtime(a->id(), true, 0), Runtime(b->id())});
  manager_->SchedulePass();
  EXPECT_EQ(gpus_of(c->id()), (std::vector<int>{0})) << "a's GPUs are free again";
}

TEST_F(JobManagerTest, AfterARestartJobsOfANodeThatNeverReturnsAreRequeued) {
  nodes_.Register(Node("n1", 1), NowMs());
  auto a = manager_->Submit(Spec("a", 1), "ana");
  manager_->SchedulePass();
  Beat("n1", {Runtime(a->id())});
  ASSERT_EQ(State(a->id()), v1::RUNNING);
  // A fresh coordinator: its node list is empty, only the stored job knows about n1.
  manager_.reset();
  store_.reset();
  NodeManager fresh_nodes(10000);
  SchedulingDriver fresh_scheduling(policy_.get(), &fresh_nodes);
  store_ = *store::OpenSqliteJobStore(dir_.File("jobs.db"));
  manager_ = *JobManager::Create(store_.get(), &fresh_scheduling, &fresh_nodes);
  EXPECT_FALSE(fresh_nodes.Heartbeat("n1", NowMs())) << "n1's agent must register before heartbeating";
  auto lost = fresh_nodes.MarkLost(NowMs() + 60000);
  ASSERT_EQ(lost, std::vector<std::string>{"n1"});
  manager_->HandleLostNodes(lost);
  EXPECT_EQ(State(a->id()), v1::QUEUED) << "requeued, not lost";
  manager_.reset();  // before fresh_nodes and fresh_scheduling go out of scope
}

TEST_F(JobManagerTest, ALostNodesJobsAreRequeuedElsewhereAndItsReturningAgentStopsThem) {
  nodes_.Register(Node("n1", 1), NowMs());
  auto a = manager_->Submit(Spec("a", 1), "ana");
  manager_->SchedulePass();
  Beat("n1", {Runtime(a->id())});
  const v1::JobRuntime on_n1 = Runtime(a->id());
  auto lost = nodes_.MarkLost(NowMs() + 60000);
  ASSERT_EQ(lost, std::vector<std::string>{"n1"});
  manager_->HandleLostNodes(lost);
  EXPECT_EQ(State(a->id()), v1::QUEUED);
  EXPECT_NE(manager_->Get(a->id())->message().find("n1 stopped heartbeating; requeued"), std::string::npos);
  EXPECT_FALSE(nodes_.Heartbeat("n1", NowMs())) << "a lost node must register again";
  nodes_.Register(Node("n2", 1), NowMs());
  manager_->SchedulePass();
  ASSERT_EQ(State(a->id()), v1::SCHEDULED);
  EXPECT_EQ(manager_->Get(a->id())->placements(0).node(), "n2");
  auto launch = Beat("n2", {});
  ASSERT_EQ(launch.launch_size(), 1);
  EXPECT_EQ(launch.launch(0).attempt(), 2);
  // n1 comes back (a network partition healed) still running the old launch: stopped, forgotten.
  nodes_.Register(Node("n1", 1), NowMs());
  auto back = Beat("n1", {on_n1});
  ASSERT_EQ(back.kill_job_ids_size(), 1);
  EXPECT_EQ(back.forget_job_ids_size(), 1);
  Beat("n2", {Runtime(a->id())});
  EXPECT_EQ(State(a->id()), v1::RUNNING);
  // ...and its ranks' progress reports are refused (told to stop) and change nothing.
  v1::ReportProgressRequest stale;
  stale.set_job_id(a->id());
  stale.set_attempt(1);
  stale.mutable_progress()->set_step(99);
  EXPECT_TRUE(*manager_->ReportProgress(stale));
  EXPECT_EQ(manager_->Get(a->id())->progress().step(), 0);
}

TEST_F(JobManagerTest, FailedRanksRestartWithBackoffThenTheJobFails) {
  nodes_.Register(Node("n1", 1), NowMs());
  auto a = manager_->Submit(Spec("a", 1, 100, ", max_restarts: 2, restart_backoff_seconds: 0.2"), "ana");
  manager_->SchedulePass();
  Beat("n1", {});
  for (int restart = 1; restart <= 2; ++restart) {
    Beat("n1", {Runtime(a->id())});
    ASSERT_EQ(State(a->id()), v1::RUNNING);
    const v1::JobRuntime crashed = Runtime(a->id(), /*exited=*/true, 1);
    Beat("n1", {crashed});
    v1::Job job = *manager_->Get(a->id());
    ASSERT_EQ(job.state(), v1::RESTARTING) << job.message();
    EXPECT_EQ(job.restarts(), restart);
    EXPECT_NE(job.message().find(absl::StrCat("restart ", restart, " of 2")), std::string::npos) << job.message();
    // The backoff (0.2 s, then 0.4 s) holds the relaunch; the slots stay the job's meanwhile.
    EXPECT_EQ(Beat("n1", {}).launch_size(), 0) << "relaunched before its backoff";
    std::this_thread::sleep_for(std::chrono::milliseconds(250 * (1 << (restart - 1)) + 50));
    auto relaunch = Beat("n1", {});
    ASSERT_EQ(relaunch.launch_size(), 1) << "restart " << restart;
    EXPECT_EQ(relaunch.launch(0).attempt(), restart + 1);
  }
  Beat("n1", {Runtime(a->id())});
  Beat("n1", {Runtime(a->id(), /*exited=*/true, 1)});
  v1::Job failed = *manager_->Get(a->id());
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_NE(failed.message().find("after 2 restarts"), std::string::npos) << failed.message();
}

}  // namespace
}  // namespace braintune::coordinator

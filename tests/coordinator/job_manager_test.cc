#include "coordinator/job_manager.h"

#include <gtest/gtest.h>

#include <set>

#include <atomic>
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
  // The node's agent registers (as with access control off: it may replace a live one).
  void Register(const v1::NodeInfo& node) {
    bool restarted = false;
    ASSERT_TRUE(nodes_.Register(node, NowMs(), /*may_replace=*/true, &restarted).ok());
  }
  // Every job, page after page, as `braintune list --all` gets them.
  std::vector<v1::Job> All(v1::ListJobsRequest request = {}, int* pages = nullptr) {
    std::vector<v1::Job> jobs;
    do {
      absl::StatusOr<v1::ListJobsResponse> page = manager_->List(request);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      EXPECT_LT(page->ByteSizeLong(), 4u << 20) << "a page must fit gRPC's default message limit";
      if (pages != nullptr) ++*pages;
      jobs.insert(jobs.end(), page->jobs().begin(), page->jobs().end());
      request.set_page_token(page->next_page_token());
    } while (!request.page_token().empty());
    return jobs;
  }

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
  EXPECT_TRUE(All().empty());
}

TEST_F(JobManagerTest, ProgressReportsEveryStepAreRefusedAtSubmission) {
  v1::JobSpec spec;
  spec.set_spec_yaml("name: x\ndata: {path: /d.h5}\ntraining: {log_every: 1}\n");
  auto job = manager_->Submit(spec, "ana");
  ASSERT_FALSE(job.ok());
  EXPECT_NE(std::string(job.status().message()).find("log_every"), std::string::npos) << job.status();
  spec.set_spec_yaml("name: x\ndata: {path: /d.h5}\ntraining: {log_every: 5}\n");
  EXPECT_TRUE(manager_->Submit(spec, "ana").ok());
}

TEST_F(JobManagerTest, FifoGangSchedulingLaunchAndSuccess) {
  Register(Node("n1", 2));
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

// Issue 17, reproduction 5: five specs of nearly 1 MiB each once made every heartbeat reply
// exceed gRPC's 4 MiB limit, and the node's other jobs never started. Replies now carry at
// most a few MiB of launches; the rest come with the next heartbeats.
TEST_F(JobManagerTest, LargeSpecsNeverOverflowAHeartbeatReply) {
  Register(Node("n1", 8));
  const std::string padding = "# " + std::string(900 << 10, 'x') + "\n";
  std::set<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    v1::JobSpec big = Spec("big" + std::to_string(i), 1);
    big.set_spec_yaml(big.spec_yaml() + padding);
    auto job = manager_->Submit(big, "ana");
    ASSERT_TRUE(job.ok()) << job.status();
    ids.insert(job->id());
  }
  auto small = manager_->Submit(Spec("small", 1), "bo");
  ASSERT_TRUE(small.ok());
  ids.insert(small->id());
  manager_->SchedulePass();
  std::set<std::string> launched;
  std::vector<v1::JobRuntime> held;
  for (int beat = 0; beat < 10 && launched.size() < ids.size(); ++beat) {
    v1::HeartbeatResponse reply = Beat("n1", held);
    EXPECT_LT(reply.ByteSizeLong(), 3u << 20) << "heartbeat " << beat;
    for (const auto& l : reply.launch()) {
      launched.insert(l.job_id());
      held.push_back(Runtime(l.job_id()));
    }
  }
  EXPECT_EQ(launched, ids) << "every job, the small one included, was launched";
}

TEST_F(JobManagerTest, NonZeroExitWithoutRestartsFailsWithTheLog) {
  Register(Node("n1", 1));
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
  Register(Node("n1", 1));
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
  Register(Node("n1", 1));
  auto a = manager_->Submit(Spec("a", 1), "ana");
  auto b = manager_->Submit(Spec("b", 1), "ana");
  manager_->SchedulePass();
  Beat("n1", {Runtime(a->id())});
  ASSERT_TRUE(manager_->Cancel(b->id()).ok());
  Open();  // a new manager over the same database, as after a coordinator restart
  auto jobs = All();
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
  Register(Node("n1", 2));
  auto big = manager_->Submit(Spec("big", 8), "ana");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(big.status().message()).find("can never run on this pool: needs 8 slots but the pool has 2"),
            std::string::npos)
      << big.status();
  EXPECT_TRUE(All().empty());
}

TEST_F(JobManagerTest, AJobTooBigForThePoolAsItIsDoesNotHoldUpTheQueue) {
  auto big = manager_->Submit(Spec("big", 8), "ana");  // no nodes yet: not judged
  ASSERT_TRUE(big.ok()) << big.status();
  Register(Node("n1", 2));
  auto small = manager_->Submit(Spec("small", 1), "bo");
  manager_->SchedulePass();
  EXPECT_EQ(State(big->id()), v1::QUEUED);
  EXPECT_NE(manager_->Get(big->id())->message().find("cannot fit the pool"), std::string::npos)
      << manager_->Get(big->id())->message();
  EXPECT_EQ(State(small->id()), v1::SCHEDULED);
}

TEST_F(JobManagerTest, PriorityOrderAndPreemptionRequeueTheLowerJob) {
  Register(Node("n1", 2));
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
  Register(n1);
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
  Register(Node("n1", 1));
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
  Register(Node("n1", 1));
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
  Register(Node("n2", 1));
  manager_->SchedulePass();
  ASSERT_EQ(State(a->id()), v1::SCHEDULED);
  EXPECT_EQ(manager_->Get(a->id())->placements(0).node(), "n2");
  auto launch = Beat("n2", {});
  ASSERT_EQ(launch.launch_size(), 1);
  EXPECT_EQ(launch.launch(0).attempt(), 2);
  // n1 comes back (a network partition healed) still running the old launch: stopped, forgotten.
  Register(Node("n1", 1));
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
  Register(Node("n1", 1));
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

// The real store, counting its writes.
class CountingJobStore : public store::JobStore {
 public:
  explicit CountingJobStore(std::unique_ptr<store::JobStore> inner) : inner_(std::move(inner)) {}
  absl::Status Put(const v1::Job& job) override {
    ++puts;
    return inner_->Put(job);
  }
  absl::StatusOr<v1::Job> Get(const std::string& id) override { return inner_->Get(id); }
  absl::StatusOr<std::vector<v1::Job>> List() override { return inner_->List(); }
  absl::Status Delete(const std::vector<std::string>& ids) override { return inner_->Delete(ids); }
  std::atomic<int> puts{0};

 private:
  std::unique_ptr<store::JobStore> inner_;
};

TEST_F(JobManagerTest, TenThousandJobsAreListedInPagesUnderTheMessageLimit) {
  // Stored directly (group-committed by many threads, as concurrent submissions are), each with
  // 2 KiB of spec text: 20 MB of specs in all, five times gRPC's message limit.
  const std::string yaml = "name: big\ndata: {path: /d.h5}\n# " + std::string(2048, 'x') + "\n";
  constexpr int kJobs = 10000, kThreads = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t + 1; i <= kJobs; i += kThreads) {
        v1::Job job;
        job.set_id(absl::StrCat("job-", i));
        job.set_user(i % 2 ? "ana" : "bo");
        job.set_state(i % 3 ? v1::SUCCEEDED : v1::QUEUED);
        job.mutable_spec()->set_name("big");
        job.mutable_spec()->set_spec_yaml(yaml);
        job.add_events()->set_message("submitted");
        ASSERT_TRUE(store_->Put(job).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  Open();

  int pages = 0;
  std::vector<v1::Job> jobs = All({}, &pages);
  ASSERT_EQ(jobs.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(pages, kJobs / 100) << "pages of 100 by default";
  for (int i = 0; i < kJobs; ++i) {
    ASSERT_EQ(jobs[i].id(), absl::StrCat("job-", i + 1)) << "oldest first, each once";
    EXPECT_TRUE(jobs[i].spec().spec_yaml().empty()) << "no spec text unless asked";
    EXPECT_EQ(jobs[i].events_size(), 0);
    EXPECT_EQ(jobs[i].spec().name(), "big");
  }

  // With the spec text, pages of up to 1000 are cut by size instead.
  v1::ListJobsRequest full;
  full.set_page_size(5000);  // taken as 1000
  full.set_include_spec(true);
  pages = 0;
  jobs = All(full, &pages);
  ASSERT_EQ(jobs.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(jobs[0].spec().spec_yaml(), yaml);
  EXPECT_GE(pages, 10);

  // The newest 250 of bo's jobs, oldest first, across pages of 100; a job submitted while
  // paging does not shift the pages (nor join this list).
  v1::ListJobsRequest newest;
  newest.set_limit(250);
  absl::StatusOr<v1::ListJobsResponse> first = manager_->List(newest, "bo");
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->jobs_size(), 100);
  ASSERT_FALSE(first->next_page_token().empty());
  ASSERT_TRUE(manager_->Submit(Spec("late", 1), "bo").ok());
  std::vector<std::string> ids;
  for (const auto& j : first->jobs()) ids.push_back(j.id());
  newest.set_page_token(first->next_page_token());
  do {
    absl::StatusOr<v1::ListJobsResponse> page = manager_->List(newest, "bo");
    ASSERT_TRUE(page.ok());
    for (const auto& j : page->jobs()) ids.push_back(j.id());
    newest.set_page_token(page->next_page_token());
  } while (!newest.page_token().empty());
  ASSERT_EQ(ids.size(), 250u);
  for (int k = 0; k < 250; ++k) ASSERT_EQ(ids[k], absl::StrCat("job-", kJobs - 498 + 2 * k));

  v1::ListJobsRequest queued;
  queued.add_states(v1::QUEUED);
  EXPECT_EQ(All(queued).size(), static_cast<size_t>(kJobs / 3 + 1)) << "every third, and the late one";

  v1::ListJobsRequest forged;
  forged.set_page_token("../../etc");
  EXPECT_EQ(manager_->List(forged).status().code(), absl::StatusCode::kInvalidArgument);
  forged.clear_page_token();
  forged.set_page_size(-1);
  EXPECT_EQ(manager_->List(forged).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobManagerTest, PruningForgetsOnlyFinishedJobsOlderThanTheCutoff) {
  Register(Node("n1", 1));
  auto running = manager_->Submit(Spec("running", 1), "ana");
  auto queued = manager_->Submit(Spec("queued", 1), "ana");
  auto cancelled = manager_->Submit(Spec("cancelled", 1), "ana");
  manager_->SchedulePass();
  Beat("n1", {Runtime(running->id())});
  ASSERT_EQ(State(running->id()), v1::RUNNING);
  ASSERT_TRUE(manager_->Cancel(cancelled->id()).ok());

  auto none = manager_->PruneFinished(NowMs() - 3600 * 1000);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << "finished within the last hour: kept";

  int64_t version = 0;
  ASSERT_TRUE(manager_->WaitForChange(cancelled->id(), &version, absl::Milliseconds(1)).ok());
  auto pruned = manager_->PruneFinished(NowMs() + 1);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, std::vector<std::string>{cancelled->id()});
  EXPECT_EQ(manager_->Get(cancelled->id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->WaitForChange(cancelled->id(), &version, absl::Seconds(5)).status().code(),
            absl::StatusCode::kNotFound)
      << "a watcher of a pruned job is told at once";
  std::vector<v1::Job> left = All();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].state(), v1::RUNNING);
  EXPECT_EQ(left[1].state(), v1::QUEUED);
  Open();  // gone from the store too
  EXPECT_FALSE(manager_->Contains(cancelled->id()));
  EXPECT_EQ(All().size(), 2u);
}

TEST_F(JobManagerTest, AProgressBurstCostsAHandfulOfStoreWritesAndTheEndIsWrittenAtOnce) {
  manager_.reset();
  CountingJobStore counting(std::move(store_));
  manager_ = *JobManager::Create(&counting, &scheduling_, &nodes_);
  Register(Node("n1", 1));
  auto a = manager_->Submit(Spec("a", 1), "ana");
  manager_->SchedulePass();
  Beat("n1", {Runtime(a->id())});
  ASSERT_EQ(State(a->id()), v1::RUNNING);

  const int before = counting.puts.load();
  v1::ReportProgressRequest report;
  report.set_job_id(a->id());
  report.set_attempt(1);
  report.mutable_progress()->set_phase("training");
  report.mutable_progress()->set_total_steps(1000);
  const auto start = std::chrono::steady_clock::now();
  for (int step = 1; step <= 1000; ++step) {
    report.mutable_progress()->set_step(step);
    ASSERT_TRUE(manager_->ReportProgress(report).ok());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LE(counting.puts.load() - before, 2 + static_cast<int>(seconds)) << "at most one write per second";
  EXPECT_EQ(manager_->Get(a->id())->progress().step(), 1000) << "the latest report is what everyone sees";

  // The report held back reaches the store with the periodic flush, once a second has passed.
  manager_->FlushProgress();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  manager_->FlushProgress();
  EXPECT_EQ(counting.Get(a->id())->progress().step(), 1000);

  // The end (phase done, a result) is written at once: a restarted coordinator has it.
  const int flushed = counting.puts.load();
  report.mutable_progress()->set_phase("done");
  report.mutable_result()->set_mean_pearson_r(0.5);
  ASSERT_TRUE(manager_->ReportProgress(report).ok());
  EXPECT_EQ(counting.puts.load(), flushed + 1);
  EXPECT_EQ(counting.Get(a->id())->result().mean_pearson_r(), 0.5);
  manager_.reset();  // before `counting`
}

// Issue 20: the dashboard's loss curve and `braintune status`' sparkline read a history that
// stays small however long the job runs, and still spans the whole run, whatever the job's
// reporting interval (log_every); a restart from an earlier checkpoint rewrites the rest.
TEST_F(JobManagerTest, ProgressHistoryIsBoundedAndSpansTheWholeRun) {
  Register(Node("n1", 3));
  for (const auto& [log_every, steps] : {std::pair<int64_t, int64_t>{1, 5000}, {10, 100000}, {1000, 1000000}}) {
    auto a = manager_->Submit(Spec("a", 1), "ana");
    ASSERT_TRUE(a.ok());
    manager_->SchedulePass();
    Beat("n1", {Runtime(a->id())});
    ASSERT_EQ(State(a->id()), v1::RUNNING);
    v1::ReportProgressRequest report;
    report.set_job_id(a->id());
    report.mutable_progress()->set_phase("training");
    report.mutable_progress()->set_total_steps(steps);
    for (int64_t step = log_every; step <= steps; step += log_every) {
      report.mutable_progress()->set_step(step);
      report.mutable_progress()->set_loss(1.0 / step);
      if (step % (50 * log_every) == 0) report.mutable_progress()->set_validation_loss(2.0 / step);
      ASSERT_TRUE(manager_->ReportProgress(report).ok());
    }
    const int before = manager_->Get(a->id())->history_size();
    ASSERT_TRUE(manager_->ReportProgress(report).ok());
    v1::Job job = *manager_->Get(a->id());
    EXPECT_EQ(job.history_size(), before) << "a repeated report adds no point";
    SCOPED_TRACE(absl::StrCat("log_every ", log_every, ", ", steps, " steps, ", job.history_size(), " points"));
    ASSERT_LE(job.history_size(), JobManager::kHistoryPoints);
    ASSERT_GE(job.history_size(), JobManager::kHistoryPoints / 3) << "enough points for a curve";
    EXPECT_EQ(job.history(0).step(), log_every);
    EXPECT_EQ(job.history(job.history_size() - 1).step(), steps) << "the newest point is kept";
    EXPECT_DOUBLE_EQ(job.history(job.history_size() - 1).loss(), 1.0 / steps);
    int64_t largest_gap = 0;
    for (int i = 1; i < job.history_size(); ++i) {
      ASSERT_GT(job.history(i).step(), job.history(i - 1).step());
      largest_gap = std::max(largest_gap, job.history(i).step() - job.history(i - 1).step());
    }
    EXPECT_LE(largest_gap, 4 * steps / job.history_size()) << "points are spread evenly over the run";
    EXPECT_TRUE(job.history(job.history_size() - 1).has_validation_loss());
    EXPECT_FALSE(job.history(0).has_validation_loss()) << "no validation loss before the first check";
    EXPECT_GT(job.progress().reported_ms(), 0) << "the coordinator stamps each report";

    // Restarted from the checkpoint at half the steps: the later points go, the run goes on.
    report.mutable_progress()->set_step(steps / 2);
    ASSERT_TRUE(manager_->ReportProgress(report).ok());
    job = *manager_->Get(a->id());
    EXPECT_EQ(job.history(job.history_size() - 1).step(), steps / 2);
    for (int64_t step = steps / 2 + log_every; step <= steps; step += log_every) {
      report.mutable_progress()->set_step(step);
      ASSERT_TRUE(manager_->ReportProgress(report).ok());
    }
    job = *manager_->Get(a->id());
    EXPECT_LE(job.history_size(), JobManager::kHistoryPoints);
    for (int i = 1; i < job.history_size(); ++i) ASSERT_GT(job.history(i).step(), job.history(i - 1).step());
  }

  EXPECT_EQ(All()[0].history_size(), 0) << "listings leave the history out, as the events";
  const v1::Job first = *manager_->Get(All()[0].id());
  manager_->FlushProgress(/*all=*/true);
  Open();
  EXPECT_EQ(manager_->Get(first.id())->history_size(), first.history_size()) << "the history survives a restart";
}

// Issue 20: per-job series exist while jobs run and end with them: a thousand finished jobs
// leave none behind (the pool's gauges are computed from the jobs as they are now).
TEST_F(JobManagerTest, AThousandFinishedJobsLeaveNoPerJobSeries) {
  Metrics metrics;
  manager_->SetMetrics(&metrics);
  Register(Node("n1", 1000));
  std::vector<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back(manager_->Submit(Spec("j" + std::to_string(i), 1), "ana")->id());
  manager_->SchedulePass();
  std::vector<v1::JobRuntime> running;
  for (const auto& id : ids) running.push_back(Runtime(id));
  Beat("n1", running);
  v1::ReportProgressRequest report;
  report.mutable_progress()->set_phase("training");
  report.mutable_progress()->set_step(1);
  report.mutable_progress()->set_total_steps(10);
  for (const auto& id : ids) {
    ASSERT_EQ(State(id), v1::RUNNING);
    report.set_job_id(id);
    ASSERT_TRUE(manager_->ReportProgress(report).ok());
  }
  auto per_job = [](const std::string& text) {
    size_t n = 0;
    for (size_t at = text.find("job_id=\""); at != std::string::npos; at = text.find("job_id=\"", at + 1)) ++n;
    return n;
  };
  std::string text = metrics.Render(manager_->Snapshot(), NowMs());
  EXPECT_EQ(per_job(text), 1000u * 8) << "eight gauges per running job";
  EXPECT_NE(text.find("braintune_node_slots_in_use{node=\"n1\"} 1000"), std::string::npos) << text.substr(0, 2000);

  std::vector<v1::JobRuntime> exited;
  for (const auto& id : ids) exited.push_back(Runtime(id, /*exited=*/true, 0));
  Beat("n1", exited);
  text = metrics.Render(manager_->Snapshot(), NowMs());
  EXPECT_EQ(per_job(text), 0u);
  EXPECT_NE(text.find("braintune_jobs{state=\"SUCCEEDED\",user=\"ana\",group=\"\"} 1000"), std::string::npos);
  EXPECT_NE(text.find("braintune_jobs_finished_total{state=\"SUCCEEDED\"} 1000"), std::string::npos);
  EXPECT_NE(text.find("braintune_job_queue_wait_seconds_count 1000"), std::string::npos);
  EXPECT_NE(text.find("braintune_node_slots_in_use{node=\"n1\"} 0"), std::string::npos);
}

// Issue 20: `braintune nodes` and the dashboard name only the viewer's jobs on each node.
TEST_F(JobManagerTest, NodesNameOnlyTheViewersJobs) {
  Register(Node("n1", 4));
  auto a = manager_->Submit(Spec("a", 2), "ana");
  auto b = manager_->Submit(Spec("b", 1), "bo");
  manager_->SchedulePass();
  std::vector<v1::NodeStatus> nodes = manager_->Nodes("bo", /*all=*/false);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].name(), "n1");
  EXPECT_EQ(nodes[0].state(), v1::NodeStatus::LIVE);
  EXPECT_EQ(nodes[0].cpu_slots(), 4);
  EXPECT_EQ(nodes[0].slots_in_use(), 3);
  ASSERT_EQ(nodes[0].job_ids_size(), 1);
  EXPECT_EQ(nodes[0].job_ids(0), b->id());
  EXPECT_EQ(nodes[0].other_jobs(), 1);
  nodes = manager_->Nodes("", /*all=*/true);
  EXPECT_EQ(nodes[0].job_ids_size(), 2);
  EXPECT_EQ(nodes[0].other_jobs(), 0);
  EXPECT_GT(nodes[0].last_heartbeat_ms(), 0);
}

}  // namespace
}  // namespace braintune::coordinator

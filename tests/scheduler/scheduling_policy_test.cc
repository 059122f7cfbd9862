// The scheduling policy without gRPC: what a lab's users would notice about who starts, where,
// and why the others wait.
#include <gtest/gtest.h>

#include "scheduler/scheduling_policy.h"

namespace braintune::scheduler {
namespace {

using Kind = Decision::Kind;

Node GpuNode(const std::string& name, int gpus, int64_t memory_mb = 80000) {
  return {name, gpus, gpus, memory_mb, gpus, gpus};
}
Node CpuNode(const std::string& name, int slots) { return {name, slots, 0, 0, slots, 0}; }

JobDemand Job(const std::string& id, int ranks, int gpus_per_rank, const std::string& user = "ann", int priority = 100,
              int64_t submitted_ms = 0) {
  JobDemand j;
  j.id = id;
  j.user = user;
  j.ranks = ranks;
  j.gpus_per_rank = gpus_per_rank;
  j.priority = priority;
  j.submitted_ms = submitted_ms;
  return j;
}

const QueuedDecision& For(const PassResult& r, const std::string& id) {
  for (const auto& d : r.jobs) {
    if (d.job_id == id) return d;
  }
  static QueuedDecision none;
  ADD_FAILURE() << "no decision for " << id;
  return none;
}

// Marks `placement` of `job` as used on `nodes`.
RunningJob Running(const JobDemand& job, std::vector<SlotAssignment> placement, std::vector<Node>* nodes,
                   int64_t started_ms = 0) {
  for (const auto& a : placement) {
    for (auto& n : *nodes) {
      if (n.name == a.node) n.free_slots -= a.slots, n.free_gpus -= a.slots * job.gpus_per_rank;
    }
  }
  return {job, std::move(placement), started_ms};
}

TEST(PlaceGangTest, AllRanksOrNoneOnTheFewestNodes) {
  std::vector<Node> nodes = {CpuNode("a", 4), CpuNode("b", 4)};
  nodes[0].free_slots = 1;
  nodes[1].free_slots = 1;
  EXPECT_TRUE(PlaceGang(Job("j", 3, 0), nodes).empty()) << "never a partial placement";
  nodes = {GpuNode("big", 8), GpuNode("small", 2), GpuNode("mid", 4)};
  auto one = PlaceGang(Job("j", 2, 1), nodes);  // best fit: the smallest node that holds it
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].node, "small");
  auto two = PlaceGang(Job("j", 10, 1), nodes);  // 8 + 2 would do, 8 + 4 is what "most first" gives
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].node, "big");
  EXPECT_EQ(two[0].slots, 8);
  EXPECT_EQ(two[1].slots, 2);
}

TEST(PlaceGangTest, GpuMemoryAndGpusPerRankAreRespected) {
  std::vector<Node> nodes = {GpuNode("small-mem", 8, 40000), GpuNode("large-mem", 4, 80000)};
  JobDemand j = Job("j", 2, 2);
  j.gpu_memory_mb = 60000;
  auto where = PlaceGang(j, nodes);
  ASSERT_EQ(where.size(), 1u);
  EXPECT_EQ(where[0].node, "large-mem");
  j.ranks = 3;  // 6 GPUs with 60 GB: only 4 exist
  EXPECT_TRUE(PlaceGang(j, nodes).empty());
}

TEST(MultifactorPolicyTest, HigherPriorityStartsFirstAndPositionsFollowTheOrder) {
  auto policy = MakeMultifactorPolicy({});
  std::vector<Node> nodes = {GpuNode("n", 8)};
  PassResult r = policy->Schedule({Job("low", 1, 8, "ann", 10), Job("high", 1, 8, "bob", 900), Job("mid", 1, 8, "cy", 500)},
                                  {}, nodes, {}, 0);
  ASSERT_EQ(r.jobs.size(), 3u);
  EXPECT_EQ(r.jobs[0].job_id, "high");
  EXPECT_EQ(For(r, "high").decision.kind, Kind::kScheduled);
  EXPECT_EQ(For(r, "mid").position, 1);
  EXPECT_EQ(For(r, "low").position, 2);
  EXPECT_NE(For(r, "mid").decision.reason.find("waiting for resources"), std::string::npos);
}

TEST(MultifactorPolicyTest, FairShareFavoursTheUserWhoUsedLess) {
  auto policy = MakeMultifactorPolicy({});
  std::vector<Node> nodes = {GpuNode("n", 8)};
  Usage usage;
  usage.user["ann"] = 1e6;  // GPU-seconds
  usage.user["bob"] = 1e3;
  PassResult r = policy->Schedule({Job("ann-job", 1, 8, "ann", 100, 0), Job("bob-job", 1, 8, "bob", 100, 1)}, {}, nodes,
                                  usage, 1000);
  EXPECT_EQ(For(r, "bob-job").decision.kind, Kind::kScheduled);
  EXPECT_EQ(For(r, "ann-job").decision.kind, Kind::kWait);
  // With a share 1000 times bob's, ann is under her share and goes first.
  PolicyConfig c;
  c.user_shares["ann"] = 1000;
  r = MakeMultifactorPolicy(c)->Schedule({Job("ann-job", 1, 8, "ann", 100, 0), Job("bob-job", 1, 8, "bob", 100, 1)},
                                         {}, nodes, usage, 1000);
  EXPECT_EQ(For(r, "ann-job").decision.kind, Kind::kScheduled);
}

TEST(MultifactorPolicyTest, OlderJobsGoFirstAtEqualPriority) {
  auto policy = MakeMultifactorPolicy({});
  std::vector<Node> nodes = {GpuNode("n", 8)};
  const int64_t hour = 3'600'000;
  PassResult r = policy->Schedule({Job("new", 1, 8, "ann", 100, 10 * hour), Job("old", 1, 8, "bob", 100, 0)}, {}, nodes,
                                  {}, 12 * hour);
  EXPECT_EQ(For(r, "old").decision.kind, Kind::kScheduled);
  EXPECT_GT(For(r, "old").score, For(r, "new").score);
}

TEST(MultifactorPolicyTest, QuotasHoldOrRejectWithTheReason) {
  PolicyConfig c;
  c.user_max_gpus["ann"] = 8;
  c.group_max_gpus["lab"] = 10;
  auto policy = MakeMultifactorPolicy(c);
  std::vector<Node> nodes = {GpuNode("a", 8), GpuNode("b", 8)};
  RunningJob running = Running(Job("r", 1, 4, "ann"), {{"a", 1}}, &nodes);
  JobDemand held = Job("held", 1, 8, "ann");
  JobDemand group_held = Job("group-held", 1, 8, "bob");
  group_held.group = "lab";
  running.demand.group = "lab";
  PassResult r = policy->Schedule({held, group_held, Job("too-big", 2, 8, "ann")}, {running}, nodes, {}, 0);
  EXPECT_EQ(For(r, "held").decision.kind, Kind::kWait);
  EXPECT_NE(For(r, "held").decision.reason.find("GPU quota of user ann: 4 of 8 in use, this job needs 8"),
            std::string::npos)
      << For(r, "held").decision.reason;
  EXPECT_NE(For(r, "group-held").decision.reason.find("GPU quota of group lab: 4 of 10 in use"), std::string::npos)
      << For(r, "group-held").decision.reason;
  EXPECT_EQ(For(r, "too-big").decision.kind, Kind::kInfeasible);
  EXPECT_NE(For(r, "too-big").decision.reason.find("the GPU quota of user ann is 8"), std::string::npos);
}

TEST(MultifactorPolicyTest, BackfillUsesOnlyWhatTheFirstWaitingJobWillNotNeed) {
  PolicyConfig c;
  c.preemption = false;
  auto policy = MakeMultifactorPolicy(c);
  std::vector<Node> nodes = {GpuNode("a", 8), GpuNode("b", 8)};
  std::vector<RunningJob> running = {Running(Job("r", 1, 6, "zed", 100), {{"a", 1}}, &nodes)};  // 10 GPUs free
  JobDemand big = Job("big", 12, 1, "ann", 500);
  big.gpu_memory_mb = 60000;
  // big needs 12 GPUs of 60 GB: it waits, holding the 10 free ones; small would take 2 of them.
  PassResult r = policy->Schedule({big, Job("small", 2, 1, "bob", 100)}, running, nodes, {}, 0);
  EXPECT_EQ(For(r, "big").decision.kind, Kind::kWait);
  EXPECT_EQ(For(r, "small").decision.kind, Kind::kWait) << "it would delay big";
  EXPECT_NE(For(r, "small").decision.reason.find("held for big"), std::string::npos) << For(r, "small").decision.reason;
  // A node with 40 GB GPUs is of no use to big: small backfills there.
  nodes.push_back(GpuNode("c", 4, 40000));
  r = policy->Schedule({big, Job("small", 2, 1, "bob", 100)}, running, nodes, {}, 0);
  EXPECT_EQ(For(r, "big").decision.kind, Kind::kWait);
  ASSERT_EQ(For(r, "small").decision.kind, Kind::kScheduled);
  EXPECT_EQ(For(r, "small").decision.assignments[0].node, "c");
  // Without backfill nothing passes the first waiting job.
  c.backfill = false;
  r = MakeMultifactorPolicy(c)->Schedule({big, Job("small", 2, 1, "bob", 100)}, running, nodes, {}, 0);
  EXPECT_EQ(For(r, "small").decision.kind, Kind::kWait);
  EXPECT_NE(For(r, "small").decision.reason.find("backfill is off"), std::string::npos);
}

TEST(MultifactorPolicyTest, PreemptsTheFewestLowerPriorityJobs) {
  auto policy = MakeMultifactorPolicy({});
  std::vector<Node> nodes = {GpuNode("a", 8), GpuNode("b", 8)};
  std::vector<RunningJob> running = {
      Running(Job("low-old", 1, 4, "x", 10), {{"a", 1}}, &nodes, 0),
      Running(Job("low-new", 1, 4, "x", 10), {{"a", 1}}, &nodes, 100),
      Running(Job("mid", 1, 8, "y", 200), {{"b", 1}}, &nodes, 0),
  };
  JobDemand pinned = Job("pinned", 1, 8, "z", 900);
  PassResult r = policy->Schedule({Job("urgent", 1, 8, "boss", 900)}, running, nodes, {}, 0);
  EXPECT_EQ(For(r, "urgent").decision.kind, Kind::kWait);
  EXPECT_EQ(r.preempt, (std::vector<std::string>{"low-new", "low-old"})) << "node a frees with both low jobs gone";
  EXPECT_NE(For(r, "urgent").decision.reason.find("preempting low-new, low-old"), std::string::npos);
  // Equal priority preempts nothing; neither does a job that is not preemptible.
  r = policy->Schedule({Job("peer", 1, 8, "boss", 10)}, running, nodes, {}, 0);
  EXPECT_TRUE(r.preempt.empty());
  for (auto& j : running) j.demand.preemptible = false;
  r = policy->Schedule({Job("urgent", 1, 8, "boss", 900)}, running, nodes, {}, 0);
  EXPECT_TRUE(r.preempt.empty());
}

TEST(MultifactorPolicyTest, JobsThatCanNeverFitAreInfeasibleWithTheReason) {
  auto policy = MakeMultifactorPolicy({});
  std::vector<Node> nodes = {GpuNode("a", 8, 40000), GpuNode("b", 4, 80000)};
  JobDemand mem = Job("mem", 2, 4, "ann");
  mem.gpu_memory_mb = 60000;
  Decision d = policy->CheckFeasible(mem, nodes);
  EXPECT_EQ(d.kind, Kind::kInfeasible);
  EXPECT_NE(d.reason.find("needs 2 ranks of 4 GPUs with at least 60000 MB each; the pool holds 1 such ranks (1 of 2 nodes"),
            std::string::npos)
      << d.reason;
  EXPECT_EQ(policy->CheckFeasible(Job("cpu", 9, 0), {CpuNode("c", 8)}).kind, Kind::kInfeasible);
  EXPECT_EQ(policy->CheckFeasible(Job("fits", 3, 4), nodes).kind, Kind::kScheduled);
  EXPECT_EQ(policy->CheckFeasible(Job("no-nodes", 64, 8), {}).kind, Kind::kScheduled) << "no pool yet: not judged";
  PassResult r = policy->Schedule({Job("j", 1, 1)}, {}, {}, {}, 0);
  EXPECT_EQ(For(r, "j").decision.kind, Kind::kWait);
  EXPECT_NE(For(r, "j").decision.reason.find("no worker nodes are registered"), std::string::npos);
}

TEST(PolicyConfigTest, ParsesTheOperatorsFileAndNamesBadKeys) {
  auto c = ParsePolicyConfig(
      "weights: {priority: 2000, fairshare: 500, age: 0}\n"
      "backfill: false\n"
      "default_user_max_gpus: 16\n"
      "users:\n  ann: {share: 2, max_gpus: 32}\n"
      "groups:\n  huth-lab: {share: 3, max_gpus: 64}\n",
      "policy.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->weight_priority, 2000);
  EXPECT_FALSE(c->backfill);
  EXPECT_TRUE(c->preemption);
  EXPECT_EQ(c->default_user_max_gpus, 16);
  EXPECT_EQ(c->user_max_gpus.at("ann"), 32);
  EXPECT_DOUBLE_EQ(c->group_shares.at("huth-lab"), 3);
  auto bad = ParsePolicyConfig("users:\n  ann: {shares: 2}\n", "policy.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("policy.yaml:2: users.ann.shares: unknown key"), std::string::npos)
      << bad.status();
  bad = ParsePolicyConfig("weights: {age: -1}\n", "policy.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("weights.age: -1 is out of range"), std::string::npos)
      << bad.status();
}

}  // namespace
}  // namespace braintune::scheduler

// The coordinator's pieces of the security model (docs/operations.md): launch credentials,
// admission from the policy, and node registration without takeovers.
#include <gtest/gtest.h>

#include "coordinator/auth.h"

#include <sys/stat.h>

#include "coordinator/admission.h"
#include "coordinator/job_credentials.h"
#include "coordinator/node_manager.h"
#include "testing/process.h"

namespace braintune::coordinator {
namespace {

TEST(JobCredentialsTest, OneLaunchOnlyAndNothingForged) {
  testing::TempDir dir;
  auto credentials = JobCredentials::LoadOrCreate(dir.File("jobs.db.key"));
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  struct stat st;
  ASSERT_EQ(::stat(dir.File("jobs.db.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string c = credentials->Issue("job-7", 2);
  auto launch = credentials->Verify(c);
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_EQ(launch->job_id, "job-7");
  EXPECT_EQ(launch->attempt, 2);
  // The same key after a restart verifies it; another key does not.
  auto reloaded = JobCredentials::LoadOrCreate(dir.File("jobs.db.key"));
  ASSERT_TRUE(reloaded.ok());
  EXPECT_TRUE(reloaded->Verify(c).ok());
  EXPECT_FALSE(JobCredentials(std::string(32, 'x')).Verify(c).ok());
  // Another job or attempt under the same MAC, or a changed MAC, is refused.
  std::string other = c;
  other.replace(other.find("job-7"), 5, "job-8");
  EXPECT_EQ(credentials->Verify(other).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(credentials->Verify("job.job-7.3." + c.substr(c.rfind('.') + 1)).ok());
  std::string flipped = c;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_FALSE(credentials->Verify(flipped).ok());
  EXPECT_FALSE(credentials->Verify("bt_0123").ok());
}

v1::JobSpec Spec(int priority, const std::string& group = "", bool preemptible = true) {
  v1::JobSpec s;
  s.set_priority(priority);
  s.set_group(group);
  s.set_preemptible(preemptible);
  return s;
}

TEST(AdmissionTest, AccountsAndLimitsComeFromThePolicy) {
  scheduler::PolicyConfig policy;
  policy.user_accounts = {{"ann", "ann_unix"}, {"eve", "root"}};
  policy.user_groups = {{"ann", {"lab"}}};
  policy.group_max_priority = {{"lab", 400}};
  policy.nonpreemptible_groups = {"lab"};
  const Caller ann{"ann", false, false, ""};
  auto ok = AdmitJob(Spec(100), ann, true, policy);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "ann_unix");
  EXPECT_TRUE(AdmitJob(Spec(400, "lab", false), ann, true, policy).ok());
  for (const auto& [spec, why] : std::vector<std::pair<v1::JobSpec, std::string>>{
           {Spec(101), "resources.priority: 101 is above the most the policy allows user 'ann' (100)"},
           {Spec(401, "lab"), "(400)"},
           {Spec(100, "other"), "resources.group: 'other' is not one of user 'ann''s groups in the policy (lab)"},
           {Spec(100, "", false), "resources.preemptible: false needs allow_nonpreemptible"}}) {
    auto refused = AdmitJob(spec, ann, true, policy);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_NE(refused.status().message().find(why), std::string::npos) << refused.status();
  }
  // Unmapped, or mapped to root: refused, admins included. Same-name accounts when asked.
  EXPECT_NE(AdmitJob(Spec(100), Caller{"bob", true, false, ""}, true, policy).status().message().find("has no Unix account"),
            std::string::npos);
  EXPECT_NE(AdmitJob(Spec(100), Caller{"eve", true, false, ""}, true, policy).status().message().find("never run as root"),
            std::string::npos);
  policy.accounts_same_as_users = true;
  EXPECT_EQ(*AdmitJob(Spec(1000), Caller{"bob", true, false, ""}, true, policy), "bob") << "admins skip the limits";
  // One user, no access control: everything, as the agent's own account.
  EXPECT_EQ(*AdmitJob(Spec(1000, "any", false), Caller{}, false, policy), "");
}

TEST(NodeManagerTest, NoTakeoverOfALiveNodeButARestartIsRequeued) {
  NodeManager nodes(/*heartbeat_timeout_ms=*/1000);
  v1::NodeInfo a;
  a.set_name("node-a");
  a.set_cpu_slots(2);
  a.set_instance_id("first");
  bool restarted = true;
  ASSERT_TRUE(nodes.Register(a, 0, /*may_replace=*/false, &restarted).ok());
  EXPECT_FALSE(restarted);
  EXPECT_TRUE(nodes.Register(a, 10, false, &restarted).ok()) << "the same agent registering again";
  v1::NodeInfo fake = a;
  fake.set_instance_id("second");
  absl::Status s = nodes.Register(fake, 20, /*may_replace=*/false, &restarted);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(s.message().find("node-a is registered by a live agent"), std::string::npos) << s;
  ASSERT_TRUE(nodes.Register(fake, 30, /*may_replace=*/true, &restarted).ok());
  EXPECT_TRUE(restarted) << "a restart of the node's agent: its jobs must be requeued";
  // Once the node is lost, any agent with an agent token may register it.
  EXPECT_EQ(nodes.MarkLost(5000).size(), 1u);
  a.set_instance_id("third");
  EXPECT_TRUE(nodes.Register(a, 5000, false, &restarted).ok());
  EXPECT_FALSE(restarted);
}

}  // namespace
}  // namespace braintune::coordinator

namespace braintune::coordinator {
namespace {

// One test of "this machine only" for listen addresses and HTTP Host headers alike.
TEST(IsLoopbackAddressTest, OnlyThisMachinesNamesWithOrWithoutAPort) {
  for (const char* yes : {"127.0.0.1:50051", "127.1.2.3", "localhost:8080", "LocalHost", "[::1]:8080", "[::1]",
                          "::1:50051"}) {
    EXPECT_TRUE(IsLoopbackAddress(yes)) << yes;
  }
  for (const char* no : {"0.0.0.0:50051", "evil.example:8080", "localhost.evil.example", "[::]:8080", "10.0.0.1",
                         "", "[::1", "128.0.0.1:1",
                         "127.attacker.example:8080", "127.0.0.1.attacker.example", "127.0.0:1"}) {
    EXPECT_FALSE(IsLoopbackAddress(no)) << no;
  }
}

}  // namespace
}  // namespace braintune::coordinator

// Access control end to end: a coordinator with --auth behind TLS, a worker agent running as
// root with a token bound to its node, and users with their own tokens and their own Unix
// accounts (created here: CI runs as root), all real processes on loopback. What a lab relies
// on (docs/operations.md, "Security model"): no token, no access; users see and cancel only
// their own jobs; jobs run as their user's account, never root, so file permissions keep users
// apart; ranks hold only their launch's credential; scheduling limits come from the policy; no
// agent can take a live node's name; a revoked token stops working; plaintext cannot talk to TLS.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "braintune/v1/job_service.pb.h"
#include "testing/process.h"
#include "testing/tiny_job.h"

namespace braintune {
namespace {

using testing::BackgroundProcess;
using testing::Binary;
using testing::RunCommand;

class AccessTest : public ::testing::Test {
 protected:
  static constexpr const char* kAccounts[] = {"bt-alice", "bt-bob"};

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: creates Unix accounts and runs an agent that switches to them";
    for (const char* account : kAccounts) {
      if (::getpwnam(account) == nullptr) {
        auto made = RunCommand(std::string("useradd --create-home --shell /bin/sh ") + account + " 2>&1");
        ASSERT_EQ(made.exit_code, 0) << made.output;
      }
    }
    // The dataset is readable by the job accounts, as a lab's shared data would be, and so is
    // the trainer (a copy: the build tree may sit in a directory only root can enter).
    ::chmod(dir_.path().c_str(), 0755);
    std::filesystem::create_directories(dir_.File("bin"));
    std::filesystem::copy_file(Binary("braintune-train"), dir_.File("bin/braintune-train"));
    ::chmod(dir_.File("bin").c_str(), 0755);
    // The policy maps braintune users to Unix accounts and says what each may ask for.
    std::ofstream(dir_.File("policy.yaml"))
        << "default_max_priority: 100\n"
           "users:\n"
           "  alice: {account: bt-alice, groups: [huth-lab]}\n"
           "  bob: {account: bt-bob}\n"
           "groups:\n"
           "  huth-lab: {max_priority: 300}\n";
    // A self-signed certificate for 127.0.0.1, as a lab would get from its own CA.
    auto cert = RunCommand("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=braintune-test "
                           "-addext subjectAltName=IP:127.0.0.1 -keyout " + dir_.File("key.pem") + " -out " +
                           dir_.File("cert.pem") + " 2>&1");
    ASSERT_EQ(cert.exit_code, 0) << cert.output;
    for (const auto& [name, role] : {std::pair{"alice", "user"}, {"bob", "user"}, {"carol", "user"}, {"root", "admin"},
                                     {"pool", "agent"}, {"node-a", "agent"}}) {
      // node-a's token is bound to its node; "pool" is a shared agent token.
      const std::string who = std::string(name) == "node-a" ? " --node node-a" : std::string(" --user ") + name;
      // The token alone (RunCommand adds stderr, which may hold a warning on the directory's mode).
      auto t = RunCommand("{ " + Binary("braintune-coordinator") + " token create --db " + dir_.File("jobs.db") + who +
                          " --role " + role + " 2>/dev/null; }");
      ASSERT_EQ(t.exit_code, 0) << t.output;
      tokens_[name] = t.output.substr(0, t.output.find('\n'));
      std::ofstream(dir_.File(std::string(name) + ".token")) << tokens_[name] << "\n";
      ::chmod(dir_.File(std::string(name) + ".token").c_str(), 0600);  // as an operator keeps them
    }
    testing::WriteTinyJob(dir_, {});
    address_ = "127.0.0.1:" + std::to_string(testing::FreePort());
    coordinator_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{Binary("braintune-coordinator"), "--listen", address_, "--db", dir_.File("jobs.db"),
                                 "--auth", "--tls-cert", dir_.File("cert.pem"), "--tls-key", dir_.File("key.pem"),
                                 "--policy", dir_.File("policy.yaml")},
        dir_.File("coordinator.log"));
    worker_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{Binary("braintune-worker"), "--coordinator", address_, "--name", "node-a", "--slots",
                                 "1", "--work-dir", dir_.File("work"), "--train-binary", dir_.File("bin/braintune-train"), "--token-file", dir_.File("node-a.token"),
                                 "--tls-ca", dir_.File("cert.pem"), "--tls-cert", dir_.File("cert.pem"),
                           "--tls-key", dir_.File("key.pem")},
        dir_.File("worker.log"));
    for (int i = 0; i < 100 && As("root", "list").exit_code != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  void TearDown() override {
    coordinator_.reset();
    worker_.reset();
    if (::geteuid() == 0) {
      for (const char* account : kAccounts) RunCommand(std::string("userdel --remove ") + account + " 2>/dev/null");
    }
  }

  // A shell command run as `account`; its exit code.
  static int AsAccount(const std::string& account, const std::string& command) {
    return RunCommand("runuser -u " + account + " -- sh -c '" + command + "' >/dev/null 2>&1").exit_code;
  }

  // The CLI as `who` (a token name, or "" for none) over TLS.
  testing::CommandResult As(const std::string& who, const std::string& args) {
    std::string env = "BRAINTUNE_TLS_CA=" + dir_.File("cert.pem") + " HOME=" + dir_.path() + " ";
    if (!who.empty()) env += "BRAINTUNE_TOKEN=" + tokens_[who] + " ";
    return RunCommand(env + Binary("braintune") + " " + args + " --coordinator " + address_ + " 2>&1");
  }

  v1::ListJobsResponse List(const std::string& who) {
    auto r = As(who, "list --output json");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    v1::ListJobsResponse list;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.output, &list).ok()) << r.output;
    return list;
  }

  testing::TempDir dir_;
  std::map<std::string, std::string> tokens_;
  std::string address_;
  std::unique_ptr<BackgroundProcess> coordinator_, worker_;
};

TEST_F(AccessTest, TokensDecideWhoSeesAndChangesWhat) {
  // No token, or plaintext against TLS: nothing.
  auto anonymous = As("", "list");
  EXPECT_NE(anonymous.exit_code, 0);
  EXPECT_NE(anonymous.output.find("requires a token"), std::string::npos) << anonymous.output;
  auto plaintext = RunCommand("BRAINTUNE_TOKEN=" + tokens_["alice"] + " " + Binary("braintune") +
                              " list --coordinator " + address_ + " 2>&1");
  EXPECT_NE(plaintext.exit_code, 0) << plaintext.output;

  // Alice's job runs on the agent as her Unix account, and its ranks report progress with their
  // launch's credential; it is hers whatever --user says.
  auto submit = As("alice", "submit " + dir_.File("job.yaml") + " --user mallory --watch");
  ASSERT_EQ(submit.exit_code, 0) << submit.output << testing::ReadFileOrEmpty(dir_.File("worker.log"));
  v1::ListJobsResponse mine = List("alice");
  ASSERT_EQ(mine.jobs_size(), 1);
  const v1::Job& job = mine.jobs(0);
  EXPECT_EQ(job.user(), "alice");
  EXPECT_EQ(job.state(), v1::SUCCEEDED);
  EXPECT_EQ(job.progress().step(), 4) << "the ranks' progress reports were accepted";
  EXPECT_EQ(As("alice", "logs " + job.id()).exit_code, 0);

  // Bob sees none of it and cannot touch it; an admin sees everything.
  EXPECT_EQ(List("bob").jobs_size(), 0);
  for (const char* cmd : {"status ", "cancel ", "logs ", "watch "}) {
    auto r = As("bob", cmd + job.id());
    EXPECT_NE(r.exit_code, 0) << cmd;
    // As for a job that does not exist: bob learns nothing, not even that the id is taken.
    EXPECT_NE(r.output.find("no job with id '" + job.id() + "'"), std::string::npos) << cmd << r.output;
  }
  ASSERT_EQ(List("root").jobs_size(), 1);
  EXPECT_EQ(List("root").jobs(0).state(), v1::SUCCEEDED) << "bob's cancel changed nothing";

  // The cluster token is not a user token, and a user token cannot run an agent.
  auto agent_as_user = As("pool", "list");
  EXPECT_NE(agent_as_user.exit_code, 0);
  EXPECT_NE(agent_as_user.output.find("cluster token is for worker agents"), std::string::npos) << agent_as_user.output;
  BackgroundProcess rogue({Binary("braintune-worker"), "--coordinator", address_, "--name", "rogue", "--work-dir",
                           dir_.File("rogue"), "--token-file", dir_.File("bob.token"), "--tls-ca", dir_.File("cert.pem"), "--tls-cert", dir_.File("cert.pem"),
                           "--tls-key", dir_.File("key.pem")},
                          dir_.File("rogue.log"));
  std::string rogue_log;
  for (int i = 0; i < 50 && rogue_log.find("agent token") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rogue_log = testing::ReadFileOrEmpty(dir_.File("rogue.log"));
  }
  EXPECT_NE(rogue_log.find("the agent API needs an agent token"), std::string::npos) << rogue_log;

  // Revoked: the next call is refused.
  auto tokens = RunCommand(Binary("braintune-coordinator") + " token list --output json --db " + dir_.File("jobs.db"));
  ASSERT_EQ(tokens.exit_code, 0) << tokens.output;
  const size_t at = tokens.output.find("\"user\":\"bob\"");
  ASSERT_NE(at, std::string::npos) << tokens.output;
  const std::string id = tokens.output.substr(tokens.output.rfind("\"id\":\"", at) + 6, 12);
  auto revoke = RunCommand(Binary("braintune-coordinator") + " token revoke " + id + " --db " + dir_.File("jobs.db"));
  ASSERT_EQ(revoke.exit_code, 0) << revoke.output;
  auto revoked = As("bob", "list");
  EXPECT_NE(revoked.exit_code, 0);
  EXPECT_NE(revoked.output.find("unknown or revoked token"), std::string::npos) << revoked.output;
  EXPECT_EQ(tokens.output.find(tokens_["bob"]), std::string::npos) << "tokens are never shown again";
  for (const char* file : {"jobs.db", "jobs.db-wal"}) {
    EXPECT_EQ(testing::ReadFileOrEmpty(dir_.File(file)).find(tokens_["alice"]), std::string::npos)
        << "only hashes are stored (" << file << ")";
  }
}

// The pool's isolation (issue 17's reproductions): jobs run as their users' accounts, users'
// files are theirs, ranks hold only their launch's credential, the policy bounds what a user
// asks for, and no agent takes over a live node.
TEST_F(AccessTest, JobsRunAsTheirUsersAndHoldOnlyTheirOwnCredential) {
  // Alice's job runs as bt-alice: its directory and outputs are hers, 0700.
  auto submit = As("alice", "submit " + dir_.File("job.yaml") + " --watch");
  ASSERT_EQ(submit.exit_code, 0) << submit.output << testing::ReadFileOrEmpty(dir_.File("worker.log"));
  const v1::Job alice_job = List("alice").jobs(0);
  EXPECT_EQ(alice_job.account(), "bt-alice");
  const std::string alice_dir = dir_.File("work/jobs/" + alice_job.id());
  struct stat st;
  ASSERT_EQ(::stat(alice_dir.c_str(), &st), 0) << alice_dir;
  EXPECT_EQ(st.st_uid, ::getpwnam("bt-alice")->pw_uid);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((alice_dir + "/result.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::getpwnam("bt-alice")->pw_uid) << "written by the job's account";
  const std::string alice_result = testing::ReadFileOrEmpty(alice_dir + "/result.json");
  EXPECT_NE(testing::ReadFileOrEmpty(dir_.File("worker.log")).find("as bt-alice"), std::string::npos);

  // Bob's job aimed at alice's output directory fails there (his account may not write it);
  // alice's results are untouched.
  testing::WriteTinyJob(dir_, {.name = "intruder", .file = "intruder.yaml", .output_dir = "work/jobs/" + alice_job.id()});
  auto intruder = As("bob", "submit " + dir_.File("intruder.yaml") + " --watch");
  EXPECT_NE(intruder.exit_code, 0) << intruder.output;
  EXPECT_EQ(testing::ReadFileOrEmpty(alice_dir + "/result.json"), alice_result);
  // On disk bob's account reads none of alice's outputs, the job logs, the agent's secrets or
  // the coordinator's database.
  for (const std::string& path :
       {alice_dir + "/result.json", alice_dir + "/checkpoint.pt", dir_.File("work/logs/" + alice_job.id() + ".log"),
        "/proc/" + std::to_string(worker_->pid()) + "/environ", dir_.File("node-a.token"), dir_.File("jobs.db"),
        dir_.File("jobs.db.key")}) {
    EXPECT_NE(AsAccount("bt-bob", "cat " + path), 0) << "bt-bob read " << path;
  }
  EXPECT_EQ(AsAccount("bt-alice", "cat " + alice_dir + "/result.json"), 0) << "alice reads her own";

  // While a job runs, its ranks are alice's processes and hold their launch's credential only:
  // never the agent's token.
  testing::WriteTinyJob(dir_, {.name = "long", .steps = 100000, .file = "long.yaml"});
  auto long_job = As("alice", "submit " + dir_.File("long.yaml") + " --output json");
  ASSERT_EQ(long_job.exit_code, 0) << long_job.output;
  std::string environ_of_rank, status_of_rank;
  for (int i = 0; i < 300 && environ_of_rank.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // A rank of this test's job (its own copy of the trainer), not mpirun nor another test's ranks.
    auto pid = RunCommand("pgrep -f '^" + dir_.File("bin/braintune-train") + " --spec .* --job-id job-3 ' | head -1");
    const std::string p = pid.output.substr(0, pid.output.find('\n'));
    if (!p.empty()) {
      environ_of_rank = testing::ReadFileOrEmpty("/proc/" + p + "/environ");
      status_of_rank = testing::ReadFileOrEmpty("/proc/" + p + "/status");
    }
  }
  ASSERT_FALSE(environ_of_rank.empty()) << testing::ReadFileOrEmpty(dir_.File("worker.log"));
  EXPECT_NE(status_of_rank.find("Uid:\t" + std::to_string(::getpwnam("bt-alice")->pw_uid)), std::string::npos)
      << status_of_rank;
  EXPECT_EQ(environ_of_rank.find(tokens_["node-a"]), std::string::npos) << "the agent's token reached the ranks";
  const size_t at = environ_of_rank.find("BRAINTUNE_TOKEN=job.job-3.");
  ASSERT_NE(at, std::string::npos);
  const std::string credential = environ_of_rank.substr(at + 16, environ_of_rank.find('\0', at) - at - 16);
  // The credential opens neither the job API nor the agent API.
  tokens_["credential"] = credential;
  auto with_credential = As("credential", "list");
  EXPECT_NE(with_credential.exit_code, 0);
  EXPECT_NE(with_credential.output.find("a job's credential serves only"), std::string::npos) << with_credential.output;
  EXPECT_EQ(As("alice", "cancel job-3").exit_code, 0);

  // Scheduling attributes come from the policy: limits named at submission.
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"ranks: 1, priority: 900", "resources.priority: 900 is above the most the policy allows user 'alice'"},
      {"ranks: 1, priority: 250", "(100)"},
      {"ranks: 1, group: other-lab", "resources.group: 'other-lab' is not one of user 'alice''s groups"},
      {"ranks: 1, preemptible: false", "resources.preemptible: false needs allow_nonpreemptible"}};
  for (const auto& [resources, why] : refused) {
    testing::WriteTinyJob(dir_, {.name = "greedy", .resources = resources, .file = "greedy.yaml"});
    auto r = As("alice", "submit " + dir_.File("greedy.yaml"));
    EXPECT_NE(r.exit_code, 0) << resources;
    EXPECT_NE(r.output.find(why), std::string::npos) << resources << ": " << r.output;
  }
  testing::WriteTinyJob(dir_, {.name = "lab", .resources = "ranks: 1, priority: 250, group: huth-lab", .file = "lab.yaml"});
  EXPECT_EQ(As("alice", "submit " + dir_.File("lab.yaml")).exit_code, 0) << "the group's maximum applies";
  // A user with no Unix account in the policy runs nothing.
  auto carol = As("carol", "submit " + dir_.File("job.yaml"));
  EXPECT_NE(carol.exit_code, 0);
  EXPECT_NE(carol.output.find("user 'carol' has no Unix account"), std::string::npos) << carol.output;

  // Another agent cannot take the live node's name, even with an agent token.
  BackgroundProcess fake({Binary("braintune-worker"), "--coordinator", address_, "--name", "node-a", "--work-dir",
                          dir_.File("fake"), "--token-file", dir_.File("pool.token"), "--tls-ca", dir_.File("cert.pem"), "--tls-cert", dir_.File("cert.pem"),
                           "--tls-key", dir_.File("key.pem")},
                         dir_.File("fake.log"));
  std::string fake_log;
  for (int i = 0; i < 50 && fake_log.find("live agent") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    fake_log = testing::ReadFileOrEmpty(dir_.File("fake.log"));
  }
  EXPECT_NE(fake_log.find("node-a is registered by a live agent"), std::string::npos) << fake_log;
}

}  // namespace
}  // namespace braintune

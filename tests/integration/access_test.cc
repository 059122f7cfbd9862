// Access control end to end: a coordinator with --auth behind TLS, a worker agent holding the
// cluster token, and users with their own tokens, all real processes on loopback. What a lab
// relies on: no token, no access; users see and cancel only their own jobs; the agent API
// takes only the cluster token; a revoked token stops working; plaintext cannot talk to TLS.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <chrono>
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
  void SetUp() override {
    // A self-signed certificate for 127.0.0.1, as a lab would get from its own CA.
    auto cert = RunCommand("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=braintune-test "
                           "-addext subjectAltName=IP:127.0.0.1 -keyout " + dir_.File("key.pem") + " -out " +
                           dir_.File("cert.pem") + " 2>&1");
    ASSERT_EQ(cert.exit_code, 0) << cert.output;
    for (const auto& [name, role] : {std::pair{"alice", "user"}, {"bob", "user"}, {"root", "admin"}, {"pool", "agent"}}) {
      auto t = RunCommand(Binary("braintune-coordinator") + " token create --db " + dir_.File("jobs.db") +
                          " --user " + name + " --role " + role);
      ASSERT_EQ(t.exit_code, 0) << t.output;
      tokens_[name] = t.output.substr(0, t.output.find('\n'));
      std::ofstream(dir_.File(std::string(name) + ".token")) << tokens_[name] << "\n";
    }
    testing::WriteTinyJob(dir_, {});
    address_ = "127.0.0.1:" + std::to_string(testing::FreePort());
    coordinator_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{Binary("braintune-coordinator"), "--listen", address_, "--db", dir_.File("jobs.db"),
                                 "--auth", "--tls-cert", dir_.File("cert.pem"), "--tls-key", dir_.File("key.pem")},
        dir_.File("coordinator.log"));
    worker_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{Binary("braintune-worker"), "--coordinator", address_, "--name", "node-a", "--slots",
                                 "1", "--work-dir", dir_.File("work"), "--token-file", dir_.File("pool.token"),
                                 "--tls-ca", dir_.File("cert.pem")},
        dir_.File("worker.log"));
    for (int i = 0; i < 100 && As("root", "list").exit_code != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
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

  // Alice's job runs on the agent (cluster token) and its ranks report progress (the token the
  // agent passed down); it is hers whatever --user says.
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
    EXPECT_NE(r.output.find("belongs to another user"), std::string::npos) << cmd << r.output;
  }
  ASSERT_EQ(List("root").jobs_size(), 1);
  EXPECT_EQ(List("root").jobs(0).state(), v1::SUCCEEDED) << "bob's cancel changed nothing";

  // The cluster token is not a user token, and a user token cannot run an agent.
  auto agent_as_user = As("pool", "list");
  EXPECT_NE(agent_as_user.exit_code, 0);
  EXPECT_NE(agent_as_user.output.find("cluster token is for worker agents"), std::string::npos) << agent_as_user.output;
  BackgroundProcess rogue({Binary("braintune-worker"), "--coordinator", address_, "--name", "rogue", "--work-dir",
                           dir_.File("rogue"), "--token-file", dir_.File("bob.token"), "--tls-ca", dir_.File("cert.pem")},
                          dir_.File("rogue.log"));
  std::string rogue_log;
  for (int i = 0; i < 50 && rogue_log.find("cluster token") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rogue_log = testing::ReadFileOrEmpty(dir_.File("rogue.log"));
  }
  EXPECT_NE(rogue_log.find("the agent API needs the cluster token"), std::string::npos) << rogue_log;

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

}  // namespace
}  // namespace braintune

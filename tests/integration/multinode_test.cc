// A job across two nodes, end to end: two worker agents, each in its own network namespace
// (joined by a veth pair) and UTS namespace (its own host name), as two machines would be; the
// coordinator beside the first. mpirun on the launching node starts the other node's daemon
// through that node's agent (braintune-rsh -> NodeExec), not ssh. Needs root (ip netns); the
// test is skipped, saying so, where namespaces cannot be made.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "testing/process.h"
#include "testing/tiny_job.h"

namespace braintune {
namespace {

using testing::BackgroundProcess;
using testing::Binary;
using testing::RunCommand;

class MultiNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string id = std::to_string(::getpid() % 100000);
    ns_[0] = "bt-a" + id;
    ns_[1] = "bt-b" + id;
    const std::string va = "btva" + id, vb = "btvb" + id;
    const std::string setup =
        "ip netns add " + ns_[0] + " && ip netns add " + ns_[1] + " && ip link add " + va + " type veth peer name " +
        vb + " && ip link set " + va + " netns " + ns_[0] + " && ip link set " + vb + " netns " + ns_[1] +
        " && ip -n " + ns_[0] + " addr add 10.77.0.1/24 dev " + va + " && ip -n " + ns_[1] +
        " addr add 10.77.0.2/24 dev " + vb + " && ip -n " + ns_[0] + " link set " + va + " up && ip -n " + ns_[1] +
        " link set " + vb + " up && ip -n " + ns_[0] + " link set lo up && ip -n " + ns_[1] + " link set lo up";
    auto made = RunCommand(setup + " 2>&1");
    if (made.exit_code != 0) {
      GTEST_SKIP() << "network namespaces unavailable (needs root and iproute2): " << made.output;
    }
    namespaces_made_ = true;
    // TLS throughout: the coordinator, and each node's NodeExec endpoint (one lab CA; this
    // test's certificate names both nodes' addresses).
    auto cert = RunCommand("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=braintune-test "
                           "-addext subjectAltName=IP:10.77.0.1,IP:10.77.0.2 -keyout " + dir_.File("key.pem") +
                           " -out " + dir_.File("cert.pem") + " 2>&1");
    ASSERT_EQ(cert.exit_code, 0) << cert.output;
    const std::string tls = " --tls-ca " + dir_.File("cert.pem") + " --tls-cert " + dir_.File("cert.pem") +
                            " --tls-key " + dir_.File("key.pem");
    testing::WriteTinyJob(dir_, {.name = "two-nodes",
                                 .participants = 4,
                                 .steps = 20,
                                 .resources = "ranks: 4, max_restarts: 0"});
    coordinator_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{"/usr/sbin/ip", "netns", "exec", ns_[0], Binary("braintune-coordinator"), "--listen",
                                 "10.77.0.1:50051", "--insecure", "--db", dir_.File("jobs.db"), "--tls-cert",
                                 dir_.File("cert.pem"), "--tls-key", dir_.File("key.pem")},
        dir_.File("coordinator.log"));
    for (int n = 0; n < 2; ++n) {
      const std::string name = n == 0 ? "node-a" : "node-b";
      // Its own host name (UTS namespace), as a separate machine: OpenMPI tells nodes apart by it.
      agents_[n] = std::make_unique<BackgroundProcess>(
          std::vector<std::string>{"/usr/sbin/ip", "netns", "exec", ns_[n], "unshare", "--uts", "sh", "-c",
                                   "hostname " + name + " && exec env OMPI_MCA_oob_tcp_if_include=10.77.0.0/24 "
                                   "OMPI_MCA_btl_tcp_if_include=10.77.0.0/24 " + Binary("braintune-worker") +
                                   " --coordinator 10.77.0.1:50051 --name " + name + " --address 10.77.0." +
                                   std::to_string(n + 1) + " --slots 2 --work-dir " + dir_.File("work-" + name) + tls},
          dir_.File(name + ".log"));
    }
    for (int i = 0; i < 100 && !(Registered("node-a") && Registered("node-b")); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  void TearDown() override {
    coordinator_.reset();
    agents_[0].reset();
    agents_[1].reset();
    if (namespaces_made_) RunCommand("ip netns del " + ns_[0] + "; ip netns del " + ns_[1]);
  }

  bool Registered(const std::string& name) {
    return testing::ReadFileOrEmpty(dir_.File(name + ".log")).find("registered node " + name) != std::string::npos;
  }

  testing::CommandResult Cli(const std::string& args) {
    return RunCommand("ip netns exec " + ns_[0] + " env BRAINTUNE_TLS_CA=" + dir_.File("cert.pem") + " " +
                      Binary("braintune") + " " + args +
                      " --coordinator 10.77.0.1:50051 2>&1");
  }

  testing::TempDir dir_;
  std::string ns_[2];
  bool namespaces_made_ = false;
  std::unique_ptr<BackgroundProcess> coordinator_, agents_[2];
};

TEST_F(MultiNodeTest, AJobSpansTwoNodesThroughTheirAgents) {
  auto run = Cli("submit " + dir_.File("job.yaml") + " --watch");
  EXPECT_EQ(run.exit_code, 0) << run.output << "\nnode-a:\n" << testing::ReadFileOrEmpty(dir_.File("node-a.log"))
                              << "\nnode-b:\n" << testing::ReadFileOrEmpty(dir_.File("node-b.log"));
  EXPECT_NE(run.output.find("placed on node-a:2, node-b:2"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("SUCCEEDED"), std::string::npos) << run.output;
  // node-b's daemon was started by node-b's agent for node-a's mpirun.
  const std::string b_log = testing::ReadFileOrEmpty(dir_.File("node-b.log"));
  // node-b's agent started the daemon for the job's credential (and nothing else).
  EXPECT_NE(b_log.find("braintune-worker: daemon for job-1:  orted -mca ess"), std::string::npos) << b_log;
  auto logs = Cli("logs job-1");
  EXPECT_NE(logs.output.find("--host node-a:2,node-b:2 --mca plm_rsh_agent"), std::string::npos) << logs.output;
  EXPECT_NE(logs.output.find("rank 3: sub-04"), std::string::npos) << logs.output;

  // NodeExec serves only a running job's credential, and only OpenMPI's daemon, over TLS.
  const size_t at = b_log.find("NodeExec on ");
  ASSERT_NE(at, std::string::npos) << b_log;
  const std::string endpoint = b_log.substr(at + 12, b_log.find('\n', at) - at - 12);
  const std::string rsh = "ip netns exec " + ns_[0] + " env BRAINTUNE_EXEC_HOSTS=node-b=" + endpoint +
                          " BRAINTUNE_TLS_CA=" + dir_.File("cert.pem") + " ";
  auto intruder = RunCommand(rsh + "BRAINTUNE_TOKEN=job.job-1.1.00ff " + Binary("braintune-rsh") + " node-b touch " +
                             dir_.File("owned") + " 2>&1");
  EXPECT_NE(intruder.exit_code, 0);
  EXPECT_NE(intruder.output.find("not the credential of a running job placed on this node"), std::string::npos)
      << intruder.output;
  auto plaintext = RunCommand("ip netns exec " + ns_[0] + " env BRAINTUNE_EXEC_HOSTS=node-b=" + endpoint +
                              " BRAINTUNE_TOKEN=x " + Binary("braintune-rsh") + " node-b orted 2>&1");
  EXPECT_NE(plaintext.exit_code, 0) << "NodeExec speaks TLS only: " << plaintext.output;
  EXPECT_FALSE(std::ifstream(dir_.File("owned")).good());
}

}  // namespace
}  // namespace braintune

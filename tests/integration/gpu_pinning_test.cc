// GPU jobs on a shared node: the agent tells each job's ranks which GPUs are theirs
// (CUDA_VISIBLE_DEVICES) and two jobs running at once never share one. No GPU is needed: the
// agent offers 4 (--gpus 4) and the "trainer" is a script that prints what its rank was given.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "testing/process.h"

namespace braintune {
namespace {

using testing::BackgroundProcess;
using testing::Binary;
using testing::RunCommand;

TEST(GpuPinningTest, ConcurrentJobsSeeDisjointGpus) {
  testing::TempDir dir;
  std::ofstream(dir.File("fake-train.sh"))
      << "#!/bin/sh\necho \"rank $OMPI_COMM_WORLD_RANK sees GPUs [$CUDA_VISIBLE_DEVICES]\"\nsleep 3\n";
  ASSERT_EQ(RunCommand("chmod +x " + dir.File("fake-train.sh")).exit_code, 0);
  std::ofstream(dir.File("brain.h5")) << "";  // the CLI checks that the data exists; the script never reads it
  for (const char* name : {"one", "two"}) {
    std::ofstream(dir.File(std::string(name) + ".yaml"))
        << "name: " << name << "\nresources: {ranks: 2, gpus_per_rank: 1}\ndata: {path: brain.h5}\n";
  }
  const std::string address = "127.0.0.1:" + std::to_string(testing::FreePort());
  BackgroundProcess coordinator({Binary("braintune-coordinator"), "--listen", address, "--db", dir.File("jobs.db")},
                                dir.File("coordinator.log"));
  BackgroundProcess agent({Binary("braintune-worker"), "--coordinator", address, "--name", "gpu-node", "--slots", "4",
                           "--gpus", "4", "--work-dir", dir.File("work"), "--train-binary", dir.File("fake-train.sh")},
                          dir.File("agent.log"));
  auto cli = [&](const std::string& args) {
    return RunCommand(Binary("braintune") + " " + args + " --coordinator " + address + " 2>&1");
  };
  for (int i = 0; i < 100 && testing::ReadFileOrEmpty(dir.File("agent.log")).find("registered") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const char* name : {"one", "two"}) {
    auto submit = cli("submit " + dir.File(std::string(name) + ".yaml"));
    ASSERT_EQ(submit.exit_code, 0) << submit.output;
  }
  for (const char* id : {"job-1", "job-2"}) {
    auto watch = cli(std::string("watch ") + id);
    EXPECT_EQ(watch.exit_code, 0) << watch.output << testing::ReadFileOrEmpty(dir.File("agent.log"));
  }
  std::set<std::string> seen;
  for (const char* id : {"job-1", "job-2"}) {
    const std::string log = cli(std::string("logs ") + id).output;
    const size_t a = log.find("sees GPUs ["), b = log.find("sees GPUs [", a + 1);
    ASSERT_NE(b, std::string::npos) << log;
    const std::string first = log.substr(a + 11, log.find(']', a) - a - 11);
    EXPECT_EQ(first, log.substr(b + 11, log.find(']', b) - b - 11)) << "both ranks of a job see its GPUs";
    EXPECT_EQ(first.size(), 3u) << "two GPUs, e.g. 0,1: " << first;
    seen.insert(first);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"0,1", "2,3"})) << "the two jobs got disjoint GPUs";
}

}  // namespace
}  // namespace braintune

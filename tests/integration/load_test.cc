// The load test of issue 7: 50 concurrent clients (bench/submit_bench --mix, a separate
// process) submit, watch and cancel for 10 s against one real coordinator process on
// loopback. Passes when no call failed and every submitted job is listed once, CANCELLED.
// The figures it prints are recorded in docs/benchmarks.md.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "testing/process.h"

namespace braintune {
namespace {

TEST(LoadTest, FiftyClientsSubmitWatchAndCancelWithoutErrorsOrLoss) {
  testing::TempDir dir;
  const std::string address = "127.0.0.1:" + std::to_string(testing::FreePort());
  testing::BackgroundProcess coordinator(
      {testing::Binary("braintune-coordinator"), "--listen", address, "--db", dir.File("jobs.db")},
      dir.File("coordinator.log"));
  for (int i = 0; i < 100 && testing::RunCommand(testing::Binary("braintune") + " list --coordinator " + address).exit_code;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto load = testing::RunCommand(std::string(BRAINTUNE_BINARY_DIR) + "/bench/submit_bench --coordinator " + address +
                                  " --clients 50 --seconds 10 --mix --check 2>&1");
  std::cout << load.output;
  EXPECT_EQ(load.exit_code, 0) << load.output << testing::ReadFileOrEmpty(dir.File("coordinator.log"));
  EXPECT_NE(load.output.find("0 lost, 0 duplicated, 0 not CANCELLED, 0 RPC errors"), std::string::npos);
  EXPECT_TRUE(coordinator.Running()) << "the coordinator survived the load";
}

}  // namespace
}  // namespace braintune

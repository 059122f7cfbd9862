// GPU tests (label gpu; bench/gpu_check.sh runs them on a machine with one NVIDIA GPU): the NCCL
// communicator at world size 1, its watchdog, and the reducer on CUDA tensors against the CPU.
#include <ATen/cuda/Sleep.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "ddp/reducer.h"
#include "dist/communicator.h"
#include "gtest/gtest.h"
#include "testing/process.h"

namespace braintune::dist {
namespace {

// First, before this process initialises MPI itself (a child mpirun must not inherit that).
// The reducer on CUDA tensors, under mpirun (world size 1, NCCL), trains the same parameters as
// on the CPU (MPI), within float tolerance of the two devices' kernels.
TEST(GpuTest, CudaRankMatchesCpuRank) {
  testing::TempDir dir;
  const std::string worker = std::string(BRAINTUNE_BINARY_DIR) + "/tests/ddp/ddp_worker";
  for (const char* device : {"cpu", "cuda"}) {
    auto r = testing::RunCommand("timeout 120 " + testing::Mpirun(1) + worker + " --device " + device +
                                 " --scenario equivalence --steps 4 --out " + dir.File(device));
    ASSERT_EQ(r.exit_code, 0) << device << ": " << r.output;
  }
  const std::string cpu = testing::ReadFileOrEmpty(dir.File("cpu.rank0"));
  const std::string cuda = testing::ReadFileOrEmpty(dir.File("cuda.rank0"));
  ASSERT_FALSE(cpu.empty());
  std::istringstream a(cpu), b(cuda);
  std::string ta, tb;
  double worst = 0;
  int values = 0;
  while (a >> ta && b >> tb) {
    char* end = nullptr;
    const double va = std::strtod(ta.c_str(), &end);
    if (end == ta.c_str()) {
      EXPECT_EQ(ta, tb);  // a parameter name
      continue;
    }
    worst = std::max(worst, std::abs(va - std::strtod(tb.c_str(), nullptr)));
    ++values;
  }
  EXPECT_GT(values, 500);
  EXPECT_LT(worst, 1e-4);
  std::cout << "max |cuda - cpu| over " << values << " parameters: " << worst << "\n";
}

std::unique_ptr<Communicator>& Nccl() {
  static std::unique_ptr<Communicator> comm = [] {
    auto made = MakeCommunicator("cuda");
    EXPECT_TRUE(made.ok()) << made.status();
    return made.ok() ? std::move(*made) : nullptr;
  }();
  return comm;
}

TEST(GpuTest, NcclCollectivesOnDeviceMemory) {
  Communicator* comm = Nccl().get();
  ASSERT_NE(comm, nullptr);
  EXPECT_EQ(comm->backend(), "nccl");
  torch::Tensor x = torch::arange(1000, torch::dtype(torch::kFloat).device(torch::kCUDA));
  torch::Tensor expected = x.clone();
  ASSERT_TRUE(comm->AllReduceSum(x.data_ptr<float>(), x.numel()).ok());
  EXPECT_TRUE(torch::equal(x, expected));
  torch::Tensor gathered = torch::zeros({1000}, x.options());
  ASSERT_TRUE(comm->AllGather(x.data_ptr<float>(), 1000, gathered.data_ptr<float>()).ok());
  EXPECT_TRUE(torch::equal(gathered, expected));
  ASSERT_TRUE(comm->Broadcast(x.data_ptr<float>(), 1000, 0).ok());
  ASSERT_TRUE(comm->Barrier().ok());
}

// A collective that cannot finish (the default stream it is ordered after is busy for several
// seconds) fails after the timeout, and the watchdog aborts the NCCL communicator.
TEST(GpuTest, WatchdogAbortsAStuckCollective) {
  Communicator* comm = Nccl().get();
  ASSERT_NE(comm, nullptr);
  comm->set_timeout_seconds(1);
  torch::Tensor x = torch::ones({16}, torch::dtype(torch::kFloat).device(torch::kCUDA));
  at::cuda::sleep(int64_t{10'000'000'000});  // ~5 s of spinning at ~2 GHz
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = comm->AllReduceSumAsync(x.data_ptr<float>(), 16)->Wait();
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(s.message().find("did not complete within 1 s"), std::string::npos) << s;
  EXPECT_LT(waited, 3.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the watchdog's turn
  absl::Status after = comm->AllReduceSumAsync(x.data_ptr<float>(), 16)->Wait();
  EXPECT_FALSE(after.ok());
  EXPECT_NE(after.message().find("aborted"), std::string::npos) << after;
  // (Last test of the communicator: it stays aborted.)
}

}  // namespace
}  // namespace braintune::dist

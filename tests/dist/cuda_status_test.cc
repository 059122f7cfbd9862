// A failed CUDA or NCCL call becomes a Status that says where (file:line), which function, and
// the library's own message. Needs no GPU: the calls fail on their arguments.
#include "dist/cuda_status.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"

namespace braintune::dist {
namespace {

absl::Status CountRanksOfNoCommunicator(int* line_of_call) {
  int count = 0;
  *line_of_call = __LINE__ + 1;
  RETURN_IF_ERROR(NCCL_STATUS(ncclCommCount(nullptr, &count)));
  return absl::OkStatus();
}

TEST(CudaStatusTest, NcclErrorNamesFileLineCallAndMessage) {
  int line = 0;
  const absl::Status s = CountRanksOfNoCommunicator(&line);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(),
            absl::StrCat("cuda_status_test.cc:", line, ": ncclCommCount: ", ncclGetErrorString(ncclInvalidArgument)));
}

TEST(CudaStatusTest, CudaErrorNamesFileLineCallAndMessage) {
  // An invalid device without a GPU too (then perhaps "no CUDA-capable device"): the message is
  // whatever CUDA says for the code it returned.
  const int line = __LINE__ + 1;
  const absl::Status s = CUDA_STATUS(cudaSetDevice(-1));
  ASSERT_FALSE(s.ok());
  const cudaError_t rc = cudaSetDevice(-1);
  EXPECT_EQ(s.message(), absl::StrCat("cuda_status_test.cc:", line, ": cudaSetDevice: ", cudaGetErrorString(rc)));
}

TEST(CudaStatusTest, SuccessIsOk) {
  int version = 0;
  EXPECT_TRUE(NCCL_STATUS(ncclGetVersion(&version)).ok());
  EXPECT_GT(version, 0);
}

}  // namespace
}  // namespace braintune::dist

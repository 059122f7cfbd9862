// NCCL backend: device buffers, its own CUDA stream, bootstrapped through another communicator.
#include "dist/communicator.h"

#ifdef BRAINTUNE_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace braintune::dist {
namespace {

absl::Status NcclCheck(ncclResult_t rc, const char* what, const char* file, int line) {
  if (rc == ncclSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, " failed at ", file, ":", line, ": ", ncclGetErrorString(rc)));
}
absl::Status CudaCheck(cudaError_t rc, const char* what, const char* file, int line) {
  if (rc == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, " failed at ", file, ":", line, ": ", cudaGetErrorString(rc)));
}
#define NCCL_CHECK(call) NcclCheck((call), #call, __FILE__, __LINE__)
#define CUDA_CHECK(call) CudaCheck((call), #call, __FILE__, __LINE__)
#define RETURN_IF_BAD(expr)            \
  do {                                 \
    absl::Status s_ = (expr);          \
    if (!s_.ok()) return s_;           \
  } while (0)

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, cudaStream_t stream, const Communicator& boot)
      : comm_(comm), stream_(stream), rank_(boot.rank()), size_(boot.size()),
        local_rank_(boot.local_rank()), local_size_(boot.local_size()) {}
  ~NcclCommunicator() override {
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  std::string backend() const override { return "nccl"; }

  absl::Status AllReduceSum(float* data, int64_t count) override {
    RETURN_IF_BAD(NCCL_CHECK(ncclAllReduce(data, data, count, ncclFloat32, ncclSum, comm_, stream_)));
    return CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  absl::Status AllReduceSum(double* data, int64_t count) override {
    RETURN_IF_BAD(NCCL_CHECK(ncclAllReduce(data, data, count, ncclFloat64, ncclSum, comm_, stream_)));
    return CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  absl::Status Broadcast(float* data, int64_t count, int root) override {
    RETURN_IF_BAD(NCCL_CHECK(ncclBroadcast(data, data, count, ncclFloat32, root, comm_, stream_)));
    return CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  [[noreturn]] void Abort(int exit_code) override {
    ncclCommAbort(comm_);
    std::_Exit(exit_code);
  }
  absl::Status Barrier() override {
    // A one-element all-reduce is NCCL's barrier.
    float* one = nullptr;
    RETURN_IF_BAD(CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&one), sizeof(float))));
    absl::Status s = AllReduceSum(one, 1);
    cudaFree(one);
    return s;
  }

 private:
  ncclComm_t comm_;
  cudaStream_t stream_;
  int rank_, size_, local_rank_, local_size_;
};

}  // namespace

bool NcclBuilt() { return true; }

absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(Communicator* boot) {
  RETURN_IF_BAD(CUDA_CHECK(cudaSetDevice(boot->local_rank())));
  ncclUniqueId id;
  if (boot->rank() == 0) RETURN_IF_BAD(NCCL_CHECK(ncclGetUniqueId(&id)));
  // The id travels as floats through the bootstrap broadcast: pad it to whole floats.
  constexpr int64_t kFloats = (sizeof(ncclUniqueId) + sizeof(float) - 1) / sizeof(float);
  float buffer[kFloats] = {};
  std::memcpy(buffer, &id, sizeof(id));
  RETURN_IF_BAD(boot->Broadcast(buffer, kFloats, 0));
  std::memcpy(&id, buffer, sizeof(id));
  cudaStream_t stream;
  RETURN_IF_BAD(CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)));
  ncclComm_t comm;
  absl::Status s = NCCL_CHECK(ncclCommInitRank(&comm, boot->size(), id, boot->rank()));
  if (!s.ok()) {
    cudaStreamDestroy(stream);
    return s;
  }
  return std::unique_ptr<Communicator>(new NcclCommunicator(comm, stream, *boot));
}

}  // namespace braintune::dist

#else  // !BRAINTUNE_HAVE_NCCL

namespace braintune::dist {
bool NcclBuilt() { return false; }
absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(Communicator*) {
  return absl::UnimplementedError("braintune was built without NCCL (CUDA/NCCL not found at configure time)");
}
}  // namespace braintune::dist

#endif

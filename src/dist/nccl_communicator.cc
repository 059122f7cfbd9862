// NCCL backend: device buffers, its own CUDA stream, bootstrapped through MPI, and a watchdog
// thread that finishes works as their CUDA events complete and aborts the NCCL communicator when
// one outlives the timeout (a peer that never joins would otherwise leave the stream blocked).
#include "dist/communicator.h"

#ifdef BRAINTUNE_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dist/work.h"

namespace braintune::dist {
namespace {

absl::Status NcclStatus(ncclResult_t rc, const char* what) {
  if (rc == ncclSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, " failed: ", ncclGetErrorString(rc)));
}
absl::Status CudaStatus(cudaError_t rc, const char* what) {
  if (rc == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, " failed: ", cudaGetErrorString(rc)));
}
#define RETURN_IF_BAD(expr)   \
  do {                        \
    absl::Status s_ = (expr); \
    if (!s_.ok()) return s_;  \
  } while (0)

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, cudaStream_t stream, float* scratch, std::unique_ptr<Communicator> boot)
      : comm_(comm), stream_(stream), scratch_(scratch), boot_(std::move(boot)), device_(boot_->local_rank()) {
    set_timeout_seconds(boot_->timeout_seconds());
    watchdog_ = std::thread([this] { Watch(); });
  }
  ~NcclCommunicator() override {
    stop_ = true;
    watchdog_.join();
    if (!aborted_) ncclCommDestroy(comm_);
    cudaFree(scratch_);
    cudaStreamDestroy(stream_);
  }
  int rank() const override { return boot_->rank(); }
  int size() const override { return boot_->size(); }
  int local_rank() const override { return boot_->local_rank(); }
  int local_size() const override { return boot_->local_size(); }
  std::string backend() const override { return "nccl"; }

  std::shared_ptr<Work> AllReduceSumAsync(float* data, int64_t count) override {
    return Issue("all_reduce", count, "floats", [=] {
      return ncclAllReduce(data, data, count, ncclFloat32, ncclSum, comm_, stream_);
    });
  }
  std::shared_ptr<Work> AllReduceSumAsync(double* data, int64_t count) override {
    return Issue("all_reduce", count, "doubles", [=] {
      return ncclAllReduce(data, data, count, ncclFloat64, ncclSum, comm_, stream_);
    });
  }
  std::shared_ptr<Work> BroadcastAsync(float* data, int64_t count, int root) override {
    return Issue("broadcast", count, "floats",
                 [=] { return ncclBroadcast(data, data, count, ncclFloat32, root, comm_, stream_); });
  }
  std::shared_ptr<Work> BroadcastBytesAsync(void* data, int64_t bytes, int root) override {
    return boot_->BroadcastBytesAsync(data, bytes, root);  // host memory: through MPI
  }
  std::shared_ptr<Work> AllGatherAsync(const float* send, int64_t count, float* recv) override {
    return Issue("all_gather", count, "floats",
                 [=] { return ncclAllGather(send, recv, count, ncclFloat32, comm_, stream_); });
  }
  std::shared_ptr<Work> BarrierAsync() override {
    // A one-element all-reduce is NCCL's barrier.
    return Issue("barrier", 0, "", [this] {
      return ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, stream_);
    });
  }
  void set_timeout_seconds(double seconds) override {
    Communicator::set_timeout_seconds(seconds);
    boot_->set_timeout_seconds(seconds);
  }
  [[noreturn]] void Abort(int exit_code) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!aborted_.exchange(true)) ncclCommAbort(comm_);
    }
    boot_->Abort(exit_code);  // ends every rank through MPI
    std::_Exit(exit_code);
  }

 private:
  struct Pending {
    std::shared_ptr<PendingWork> work;
    cudaEvent_t done;
  };

  template <typename Call>
  std::shared_ptr<Work> Issue(const char* what, int64_t count, const char* unit, Call call) {
    const int64_t seq = next_seq_++;
    auto work = std::make_shared<PendingWork>(
        count > 0 ? absl::StrFormat("%s #%d (%d %s, nccl)", what, seq, count, unit)
                  : absl::StrFormat("%s #%d (nccl)", what, seq),
        rank(), timeout_seconds(), nullptr);
    // One lock from the aborted_ check to the enqueue: the watchdog may abort (and free) comm_.
    std::lock_guard<std::mutex> lock(mu_);
    if (aborted_) {
      work->Finish(absl::AbortedError(absl::StrCat(work->name(), ": the NCCL communicator was aborted")));
      return work;
    }
    // Ordered after what the caller queued on the default stream (e.g. filling the bucket). The
    // caller's thread (an autograd hook's, say) gets its current device back afterwards.
    int caller_device = device_;
    cudaGetDevice(&caller_device);
    cudaEvent_t ready = nullptr, done = nullptr;
    absl::Status s = CudaStatus(cudaSetDevice(device_), "cudaSetDevice");
    if (s.ok()) s = CudaStatus(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
    if (s.ok()) s = CudaStatus(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
    if (s.ok()) s = CudaStatus(cudaEventRecord(ready, cudaStreamLegacy), "cudaEventRecord");
    if (s.ok()) s = CudaStatus(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
    if (s.ok()) s = NcclStatus(call(), work->name().c_str());
    if (s.ok()) s = CudaStatus(cudaEventRecord(done, stream_), "cudaEventRecord");
    if (ready) cudaEventDestroy(ready);
    cudaSetDevice(caller_device);
    work->MarkStarted();
    if (!s.ok()) {
      if (done) cudaEventDestroy(done);
      work->Finish(s);
      return work;
    }
    pending_.push_back({work, done});
    return work;
  }

  // Finishes works whose event completed; on a timeout or an asynchronous NCCL error, aborts the
  // communicator and fails everything pending (later Issue calls fail at once).
  void Watch() {
    cudaSetDevice(device_);
    while (!stop_) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto it = pending_.begin(); it != pending_.end();) {
          cudaError_t q = cudaEventQuery(it->done);
          if (q == cudaErrorNotReady && it->work->issued_seconds_ago() <= it->work->timeout_seconds()) {
            ++it;
            continue;
          }
          if (q == cudaSuccess) {
            it->work->Finish(absl::OkStatus());
          } else if (q == cudaErrorNotReady) {
            AbortAllLocked(it->work->TimeoutStatus());
            break;
          } else {
            it->work->Finish(CudaStatus(q, it->work->name().c_str()));
          }
          cudaEventDestroy(it->done);
          it = pending_.erase(it);
        }
        ncclResult_t async = ncclSuccess;
        if (!aborted_ && !pending_.empty() && ncclCommGetAsyncError(comm_, &async) == ncclSuccess &&
            async != ncclSuccess && async != ncclInProgress) {
          AbortAllLocked(NcclStatus(async, "NCCL (asynchronous error)"));
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  void AbortAllLocked(absl::Status why) {
    if (!aborted_.exchange(true)) ncclCommAbort(comm_);
    const absl::Status status(why.code(), absl::StrCat(why.message(), " (the watchdog aborted the NCCL communicator)"));
    for (Pending& p : pending_) {
      p.work->Finish(status);
      cudaEventDestroy(p.done);
    }
    pending_.clear();
  }

  ncclComm_t comm_;
  cudaStream_t stream_;
  float* scratch_;
  std::unique_ptr<Communicator> boot_;
  const int device_;
  int64_t next_seq_ = 1;
  std::mutex mu_;
  std::list<Pending> pending_;
  std::atomic<bool> aborted_{false}, stop_{false};
  std::thread watchdog_;
};

}  // namespace

bool NcclBuilt() { return true; }

absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(std::unique_ptr<Communicator> boot) {
  int devices = 0;
  RETURN_IF_BAD(CudaStatus(cudaGetDeviceCount(&devices), "cudaGetDeviceCount"));
  if (boot->local_rank() >= devices) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "rank %d is local rank %d on its node but the node has %d GPU(s): one GPU per rank", boot->rank(),
        boot->local_rank(), devices));
  }
  RETURN_IF_BAD(CudaStatus(cudaSetDevice(boot->local_rank()), "cudaSetDevice"));
  ncclUniqueId id;
  if (boot->rank() == 0) RETURN_IF_BAD(NcclStatus(ncclGetUniqueId(&id), "ncclGetUniqueId"));
  // The id travels as floats through the bootstrap broadcast: pad it to whole floats.
  constexpr int64_t kFloats = (sizeof(ncclUniqueId) + sizeof(float) - 1) / sizeof(float);
  float buffer[kFloats] = {};
  std::memcpy(buffer, &id, sizeof(id));
  RETURN_IF_BAD(boot->Broadcast(buffer, kFloats, 0));
  std::memcpy(&id, buffer, sizeof(id));
  cudaStream_t stream;
  RETURN_IF_BAD(CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  float* scratch = nullptr;
  absl::Status s = CudaStatus(cudaMalloc(reinterpret_cast<void**>(&scratch), sizeof(float)), "cudaMalloc");
  ncclComm_t comm;
  if (s.ok()) s = NcclStatus(ncclCommInitRank(&comm, boot->size(), id, boot->rank()), "ncclCommInitRank");
  if (!s.ok()) {
    cudaFree(scratch);
    cudaStreamDestroy(stream);
    return s;
  }
  return std::unique_ptr<Communicator>(new NcclCommunicator(comm, stream, scratch, std::move(boot)));
}

}  // namespace braintune::dist

#else  // !BRAINTUNE_HAVE_NCCL

namespace braintune::dist {
bool NcclBuilt() { return false; }
absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(std::unique_ptr<Communicator>) {
  return absl::UnimplementedError("braintune was built without NCCL (CUDA/NCCL not found at configure time)");
}
}  // namespace braintune::dist

#endif

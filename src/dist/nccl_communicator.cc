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
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "dist/cuda_status.h"
#include "dist/work.h"

namespace braintune::dist {
namespace {

// `status` of the operation `work`, prefixed with its name.
absl::Status OfWork(const PendingWork& work, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(work.name(), ": ", status.message()));
}

// Thread model: one thread issues the collectives (Communicator's rule); the watchdog thread
// finishes and aborts them; both go through mu_, which also orders every use of comm_ against
// its abort.
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
      return NCCL_STATUS(ncclAllReduce(data, data, count, ncclFloat32, ncclSum, comm_, stream_));
    });
  }
  std::shared_ptr<Work> AllReduceSumAsync(double* data, int64_t count) override {
    return Issue("all_reduce", count, "doubles", [=] {
      return NCCL_STATUS(ncclAllReduce(data, data, count, ncclFloat64, ncclSum, comm_, stream_));
    });
  }
  std::shared_ptr<Work> BroadcastAsync(float* data, int64_t count, int root) override {
    return Issue("broadcast", count, "floats",
                 [=] { return NCCL_STATUS(ncclBroadcast(data, data, count, ncclFloat32, root, comm_, stream_)); });
  }
  std::shared_ptr<Work> BroadcastBytesAsync(void* data, int64_t bytes, int root) override {
    return boot_->BroadcastBytesAsync(data, bytes, root);  // host memory: through MPI
  }
  std::shared_ptr<Work> AllGatherAsync(const float* send, int64_t count, float* recv) override {
    return Issue("all_gather", count, "floats",
                 [=] { return NCCL_STATUS(ncclAllGather(send, recv, count, ncclFloat32, comm_, stream_)); });
  }
  std::shared_ptr<Work> BarrierAsync() override {
    // A one-element all-reduce is NCCL's barrier.
    return Issue("barrier", 0, "", [this] {
      return NCCL_STATUS(ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, stream_));
    });
  }
  void set_timeout_seconds(double seconds) override {
    Communicator::set_timeout_seconds(seconds);
    boot_->set_timeout_seconds(seconds);
  }
  [[noreturn]] void Abort(int exit_code) override {
    {
      absl::MutexLock lock(&mu_);
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

  // `call` enqueues the NCCL operation on stream_ and returns its status.
  template <typename Call>
  std::shared_ptr<Work> Issue(const char* what, int64_t count, const char* unit, Call call) {
    const int64_t seq = next_seq_++;
    auto work = std::make_shared<PendingWork>(
        count > 0 ? absl::StrFormat("%s #%d (%d %s, nccl)", what, seq, count, unit)
                  : absl::StrFormat("%s #%d (nccl)", what, seq),
        rank(), timeout_seconds(), nullptr);
    // One lock from the aborted_ check to the enqueue: the watchdog may abort (and free) comm_.
    absl::MutexLock lock(&mu_);
    if (aborted_) {
      work->Finish(absl::AbortedError(absl::StrCat(work->name(), ": the NCCL communicator was aborted")));
      return work;
    }
    // Ordered after what the caller queued on the default stream (e.g. filling the bucket). The
    // caller's thread (an autograd hook's, say) gets its current device back afterwards.
    int caller_device = device_;
    cudaGetDevice(&caller_device);
    cudaEvent_t ready = nullptr, done = nullptr;
    const absl::Status s = EnqueueLocked(call, &ready, &done);
    if (ready) cudaEventDestroy(ready);
    cudaSetDevice(caller_device);
    work->MarkStarted();
    if (!s.ok()) {
      if (done) cudaEventDestroy(done);
      work->Finish(OfWork(*work, s));
      return work;
    }
    pending_.push_back({work, done});
    return work;
  }

  // Queues `call` on stream_ after the default stream's work (event `ready`), then `done`.
  template <typename Call>
  absl::Status EnqueueLocked(const Call& call, cudaEvent_t* ready, cudaEvent_t* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    RETURN_IF_ERROR(CUDA_STATUS(cudaSetDevice(device_)));
    RETURN_IF_ERROR(CUDA_STATUS(cudaEventCreateWithFlags(ready, cudaEventDisableTiming)));
    RETURN_IF_ERROR(CUDA_STATUS(cudaEventCreateWithFlags(done, cudaEventDisableTiming)));
    RETURN_IF_ERROR(CUDA_STATUS(cudaEventRecord(*ready, cudaStreamLegacy)));
    RETURN_IF_ERROR(CUDA_STATUS(cudaStreamWaitEvent(stream_, *ready, 0)));
    RETURN_IF_ERROR(call());
    return CUDA_STATUS(cudaEventRecord(*done, stream_));
  }

  // Finishes works whose event completed; on a timeout or an asynchronous NCCL error, aborts the
  // communicator and fails everything pending (later Issue calls fail at once).
  void Watch() {
    cudaSetDevice(device_);
    while (!stop_) {
      {
        absl::MutexLock lock(&mu_);
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
            it->work->Finish(OfWork(*it->work, CudaCallStatus(q, "cudaEventQuery", __FILE__, __LINE__)));
          }
          cudaEventDestroy(it->done);
          it = pending_.erase(it);
        }
        ncclResult_t async = ncclSuccess;
        if (!aborted_ && !pending_.empty() && ncclCommGetAsyncError(comm_, &async) == ncclSuccess &&
            async != ncclSuccess && async != ncclInProgress) {
          AbortAllLocked(NcclCallStatus(async, "ncclCommGetAsyncError", __FILE__, __LINE__));
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  void AbortAllLocked(absl::Status why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!aborted_.exchange(true)) ncclCommAbort(comm_);
    const absl::Status status(why.code(), absl::StrCat(why.message(), " (the watchdog aborted the NCCL communicator)"));
    for (Pending& p : pending_) {
      p.work->Finish(status);
      cudaEventDestroy(p.done);
    }
    pending_.clear();
  }

  // Constant after construction. comm_ is used under mu_ only while !aborted_: the watchdog
  // may abort it (and NCCL free it) at any time.
  ncclComm_t const comm_;
  cudaStream_t const stream_;
  float* const scratch_;
  const std::unique_ptr<Communicator> boot_;
  const int device_;

  int64_t next_seq_ = 1;  // the issuing thread only
  absl::Mutex mu_;
  std::list<Pending> pending_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> aborted_{false}, stop_{false};  // aborted_ changes only under mu_
  std::thread watchdog_;
};

}  // namespace

bool NcclBuilt() { return true; }

absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(std::unique_ptr<Communicator> boot) {
  int devices = 0;
  RETURN_IF_ERROR(CUDA_STATUS(cudaGetDeviceCount(&devices)));
  if (boot->local_rank() >= devices) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "rank %d is local rank %d on its node but the node has %d GPU(s): one GPU per rank", boot->rank(),
        boot->local_rank(), devices));
  }
  RETURN_IF_ERROR(CUDA_STATUS(cudaSetDevice(boot->local_rank())));
  ncclUniqueId id;
  if (boot->rank() == 0) RETURN_IF_ERROR(NCCL_STATUS(ncclGetUniqueId(&id)));
  // The id travels as floats through the bootstrap broadcast: pad it to whole floats.
  constexpr int64_t kFloats = (sizeof(ncclUniqueId) + sizeof(float) - 1) / sizeof(float);
  float buffer[kFloats] = {};
  std::memcpy(buffer, &id, sizeof(id));
  RETURN_IF_ERROR(boot->Broadcast(buffer, kFloats, 0));
  std::memcpy(&id, buffer, sizeof(id));
  cudaStream_t stream;
  RETURN_IF_ERROR(CUDA_STATUS(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)));
  float* scratch = nullptr;
  absl::Status s = CUDA_STATUS(cudaMalloc(reinterpret_cast<void**>(&scratch), sizeof(float)));
  ncclComm_t comm;
  if (s.ok()) s = NCCL_STATUS(ncclCommInitRank(&comm, boot->size(), id, boot->rank()));
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

// Collective communication between the ranks of one job.
//
// RULE: every rank issues the same collectives in the same order, with the same sizes. A rank
// that skips or reorders one deadlocks or corrupts the job; that is why callers reduce fixed,
// pre-agreed buffers (e.g. every gradient bucket, in bucket order) even when they contributed
// nothing.
//
// Operations are asynchronous: each returns a Work handle at once and runs in issue order on the
// communicator's own thread (MPI) or CUDA stream (NCCL), so the caller can go on computing (the
// gradient reducer overlaps them with the backward pass). A buffer belongs to the operation until
// its Work is done. Every Wait() is bounded by timeout_seconds(): an operation a peer never joins
// fails with DEADLINE_EXCEEDED naming the operation, this rank and, where it can tell, the ranks
// that did not arrive. The operation may still be running then (it owns its buffer until the
// process ends): the caller must end the job with Abort() while its buffers are still alive.
//
// Buffers are raw pointers, so this header stays free of LibTorch. The MPI implementation works
// on host memory; the NCCL one (compiled when CUDA and NCCL are found) on device memory, ordered
// after the work already queued on the legacy default CUDA stream (LibTorch's default).
#ifndef BRAINTUNE_DIST_COMMUNICATOR_H_
#define BRAINTUNE_DIST_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace braintune::dist {

// One issued operation.
class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the operation finished (its result is in the buffer) or failed, or the
  // communicator's timeout passed since it was issued.
  virtual absl::Status Wait() = 0;
  // True once finished or failed; never blocks.
  virtual bool Done() = 0;
  // Seconds since the communicator's epoch when the operation started running (0 if not yet):
  // what the overlap test and benchmark read.
  virtual double started_at() const = 0;
};

// Thread model: one thread per rank issues the collectives (Wait may be called from any thread).
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Ranks on this node, and this rank's index among them (for picking a GPU).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  virtual std::string backend() const = 0;  // "mpi" or "nccl"

  // In-place sum over all ranks.
  virtual std::shared_ptr<Work> AllReduceSumAsync(float* data, int64_t count) = 0;
  virtual std::shared_ptr<Work> AllReduceSumAsync(double* data, int64_t count) = 0;
  // Copies `root`'s buffer to every rank.
  virtual std::shared_ptr<Work> BroadcastAsync(float* data, int64_t count, int root) = 0;
  // Copies `root`'s bytes to every rank. Host memory with every backend (NCCL delegates to its
  // MPI bootstrap): for serialized state such as an optimizer's.
  virtual std::shared_ptr<Work> BroadcastBytesAsync(void* data, int64_t bytes, int root) = 0;
  // recv[r * count + i] = rank r's send[i].
  virtual std::shared_ptr<Work> AllGatherAsync(const float* send, int64_t count, float* recv) = 0;
  virtual std::shared_ptr<Work> BarrierAsync() = 0;

  // The blocking forms: issue and wait.
  absl::Status AllReduceSum(float* data, int64_t count) { return AllReduceSumAsync(data, count)->Wait(); }
  absl::Status AllReduceSum(double* data, int64_t count) { return AllReduceSumAsync(data, count)->Wait(); }
  absl::Status Broadcast(float* data, int64_t count, int root) { return BroadcastAsync(data, count, root)->Wait(); }
  absl::Status BroadcastBytes(void* data, int64_t bytes, int root) {
    return BroadcastBytesAsync(data, bytes, root)->Wait();
  }
  absl::Status AllGather(const float* send, int64_t count, float* recv) {
    return AllGatherAsync(send, count, recv)->Wait();
  }
  absl::Status Barrier() { return BarrierAsync()->Wait(); }

  // How long a Wait() waits for an operation, from when it was issued. Default 600 s (PyTorch's
  // default for NCCL process groups is 10 minutes too).
  double timeout_seconds() const { return timeout_seconds_; }
  virtual void set_timeout_seconds(double seconds) { timeout_seconds_ = seconds; }

  // Ends every rank of the job now (a rank that fails alone would leave its peers waiting in
  // a collective forever). Does not return.
  [[noreturn]] virtual void Abort(int exit_code) = 0;

 private:
  double timeout_seconds_ = 600;
};

// MPI_COMM_WORLD on host memory. Initialises MPI on first use (MPI_THREAD_MULTIPLE: the
// operations run on a communication thread while the timeout diagnosis runs on the caller's)
// and finalises it at exit. Works without mpirun as a single rank.
absl::StatusOr<std::unique_ptr<Communicator>> MakeMpiCommunicator();

// NCCL over the ranks of `bootstrap` (rank 0 creates the unique id, `bootstrap` broadcasts it;
// the NCCL communicator keeps it, and ends the job through it on Abort), one GPU per local rank,
// its own CUDA stream, and a watchdog thread that aborts the NCCL communicator when an operation
// outlives the timeout. Unimplemented when braintune was built without NCCL.
absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(std::unique_ptr<Communicator> bootstrap);

// True when MakeNcclCommunicator can succeed in this build.
bool NcclBuilt();

// The communicator for tensors on `device` ("cpu": MPI on host memory; "cuda": NCCL bootstrapped
// through MPI); says clearly when that backend was not built or the device is unknown.
absl::StatusOr<std::unique_ptr<Communicator>> MakeCommunicator(const std::string& device);

}  // namespace braintune::dist

#endif  // BRAINTUNE_DIST_COMMUNICATOR_H_

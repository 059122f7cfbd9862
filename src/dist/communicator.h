// Collective communication between the ranks of one job.
//
// RULE: every rank issues the same collectives in the same order, with the same sizes. A rank
// that skips or reorders one deadlocks or corrupts the job; that is why callers reduce fixed,
// pre-agreed buffers (e.g. all gradients in parameter order) even when they contributed nothing.
//
// Buffers are raw pointers, so this header stays free of LibTorch. The MPI implementation
// works on host memory; the NCCL one (compiled when CUDA and NCCL are found) on device memory.
#ifndef BRAINTUNE_DIST_COMMUNICATOR_H_
#define BRAINTUNE_DIST_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace braintune::dist {

// Thread model: one thread per rank issues the collectives.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Ranks on this node, and this rank's index among them (for picking a GPU).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  virtual std::string backend() const = 0;

  // In-place sum over all ranks.
  virtual absl::Status AllReduceSum(float* data, int64_t count) = 0;
  virtual absl::Status AllReduceSum(double* data, int64_t count) = 0;
  // Copies `root`'s buffer to every rank.
  virtual absl::Status Broadcast(float* data, int64_t count, int root) = 0;
  virtual absl::Status Barrier() = 0;
  // Ends every rank of the job now (a rank that fails alone would leave its peers waiting in
  // a collective forever). Does not return.
  [[noreturn]] virtual void Abort(int exit_code) = 0;
};

// MPI_COMM_WORLD on host memory. Initialises MPI on first use (MPI_THREAD_FUNNELED) and
// finalises it at exit. Works without mpirun as a single rank.
absl::StatusOr<std::unique_ptr<Communicator>> MakeMpiCommunicator();

// NCCL over the ranks of `bootstrap` (which broadcasts the NCCL unique id), one GPU per local
// rank. Unimplemented when braintune was built without NCCL.
absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(Communicator* bootstrap);

// True when MakeNcclCommunicator can succeed in this build.
bool NcclBuilt();

}  // namespace braintune::dist

#endif  // BRAINTUNE_DIST_COMMUNICATOR_H_

// Data-parallel gradient synchronisation for LibTorch: what PyTorch's DistributedDataParallel
// does in Python, for braintune's participant-sharded training. docs/ddp.md explains the design.
//
//   GradientReducer reducer(comm, shared_params, local_params, options);
//   reducer.BroadcastParameters();          // every rank starts from rank 0's weights
//   for each step:
//     reducer.Prepare(local_samples, global_samples);   // sync=false on inner accumulation steps
//     loss = mean over this rank's samples; loss.backward();   // buckets are all-reduced as
//     reducer.Finish();                                        // their gradients become ready
//     optimizer.step();          // .grad of shared parameters are views into the buckets
//
// Shared parameters (the backbone, heads shared by participants) end each synchronised step
// with the sample-weighted mean of every rank's gradient: rank r's gradient (of its own mean
// loss) times local_samples_r / global_samples, summed. That is the gradient of the mean loss
// over the global batch, however unevenly the samples fall on ranks. Local parameters (a
// per-participant head, on the rank that owns the participant) are scaled the same way and never
// communicated. Parameters that do not require a gradient are left out entirely.
//
// Buckets: shared parameters in reverse registration order (roughly the order backward produces
// their gradients), packed into buckets of at most bucket_cap_bytes (the first one, which is
// ready earliest, first_bucket_cap_bytes). A gradient hook copies each gradient into its bucket;
// when a bucket is complete and every bucket before it has been launched, its all-reduce is
// issued, so communication runs on the communicator's thread/stream while backward continues.
// Buckets are always launched in index order, on every rank (communicator.h's rule).
#ifndef BRAINTUNE_DDP_REDUCER_H_
#define BRAINTUNE_DDP_REDUCER_H_

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "dist/communicator.h"

namespace braintune::ddp {

struct ReducerOptions {
  int64_t bucket_cap_bytes = 25 << 20;       // PyTorch DDP's default
  int64_t first_bucket_cap_bytes = 1 << 20;  // small, so communication starts early
};

// What the last synchronised step did, in MonotonicSeconds (dist/work.h).
struct StepStats {
  double first_launch = 0;     // first bucket's all-reduce issued
  double first_started = 0;    // ... and started running on the communicator
  double last_gradient = 0;    // the last hook of the backward pass fired
  double finished = 0;         // Finish() returned: every bucket reduced and copied back
  int launched_during_backward = 0;  // buckets issued from hooks (the rest by Finish)
};

// Thread model: one thread (the training loop) calls the methods; the gradient hooks may run on
// the autograd engine's threads during backward, so what they touch is guarded by mu_.
class GradientReducer {
 public:
  // `shared`: the same list (order, shapes) on every rank. `local`: this rank's own parameters.
  // All float32 on one device, which must match the communicator's (cpu: MPI, cuda: NCCL).
  GradientReducer(dist::Communicator* comm, const std::vector<torch::Tensor>& shared,
                  const std::vector<torch::Tensor>& local, ReducerOptions options = {});
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Copies rank 0's shared parameters (frozen ones too) to every rank.
  absl::Status BroadcastParameters();
  // Before the backward pass of a step. global_samples must be the same on every rank and > 0.
  // sync=false: an inner step of gradient accumulation, gradients just add up locally; the
  // weight of the synchronised step applies to all of them, so with accumulation pass the
  // totals of the whole accumulation window on every micro-step (and make each micro-step's
  // loss a share of this rank's mean over the window).
  void Prepare(int64_t local_samples, int64_t global_samples, bool sync = true);
  // After the backward pass (also on a rank that had no samples and ran none): issues the
  // buckets not yet issued, waits for all (bounded by the communicator's timeout) and writes the
  // averaged gradients into .grad. A failure (timeout, peer error) is returned; the caller ends
  // the job.
  absl::Status Finish();

  StepStats last_stats() const;
  // Bytes of each bucket, in launch order (for tests and the benchmark).
  std::vector<int64_t> bucket_bytes() const;

 private:
  struct Slot {  // one shared parameter's place
    int bucket = 0;
    int64_t offset = 0;
  };
  struct Bucket {
    torch::Tensor flat;
    std::vector<int> params;  // indices into shared_
    int pending = 0;          // gradients not yet copied in this step
    std::shared_ptr<dist::Work> work;
  };

  void OnGradient(int index, const torch::Tensor& grad);
  void LaunchReadyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // issues complete buckets in order
  void Launch(Bucket& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction (the tensors' contents change, not which tensors they are).
  dist::Communicator* const comm_;
  std::vector<torch::Tensor> all_shared_;     // as given, frozen included: broadcast at start
  std::vector<torch::Tensor> shared_, local_;  // those that require a gradient
  std::vector<Slot> slots_;
  std::vector<torch::Tensor> views_;  // each shared parameter's slot, shaped like it
  std::vector<std::pair<int, unsigned>> hooks_;  // (shared index, hook id)

  mutable absl::Mutex mu_;
  std::vector<Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  bool sync_ ABSL_GUARDED_BY(mu_) = true;
  bool second_backward_ ABSL_GUARDED_BY(mu_) = false;
  double weight_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<bool> ready_ ABSL_GUARDED_BY(mu_);
  size_t next_launch_ ABSL_GUARDED_BY(mu_) = 0;
  StepStats stats_ ABSL_GUARDED_BY(mu_);
};

// Copies rank 0's optimizer state (momentum buffers, Adam moments, step counts) to every rank,
// serialized with LibTorch's archive format. Every rank must hold the same parameters, in the
// same order, in `optimizer`, so give it the shared parameters only: the state of a local
// parameter (a per-participant head) belongs to its owner, in an optimizer of its own. With
// BroadcastParameters, ranks that resumed from different checkpoints, or none, start identical.
absl::Status BroadcastOptimizerState(dist::Communicator* comm, torch::optim::Optimizer& optimizer);

}  // namespace braintune::ddp

#endif  // BRAINTUNE_DDP_REDUCER_H_

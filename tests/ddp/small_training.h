// One rank's part of the small training job of the reducer tests: a frozen layer, two shared
// layers and one head per participant, on deterministic data, with participants of uneven size
// (5, 9 and 2 samples per step) spread over the ranks (participant p on rank p % size); each
// head lives on its owner only. Run by ddp_worker (one rank of an mpirun job, reducer_test.cc)
// and on thread ranks (reducer_threads_test.cc): the same job, so both check the same things.
#ifndef BRAINTUNE_TESTS_DDP_SMALL_TRAINING_H_
#define BRAINTUNE_TESTS_DDP_SMALL_TRAINING_H_

#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "dist/communicator.h"

namespace braintune::ddp {

struct SmallTrainingOptions {
  // "accumulate": each step as two micro-steps, the first without synchronisation. "state":
  // each rank first takes a step of its own, then adopts rank 0's parameters and optimizer
  // state. Anything else: plain steps.
  std::string scenario = "equivalence";
  int steps = 4;
  torch::Device device = torch::kCPU;
  // Called at the start of each step (1, 2, ...): where ddp_worker makes a rank hang or crash.
  std::function<void(int step)> before_step;
};

// The parameters after training, by name: the shared and frozen layers on rank 0, each head on
// its owner ("state": every rank's shared and frozen layers, as "rank<r>/<name>"). Safe to run
// on several threads at once (no global random state). A communicator error is returned.
absl::StatusOr<std::vector<std::pair<std::string, torch::Tensor>>> TrainSmallModel(
    dist::Communicator* comm, const SmallTrainingOptions& options);

}  // namespace braintune::ddp

#endif  // BRAINTUNE_TESTS_DDP_SMALL_TRAINING_H_

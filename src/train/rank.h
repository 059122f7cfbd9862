// What every job kind does the same way on each MPI rank (braintune-train runs "train" jobs
// through trainer.h and "evaluate" jobs through eval/evaluator.h).
#ifndef BRAINTUNE_TRAIN_RANK_H_
#define BRAINTUNE_TRAIN_RANK_H_

#include <functional>

#include "absl/status/status.h"
#include "config/job_spec.h"
#include "dist/communicator.h"
#include "model/brain_model.h"
#include "train/trainer.h"

namespace braintune::train {

// Sets LibTorch's intra-op threads (options.threads, or this node's cores / ranks on this
// node) and flushes denormals; returns the thread count.
int ConfigureThreads(const TrainerOptions& options, const dist::Communicator& comm);

// The encoder described by the spec's model section; built after torch::manual_seed(seed), the
// same seed gives the same weights to the trainer and the evaluator.
model::EncoderConfig EncoderConfigOf(const config::ModelSpec& spec);

// Runs `job` on this rank, turning LibTorch exceptions into errors. With more than one rank a
// failure is printed as "<program>: rank R: ..." and ends the whole job (Communicator::Abort).
absl::Status RunOnRank(const char* program, dist::Communicator* comm, const std::function<absl::Status()>& job);

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_RANK_H_

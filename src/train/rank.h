// What every job kind does the same way on each MPI rank (braintune-train runs "train" jobs
// through trainer.h and "evaluate" jobs through eval/evaluator.h).
#ifndef BRAINTUNE_TRAIN_RANK_H_
#define BRAINTUNE_TRAIN_RANK_H_

#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "config/job_spec.h"
#include "dist/communicator.h"
#include "model/brain_model.h"
#include "train/trainer.h"

namespace braintune::train {

// Sets LibTorch's intra-op threads (options.threads, or this node's cores / ranks on this
// node), BLAS on one thread (model/threads.h), and flushes denormals; returns the thread count.
int ConfigureThreads(const TrainerOptions& options, const dist::Communicator& comm);

// The encoder architecture of the spec's model section: model.pretrained's config.json, or the
// named size with its overrides. Errors name the file.
absl::StatusOr<model::Wav2Vec2Config> EncoderConfigOf(const config::ModelSpec& spec);

// Builds the model of the spec: random weights from torch::manual_seed(seed) (the same seed gives
// the same weights to the trainer and the evaluator), then model.pretrained's weights, the frozen
// feature encoder and LoRA adapters as the spec says. Prints what a pretrained checkpoint held
// that the encoder does not use when `verbose`.
absl::StatusOr<model::BrainModel> BuildModel(const config::JobSpec& spec, const std::map<std::string, int64_t>& heads,
                                             bool verbose);

// Runs `job` on this rank, turning LibTorch exceptions into errors. With more than one rank a
// failure is printed as "<program>: rank R: ..." and ends the whole job (Communicator::Abort).
absl::Status RunOnRank(const char* program, dist::Communicator* comm, const std::function<absl::Status()>& job);

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_RANK_H_

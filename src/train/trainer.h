// braintune-train: one process per MPI rank. The rank bootstrap and the training protocol:
//   1. Every rank reads the job spec and the dataset's metadata (shapes, no responses).
//   2. Participants are assigned to ranks balanced by samples (plan.h); rank 0 prints the table.
//   3. Each rank loads the audio and only its own participants' responses, z-scored per story.
//   4. The model is built from the same seed on every rank, then rank 0's parameters are
//      broadcast so all ranks start identical.
//   5. Each step draws the same global batch of stimulus windows on every rank (seeded by
//      step). A rank runs the encoder on the windows its participants heard and adds, for each
//      of its participants who heard a window, the mean squared error over targets, averaged
//      over its (participant, window) pairs. The gradient reducer (src/ddp/reducer.h) weights
//      each rank's gradient by its share of the global pairs and sums them, bucket by bucket
//      while backward runs, so every rank gets the gradient of the global mean: N ranks ==
//      1 rank, up to float rounding.
//   6. Rank 0 reports progress to the coordinator; at the end every rank evaluates Pearson r of
//      its participants on the held-out story, rank 0 gathers them, writes the checkpoint and
//      result.json atomically, and reports the result.
#ifndef BRAINTUNE_TRAIN_TRAINER_H_
#define BRAINTUNE_TRAIN_TRAINER_H_

#include <string>

#include "absl/status/status.h"
#include "config/job_spec.h"
#include "dist/communicator.h"

namespace braintune::train {

struct TrainerOptions {
  std::string spec_path;      // the job's YAML spec
  std::string job_id;         // empty for a local run
  std::string coordinator;    // HOST:PORT for progress reports; empty for a local run
  std::string output_dir;     // used when the spec has no output.dir
  int threads = 0;            // intra-op threads per rank; 0 = cores / ranks on this node
};

// Where a job writes its outputs: the spec's output.dir, else options.output_dir (the agent's
// job directory), else ./braintune-output.
std::string OutputDir(const config::JobSpec& spec, const TrainerOptions& options);

// Runs the whole job on this rank. Every rank must call it with the same spec. With more than
// one rank, a failure is printed and ends the whole job (Communicator::Abort) before returning.
absl::Status RunTrainer(const TrainerOptions& options, dist::Communicator* comm);

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_TRAINER_H_

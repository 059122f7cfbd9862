// braintune-train: one process per MPI rank. The rank bootstrap and the training protocol:
//   1. Every rank has the job spec (parsed once, by braintune-train) and reads the dataset's
//      metadata (shapes, no responses).
//   2. Participants are assigned to ranks balanced by samples (plan.h); rank 0 prints the table.
//   3. Each rank loads the audio and only its own participants' responses, z-scored per story.
//   4. The model is built from the same seed on every rank, then rank 0's parameters are
//      broadcast so all ranks start identical.
//   5. Each step draws the same global batch of stimulus windows on every rank (seeded by
//      step). A rank runs the encoder on the windows its participants heard and adds, for each
//      of its participants, the loss of training.loss (mse, pearson or mse+pearson: PairLoss in
//      recipe.h) over the windows they heard, divided by its (participant, window) pairs. The
//      gradient reducer (src/ddp/reducer.h) weights each rank's gradient by its share of the
//      global pairs and sums them, bucket by bucket while backward runs, so every rank gets the
//      gradient of the global mean: N ranks == 1 rank, up to float rounding.
//   6. Between steps: validation checks and early stopping (early_stopping.h) and step
//      checkpoints, from which a relaunched job resumes exactly (checkpoints.h).
//   7. Rank 0 reports progress to the coordinator; at the end every rank evaluates Pearson r of
//      its participants on the held-out story, an all-reduce collects them, and rank 0 writes
//      the final checkpoint and result.json atomically and reports the result.
#ifndef BRAINTUNE_TRAIN_TRAINER_H_
#define BRAINTUNE_TRAIN_TRAINER_H_

#include "absl/status/status.h"
#include "config/job_spec.h"
#include "dist/communicator.h"
#include "rank/rank.h"

namespace braintune::train {

// Runs the whole job of `spec` on this rank. Every rank must call it with the same spec. With
// more than one rank, a failure is printed and ends the whole job (Communicator::Abort) before
// returning.
absl::Status RunTrainer(const config::LoadedSpec& spec, const rank::RankOptions& options, dist::Communicator* comm);

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_TRAINER_H_

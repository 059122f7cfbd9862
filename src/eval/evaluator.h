// braintune-train with a spec of kind "evaluate": the brain alignment of one or more models
// (design.md section 3, docs/evaluation.md). One process per MPI rank:
//   1. Every rank has the spec (parsed once, by braintune-train) and reads the dataset (audio, word and phoneme timings, stored
//      features) and the responses of its own participants (participant i goes to rank
//      i mod ranks).
//   2. For each model: the ranks split the stories and extract their features into the cache
//      (features.h); after a barrier every rank reads the features of all stories from it.
//   3. For each layer, each rank fits a ridge encoding model per participant it owns on the
//      training stories (alphas per target by contiguous folds) and scores it on the test
//      stories: Pearson r per target, the noise ceiling, the normalized score.
//   4. Per-target results are summed across ranks into arrays every rank holds; the best
//      layer of each model (highest mean over participants) is chosen from them, identically
//      on every rank, for the controls of evaluation.controls (feature removal, concept
//      erasure, variance partitioning, the permutation test) and the data-efficiency sweep.
//   5. Rank 0 summarises (per ROI and participant, mean +- SEM; paired tests between models),
//      writes evaluation.json, evaluation.h5 and report.html atomically, and reports the
//      summary to the coordinator.
// Each step has its own file: participants.h (1), model_features.h (2), fits.h (3),
// shared_arrays.h and scores.h (4), removal_control.h, erasure_control.h,
// variance_partitioning.h, permutation_control.h and data_sweep.h (4), summary.h and
// outputs.h (5); evaluator.cc wires them in this order.
#ifndef BRAINTUNE_EVAL_EVALUATOR_H_
#define BRAINTUNE_EVAL_EVALUATOR_H_

#include "absl/status/status.h"
#include "config/job_spec.h"
#include "dist/communicator.h"
#include "rank/rank.h"

namespace braintune::eval {

// Runs the evaluation of `spec` (kind evaluate) on this rank; all ranks call it with the same
// spec. With more than one rank a failure ends the whole job (rank::RunOnRank).
absl::Status RunEvaluation(const config::LoadedSpec& spec, const rank::RankOptions& options, dist::Communicator* comm);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_EVALUATOR_H_

// What every job kind does the same way on each MPI rank: braintune-train runs "train" jobs
// through src/train/trainer.h and "evaluate" jobs through src/eval/evaluator.h, both on top of
// this module (with progress_reporter.h and model_from_spec.h). Free functions, no state.
#ifndef BRAINTUNE_RANK_RANK_H_
#define BRAINTUNE_RANK_RANK_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "config/job_spec.h"
#include "dist/communicator.h"

namespace braintune::rank {

// How braintune-train was started on this rank (its flags); the job itself is the spec.
struct RankOptions {
  std::string job_id;       // empty for a local run
  std::string coordinator;  // HOST:PORT for progress reports; empty for a local run
  std::string output_dir;   // used when the spec has no output.dir
  int threads = 0;          // intra-op threads per rank; 0 = cores / ranks on this node
};

// Where a job writes its outputs: the spec's output.dir, else options.output_dir (the agent's
// job directory), else ./braintune-output.
std::string OutputDir(const config::JobSpec& spec, const RankOptions& options);

// Makes `dir` and its missing parents; InternalError "<dir>: cannot create output directory: ..."
// otherwise. The trainer, its checkpoints and the evaluator call it before they write.
absl::Status CreateOutputDir(const std::string& dir);

// Sets LibTorch's intra-op threads (options.threads, or this node's cores / ranks on this
// node), BLAS on one thread (model/threads.h), and flushes denormals; returns the thread count.
int ConfigureThreads(const RankOptions& options, const dist::Communicator& comm);

// Runs `job` on this rank, turning LibTorch exceptions into errors. With more than one rank a
// failure is printed as "<program>: rank R: ..." and ends the whole job (Communicator::Abort).
absl::Status RunOnRank(const char* program, dist::Communicator* comm, const std::function<absl::Status()>& job);

}  // namespace braintune::rank

#endif  // BRAINTUNE_RANK_RANK_H_

// Rank 0's line to the coordinator: progress and the final result of a job. Failures to reach
// the coordinator are logged, never fatal: training goes on and the next report retries.
#ifndef BRAINTUNE_RANK_PROGRESS_REPORTER_H_
#define BRAINTUNE_RANK_PROGRESS_REPORTER_H_

#include <memory>
#include <string>

#include "braintune/v1/job.pb.h"

namespace braintune::rank {

// Sends progress and the result to the coordinator, best effort.
// Thread model: not thread-safe; one thread (rank 0's trainer or evaluator) calls Report, which
// blocks on the RPC (at most 2 s, 10 s with a result).
class ProgressReporter {
 public:
  // An empty `coordinator` or `job_id` makes every call a no-op (local runs).
  ProgressReporter(const std::string& coordinator, const std::string& job_id);
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  void Report(const v1::Progress& progress, const v1::JobResult* result = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A training job's progress at `step` of `total_steps`: `done_steps` steps of `batch_size`
// windows trained in this launch over `train_seconds` give the rates (none while either is 0).
v1::Progress TrainingProgress(const std::string& phase, int64_t step, int64_t total_steps, double loss,
                              double elapsed_seconds, int64_t done_steps, int batch_size, double train_seconds);

}  // namespace braintune::rank

#endif  // BRAINTUNE_RANK_PROGRESS_REPORTER_H_

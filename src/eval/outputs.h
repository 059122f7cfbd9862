// What an evaluation leaves behind (evaluator.h, step 5; docs/evaluation.md): evaluation.h5,
// report.html and evaluation.json, the line it prints, and the result the coordinator records.
// Functions of their arguments; rank 0 calls them.
#ifndef BRAINTUNE_EVAL_OUTPUTS_H_
#define BRAINTUNE_EVAL_OUTPUTS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "braintune/v1/job.pb.h"

namespace braintune::eval {

class SharedArrays;  // shared_arrays.h

// Writes summary.hdf5_path() (every shared array, per participant, for h5py), then
// summary.html_path() and summary.json_path(), each atomically: a failure leaves no
// half-written file.
absl::Status WriteEvaluationFiles(const v1::EvaluationSummary& summary, const SharedArrays& shared,
                                  const std::vector<double>& data_fractions);

// One line on stdout; `braintune eval` and `braintune status` print the tables (src/cli/eval_command.h).
void PrintSummary(const v1::EvaluationSummary& summary);

// The job's result: the summary, `output_dir`, and the last model's mean raw r at its best layer.
v1::JobResult EvaluationResult(const v1::EvaluationSummary& summary, const std::string& output_dir);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_OUTPUTS_H_

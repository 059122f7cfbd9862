// `braintune eval SPEC.yaml`: a brain-alignment evaluation run here (braintune-train with a
// spec of kind "evaluate", under mpirun for several ranks), and the summary tables that
// `eval`, `status` and `submit --watch` print for evaluation results.
#ifndef BRAINTUNE_CLI_EVAL_COMMAND_H_
#define BRAINTUNE_CLI_EVAL_COMMAND_H_

#include <string>

#include "braintune/v1/job.pb.h"

namespace braintune::cli {

int CmdEval(int argc, char** argv);
// braintune features SPEC: a spec of kind features run here; prints the features.h5 written.
int CmdFeatures(int argc, char** argv);

// Best layer per model and ROI, the removal control, the data-efficiency sweep, the paired
// comparisons, and where the report and scores are.
std::string FormatEvaluation(const v1::EvaluationSummary& summary);

}  // namespace braintune::cli

#endif  // BRAINTUNE_CLI_EVAL_COMMAND_H_

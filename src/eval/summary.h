// The summary of an evaluation (evaluator.h, step 5), built on rank 0 from the summed shared
// arrays: per ROI and participant mean +- SEM of every layer's score, the removal control and
// the data-efficiency sweep at the best layer, and paired tests between the models.
#ifndef BRAINTUNE_EVAL_SUMMARY_H_
#define BRAINTUNE_EVAL_SUMMARY_H_

#include <string>
#include <vector>

#include "braintune/v1/job.pb.h"
#include "config/job_spec.h"

namespace braintune::eval {

struct Participants;  // participants.h
class SharedArrays;   // shared_arrays.h

// A model of evaluation.models once its layers are fitted.
struct EvaluatedModel {
  std::string name;
  std::string checkpoint;  // empty: the untrained model
  std::vector<int> layers;
  int best_layer = 0;      // chosen on the training stories (Scores::BestLayer)
};

// Everything but the output paths, the time taken and the feature cache counts, which the
// caller sets. Paired tests: every other model against the first, each at its best layer,
// per ROI, across participants (sign flips). Pure function of its arguments.
v1::EvaluationSummary Summarise(const config::JobSpec& spec, const Participants& participants,
                                const SharedArrays& shared, const std::vector<EvaluatedModel>& models);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_SUMMARY_H_

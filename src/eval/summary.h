// The summary of an evaluation (evaluator.h, step 5), built on rank 0 from the summed shared
// arrays: per ROI and participant mean +- SEM of every layer's score, the removal control and
// the data-efficiency sweep at the best layer, and paired tests between the models.
#ifndef BRAINTUNE_EVAL_SUMMARY_H_
#define BRAINTUNE_EVAL_SUMMARY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "braintune/v1/job.pb.h"
#include "config/job_spec.h"
#include "eval/erasure_control.h"

namespace braintune::eval {

struct Participants;  // participants.h
class SharedArrays;   // shared_arrays.h

// One linear probe of one layer (probes.h).
struct ProbeResult {
  std::string probe;
  int layer = 0;
  double accuracy = 0;  // share of the test stories' items classified right
  double chance = 0;    // share of them carrying the most frequent training label
  double cv_accuracy = 0;  // on the training stories' items, cross-validated (contiguous folds)
  int classes = 0;      // labels seen in training
  int64_t train_items = 0, test_items = 0;
};

// A model of evaluation.models once its layers are fitted.
struct EvaluatedModel {
  std::string name;
  std::string checkpoint;  // empty: the untrained model
  std::vector<int> layers;
  int best_layer = 0;      // chosen on the training stories (Scores::BestLayers, all targets)
  std::map<std::string, int> best_layers;  // per ROI, the same way (Scores::BestLayers)
  std::vector<ProbeResult> probes;         // rank 0's, per probe and layer
  std::optional<ErasureFit> erasure;       // the erasure control's eraser and checks, when it ran
  std::vector<std::string> features;       // a feature space of the dataset: its names
};

// Everything but the output paths, the time taken and the feature cache counts, which the
// caller sets. Paired tests: every other model against the first, each at its best layer for
// the ROI, per ROI, across participants (sign flips). `probe_notes`: why probes were skipped,
// kept as given, before the notes of probes that gave no score. Pure function of its arguments.
v1::EvaluationSummary Summarise(const config::JobSpec& spec, const Participants& participants,
                                const SharedArrays& shared, const std::vector<EvaluatedModel>& models,
                                const std::vector<std::string>& probe_notes);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_SUMMARY_H_

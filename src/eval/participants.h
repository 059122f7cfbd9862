// The job's participants and stories as every rank sees them (evaluator.h, step 1), and the
// responses of the participants this rank owns (participant i goes to rank i mod ranks):
// z-scored per run, trimmed, split into training and test stories, with their noise ceilings.
#ifndef BRAINTUNE_EVAL_PARTICIPANTS_H_
#define BRAINTUNE_EVAL_PARTICIPANTS_H_

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/job_spec.h"
#include "data/dataset.h"

namespace braintune::eval {

// Rows [trim_start, n - trim_end) of a run.
struct Trim {
  int64_t begin = 0, end = 0;
  int64_t rows() const { return std::max<int64_t>(0, end - begin); }
};

// A participant whose responses this rank holds and fits.
struct OwnedParticipant {
  const data::Participant* meta = nullptr;
  int index = 0;          // among the job's participants
  std::vector<const data::Run*> train_runs, test_runs;
  torch::Tensor y_train, y_test;  // z-scored per story, trimmed [rows, targets] float64
  torch::Tensor ceiling;          // [targets], undefined when unknown
  std::string ceiling_source = "none";  // none, stored, repeats (run + repeats), repeats-mean (run = their mean)
  int64_t ceiling_presentations = 0;    // presentations in the repeats branches
};

// Constant after LoadParticipants; `owned` points into `dataset`, hence not copyable.
// Thread model: read by any thread.
struct Participants {
  Participants() = default;
  Participants(const Participants&) = delete;
  Participants& operator=(const Participants&) = delete;

  bool IsTest(const std::string& story) const;
  Trim RunTrim(const data::Run& run) const;
  const std::map<std::string, std::vector<int32_t>>& RoisOf(int p) const;  // participant p's ROIs

  data::Dataset dataset;                  // every participant listed, the owned ones' responses loaded
  std::vector<std::string> ids;           // the job's, sorted: the ones scored
  // Whose responses are scored (evaluation.participants): "held-out" (none of the models was
  // tuned on them), or "all ..." / "tuned ..." with the reason; and the participants the models'
  // checkpoints were tuned on, sorted.
  std::string split;
  std::vector<std::string> tuned;
  std::vector<int64_t> offsets;           // participant -> first target in the shared per-target arrays
  int64_t total_targets = 0;
  std::map<std::string, int64_t> spaces;  // space -> targets, for the model's heads
  std::set<std::string> rois;             // the ROI names of the job's participants
  std::vector<std::string> test_stories;
  std::set<std::string> heard;            // stories some participant of the job heard
  std::vector<OwnedParticipant> owned;
  int64_t trim_start = 0, trim_end = 0;   // data.trim_start, data.trim_end
};

// Reads spec.data for rank `rank` of `ranks`, checking before any work that every
// participant heard a training and a test story with samples left after trimming, and that
// the removal control's confounds exist for every story heard. Errors name `source` (the
// spec's file) or the dataset.
absl::StatusOr<std::unique_ptr<const Participants>> LoadParticipants(const config::JobSpec& spec,
                                                                     const std::string& source, int rank, int ranks);

// The line rank 0 prints about whose responses are scored: "braintune-eval: scoring 4 held-out
// participants (sub-05, ...); the tuned models saw sub-01, ...", or why all are.
std::string ScoredLine(const Participants& participants);

// Each column z-scored (population std); constant columns become 0.
torch::Tensor ZScoreColumns(const torch::Tensor& x);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_PARTICIPANTS_H_

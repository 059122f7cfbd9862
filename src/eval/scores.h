// Scores read from the shared arrays once they are summed (evaluator.h, steps 4 and 5), the
// same on every rank: normalized by the noise ceiling or raw r, per participant and ROI, and
// the best layer of a model.
#ifndef BRAINTUNE_EVAL_SCORES_H_
#define BRAINTUNE_EVAL_SCORES_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "eval/participants.h"
#include "eval/shared_arrays.h"

namespace braintune::eval {

// The ROI of every target, first in every summary.
inline constexpr char kAllTargets[] = "all";

// Each owned participant's noise ceiling (0 where unknown) and where it came from into the
// arrays "ceiling", "ceiling_source" and "ceiling_presentations"; every rank calls it once.
void PutCeilings(const Participants& participants, SharedArrays* shared);

// Reads scores from `shared` (and its "ceiling" arrays, which must be summed). Holds
// references to its arguments. Thread model: any thread, while nobody writes `shared`.
class Scores {
 public:
  Scores(const Participants& participants, const SharedArrays& shared, double ceiling_threshold);

  // Whether scores are r / ceiling: only when every participant has a ceiling.
  bool Normalized() const;
  // Where the ceilings came from, in words: "none", "stored", "repeats (run + N repeats)",
  // "repeats (run = mean of N)", or "mixed" when participants differ.
  std::string CeilingSource() const;
  // Participant p's score per target from the r array `key`: r / ceiling with targets at or
  // below the threshold masked (NaN) when Normalized(), else r.
  torch::Tensor PerTarget(const std::string& key, int p) const;
  // ROI -> (participant -> mean score over the ROI's unmasked targets; NaN if none).
  std::map<std::string, std::vector<double>> RoiMeans(const std::string& key) const;
  // ROI -> (participant -> mean over the ROI's targets of the per-target array `key`, as it is
  // (not divided by the ceiling), over the targets PerTarget leaves unmasked; NaN if none).
  std::map<std::string, std::vector<double>> UnscaledRoiMeans(const std::string& key) const;
  // ROI -> (participant -> mean noise ceiling over the ROI's targets).
  std::map<std::string, std::vector<double>> CeilingRoiMeans() const;
  // Per ROI (kAllTargets too), the layer with the highest cross-validated R^2 on the training
  // stories (mean over a participant's targets of the ROI, unmasked ones when Normalized(), then
  // over participants): ROI -> layer. ROIs without a finite score at any layer are left out,
  // except kAllTargets, which is then layers[0].
  std::map<std::string, int> BestLayers(const std::string& model, const std::vector<int>& layers) const;

 private:
  const Participants& participants_;
  const SharedArrays& shared_;
  const double ceiling_threshold_;
};

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_SCORES_H_

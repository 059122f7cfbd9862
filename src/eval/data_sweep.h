// The data-efficiency sweep (evaluator.h, step 4; docs/evaluation.md): a layer's encoding model
// fitted again on the first share of the training samples, for each of evaluation.data_fractions,
// and scored on the same test stories. The evaluator runs it at every layer that is some ROI's
// best, and the summary reads each ROI at its own best layer.
#ifndef BRAINTUNE_EVAL_DATA_SWEEP_H_
#define BRAINTUNE_EVAL_DATA_SWEEP_H_

#include <string>
#include <vector>

#include "eval/fits.h"
#include "eval/participants.h"
#include "eval/shared_arrays.h"

namespace braintune::eval {

// Declares SweepArray(model, layer, i, "r") (per target) and SweepArray(model, layer, i, "rows")
// (training samples per participant) for every fraction; every rank calls it, owned participants
// or not.
void DeclareDataSweep(const std::string& model, int layer, const std::vector<double>& fractions, SharedArrays* shared);

// Participant o's points of the sweep at `layer` (`in` holds its features): fraction f fits on the
// first ceil(f * rows) training rows of `in`, r per target NaN when that is fewer than
// max(10, 2 * fitter.ridge().folds) rows. Thread model: the fitter's.
void RunDataSweep(const EncodingFitter& fitter, const std::vector<double>& fractions, const OwnedParticipant& o,
                  const FitInputs& in, const std::string& model, int layer, SharedArrays* shared);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_DATA_SWEEP_H_

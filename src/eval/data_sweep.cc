#include "eval/data_sweep.h"

#include <algorithm>
#include <cmath>

#include "eval/metrics.h"

namespace braintune::eval {

void DeclareDataSweep(const std::string& model, int layer, const std::vector<double>& fractions, SharedArrays* shared) {
  for (size_t f = 0; f < fractions.size(); ++f) {
    shared->Declare(SweepArray(model, layer, f, "r"));
    shared->Declare(SweepArray(model, layer, f, "rows"), /*per_target=*/false);
  }
}

void RunDataSweep(const EncodingFitter& fitter, const std::vector<double>& fractions, const OwnedParticipant& o,
                  const FitInputs& in, const std::string& model, int layer, SharedArrays* shared) {
  const int64_t n = in.x_train.size(0);
  for (size_t f = 0; f < fractions.size(); ++f) {
    const int64_t rows = std::min<int64_t>(n, static_cast<int64_t>(std::ceil(fractions[f] * n)));
    torch::Tensor r = torch::full({o.meta->n_targets}, std::nan(""), torch::kFloat64);
    if (rows >= std::max(10, 2 * fitter.ridge().folds)) {
      RidgeModel fit = FitRidgeCV(in.x_train.narrow(0, 0, rows), in.y_train.narrow(0, 0, rows), fitter.ridge());
      r = PearsonPerTarget(fit.Predict(in.x_test), in.y_test);
    }
    shared->PutTargets(SweepArray(model, layer, f, "r"), o.index, r);
    shared->PutValue(SweepArray(model, layer, f, "rows"), o.index, static_cast<double>(rows));
  }
}

}  // namespace braintune::eval

// A job of kind "features" (docs/evaluation.md, "Exporting features"): the models of
// evaluation.models run over the dataset's stories with the evaluation's windowing (context,
// stride, pooling) through the same feature extraction and cache as the evaluator
// (model_features.h), written to <output.dir>/features.h5 for users' own analyses:
//   /models/<model>/layer_<k>/<story>/values   [n_windows, hidden] float32
//   /models/<model>/layer_<k>/<story>/times    [n_windows] float64, seconds (each window's end)
// and with evaluation.resampled, every layer at each participant's response times (Lanczos, 3
// lobes, as the encoding models see them before z-scoring and delays):
//   /models/<model>/layer_<k>/resampled/<participant>/<story>   [n_times, hidden] float32
// Root attributes: format "braintune-features", dataset, context_seconds, stride_seconds,
// pooling. Ranks share the stories' extraction; rank 0 writes the file.
#ifndef BRAINTUNE_EVAL_FEATURE_EXPORT_H_
#define BRAINTUNE_EVAL_FEATURE_EXPORT_H_

#include "absl/status/status.h"
#include "config/job_spec.h"
#include "dist/communicator.h"
#include "rank/rank.h"

namespace braintune::eval {

absl::Status RunFeatureExport(const config::LoadedSpec& spec, const rank::RankOptions& options,
                              dist::Communicator* comm);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_FEATURE_EXPORT_H_

// The HTML report of a brain-alignment evaluation (docs/evaluation.md): one self-contained page
// (inline CSS and SVG, no JavaScript, no external resources) that opens offline from disk.
#ifndef BRAINTUNE_EVAL_REPORT_H_
#define BRAINTUNE_EVAL_REPORT_H_

#include <string>

#include "braintune/v1/job.pb.h"

namespace braintune::eval {

// Renders `summary` as an HTML5 page with these sections, in order:
//   header        name, dataset, modality, test stories, score kind, ceiling, context/stride,
//                 participants, time taken, feature cache hits/misses;
//   #roi          grouped bars per ROI ("all" first), one bar per model at its best layer,
//                 SEM error bars, and a table of mean +- SEM (n);
//   #layers       score over "all" per layer, one line per model with an SEM band, best layer
//                 ringed; one small chart per other ROI;
//   #efficiency   score over "all" against the fraction of training data; one small chart per
//                 other ROI (each model at its best layer for the ROI);
//   #removal      per model, before vs after the feature-removal control, and the drops;
//   #comparisons  the paired tests, and a per-participant paired plot for each one on "all";
//   #participants per model at its best layer: each participant's ROI scores and raw r.
// A section without data says so in a sentence instead of drawing an empty chart. Every chart is
// one <svg>; model i has colour i of the Tableau 10 palette everywhere. Missing or non-finite
// numbers show as "–". All strings from the summary are HTML-escaped.
// Pure function of its argument; safe to call from any thread.
std::string RenderHtmlReport(const v1::EvaluationSummary& summary);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_REPORT_H_

// Linear probes (evaluator.h, step 4; docs/evaluation.md): how well one layer's features tell
// phoneme identity and word meaning (the dataset's per-word classes, /stimuli/<story>/words/class)
// on the test stories, with a ridge classifier fitted on the training stories. Brain-tuning's
// published downstream claim is that meaning gets better and nothing else gets worse; these
// probes measure both, before and after tuning.
#ifndef BRAINTUNE_EVAL_PROBES_H_
#define BRAINTUNE_EVAL_PROBES_H_

#include <cstddef>
#include <string>
#include <vector>

#include "eval/model_features.h"
#include "eval/participants.h"
#include "eval/ridge.h"
#include "eval/summary.h"

namespace braintune::eval {

// The probes evaluation.probes may name.
inline constexpr char kPhonemeProbe[] = "phoneme";
inline constexpr char kWordClassProbe[] = "word_class";
// The meaning of the context rather than of the word: at each word's end, the class that
// dominates the words heard in the last seconds, each word weighted by its duration and by
// exp(-(age of its end) / kContextClassSeconds) (a leaky average of meaning, what a
// language area integrating meaning over a few seconds follows; the synthetic brain's own
// integration time). Needs word classes as word_class does.
inline constexpr char kContextClassProbe[] = "context_class";
inline constexpr double kContextClassSeconds = 4.0;

// The context_class label of every word of `story` (its word classes), in word order.
std::vector<int32_t> ContextClasses(const data::Story& story);
// A probe with more labels than this is skipped (its one-hot targets would not fit in memory).
inline constexpr size_t kMaxProbeClasses = 1000;

// Why `probe` cannot run on the stories `participants` heard ("" when it can): no phoneme or
// word timings, no word classes (word_class, context_class), or more than kMaxProbeClasses labels.
std::string ProbeUnavailable(const Participants& participants, const std::string& probe);

// Runs `probe` on one layer's features of the stories heard (every story in `features`). Each
// item (a phoneme or a word) is represented by the first feature vector whose window ends at or
// after the item's offset (the window that has just heard it); its label is the phoneme's text
// or the word's class. One-vs-rest ridge on the z-scored features (one alpha per class, chosen
// on contiguous folds of the training items, as the encoding models), the prediction the class
// with the highest output. REQUIRES: ProbeUnavailable(...) is "".
ProbeResult RunProbe(const Participants& participants, const LayerFeatures& features, int layer,
                     const std::string& probe, const RidgeOptions& ridge);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_PROBES_H_

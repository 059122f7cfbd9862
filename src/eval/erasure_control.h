// The concept-erasure control (evaluator.h, step 4; docs/evaluation.md): at the model's best
// layer, LEACE (leace.h) fitted on the word-level features of the training stories with the
// concept's value per word (evaluation.erasure_concept; features.h WordConcepts),
// applied to every feature vector of that layer, then the encoding models refitted and scored
// again. Verified on the test stories' words: a ridge probe of the concept before and after.
//
// Word-level features are the layer's features at each word's offset: a text model's own
// (one per word), a speech model's resampled there (Lanczos, as to response times).
#ifndef BRAINTUNE_EVAL_ERASURE_CONTROL_H_
#define BRAINTUNE_EVAL_ERASURE_CONTROL_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "eval/fits.h"
#include "eval/leace.h"
#include "eval/model_features.h"
#include "eval/participants.h"
#include "eval/shared_arrays.h"
#include "model/text_encoder.h"
#include "model/tokenizer.h"

namespace braintune::eval {

// A causal text model's next-token loss on the test stories' words, as it is and with the
// eraser applied to every token's state at the erased layer, patched into the forward pass
// (Belrose et al. 2023 check this way that an erasure costs the model little language ability).
struct NextTokenLoss {
  double before = 0, after = 0;  // mean cross-entropy, nats per token
  int64_t tokens = 0;            // tokens predicted
};

// The held-out probe R^2 at or below which an erasure counts as complete (ErasureScores.complete).
inline constexpr double kErasedProbeR2 = 0.01;

struct ErasureFit {
  std::string concept;
  ConceptEraser eraser;
  double probe_r2_before = 0;  // ridge probe of the concept on the test stories' words
  double probe_r2_after = 0;
  double variance_removed = 0;  // share of the training words' feature variance the edit removes
  int64_t train_words = 0, test_words = 0;
  std::optional<NextTokenLoss> next_token;  // causal text models (NextTokenLossOfErasure)
};

// The eraser of `concept` for one layer; `at` holds the layer's features of every story heard.
// The same on every rank (it reads only the cache and the stimuli). Errors name the story.
absl::StatusOr<ErasureFit> FitErasure(const Participants& participants, const LayerFeatures& at,
                                      const std::string& concept);

// The most tokens NextTokenLossOfErasure reads: a bounded cost on long test stories.
inline constexpr int64_t kMaxNextTokenLossTokens = 16384;

// NextTokenLoss of `fit` at `layer` of `encoder` (a causal text model, with its tokenizer), on
// the test stories' words read as running text in chunks of at most 256 tokens (and the model's
// positions), the first kMaxNextTokenLossTokens tokens. Errors name the story.
absl::StatusOr<NextTokenLoss> NextTokenLossOfErasure(model::TextEncoderImpl& encoder, const model::Tokenizer& tokenizer,
                                                     const Participants& participants, const ErasureFit& fit, int layer);

// Declares ErasureArray(model); every rank calls it, owned participants or not.
void DeclareErasureControl(const std::string& model, SharedArrays* shared);

// Every story of `at` with the eraser applied (its times kept).
LayerFeatures EraseLayer(const ErasureFit& fit, const LayerFeatures& at);

// Participant o's r per target on the `erased` features (EraseLayer), into ErasureArray(model).
// Thread model: the fitter's.
absl::Status RunErasureControl(const EncodingFitter& fitter, const LayerFeatures& erased, const OwnedParticipant& o,
                               const std::string& model, SharedArrays* shared);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_ERASURE_CONTROL_H_

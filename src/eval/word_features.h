// Word-level features of a text model, the standard way of the field (Huth lab; Jain & Huth
// 2018; Antonello et al. 2023): for every word of a story, the hidden state of each layer at the
// word's last token, computed with the words before it as context. Their times are the words'
// offsets; LanczosResample (eval/metrics.h) takes them to response times like speech features.
//
// The context of word i is words [start_i, i]:
//   "huth":    grows with the story to `context_words` words, then restarts from its last half
//              (start jumps to i + 1 - context_words / 2), so every word has at least half the
//              context and a causal model computes all words of one start in one pass;
//   "sliding": the last `context_words` words, one pass per word.
// The context's tokens are cut from the left to fit the model's positions (BERT's [CLS] and
// [SEP] included). A word without tokens (BERT drops control characters) takes the state at the
// last token of its context, or zeros when the context has none.
#ifndef BRAINTUNE_EVAL_WORD_FEATURES_H_
#define BRAINTUNE_EVAL_WORD_FEATURES_H_

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/features.h"
#include "model/text_encoder.h"
#include "model/tokenizer.h"

namespace braintune::eval {

struct WordContextOptions {
  int context_words = 256;      // 1..100000
  std::string mode = "huth";    // "huth" or "sliding"
  int batch_size = 32;          // passes per forward call
};

// start_i of every word (see above); requires context_words >= 1.
std::vector<int64_t> WordContextStarts(int64_t n_words, const WordContextOptions& options);

// The states at each word's last token for `layers` (indices into encoder.Layers): one
// [n_words, hidden] float32 CPU tensor per layer. Errors name `what` (the story) and the word.
absl::StatusOr<std::vector<torch::Tensor>> WordStates(model::TextEncoderImpl& encoder, const model::Tokenizer& tokenizer,
                                                      const std::vector<std::string>& words,
                                                      const std::vector<int>& layers, const WordContextOptions& options,
                                                      const std::string& what);

// The word features of each story's /stimuli/<story>/words for the feature cache (features.h),
// at the words' offsets. A story without words is an error naming it.
std::unique_ptr<FeatureSource> MakeWordFeatureSource(std::shared_ptr<model::TextEncoderImpl> encoder,
                                                     std::shared_ptr<const model::Tokenizer> tokenizer,
                                                     WordContextOptions options);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_WORD_FEATURES_H_

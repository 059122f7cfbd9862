// A text model's training sample (the text counterpart of an audio window, plan.h): the words
// heard up to the end of a response sample, within the plan's window (data.context_trs TRs or
// data.context_seconds), as tokens, with the position of each word's last token, where the
// model's output is pooled (model/brain_model.h). Torch-free.
//
// A word belongs to the window of TR i when its offset lies in (end - window, end], end being
// the end of TR i (as for audio). Its tokens are those of the story's running text (the
// tokenizer reads " word" after the first word: Tokenizer::EncodeWords), cut from the left to the
// model's positions; BERT's [CLS] and [SEP] frame them. A window without words is one [CLS]
// [SEP] (BERT) or no token (GPT-2): nothing to pool, the model pools zeros.
#ifndef BRAINTUNE_TRAIN_TEXT_SAMPLE_H_
#define BRAINTUNE_TRAIN_TEXT_SAMPLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "model/tokenizer.h"
#include "train/plan.h"

namespace braintune::train {

struct TextSample {
  std::vector<int64_t> ids;        // the model's input
  std::vector<int64_t> positions;  // into ids: the last token of each word of the window, in order
};

// Every story's words tokenized once, for the loader.
class TextSamples {
 public:
  // Tokenizes the words of every story of `plan` in `ds` (its metadata). Errors name the story:
  // no /stimuli/<story>/words, text the tokenizer refuses, an id beyond `vocab_size`.
  static absl::StatusOr<TextSamples> Make(const Plan& plan, const data::Dataset& ds, const model::Tokenizer& tokenizer,
                                          int64_t vocab_size, int64_t max_positions);

  // The sample of window `w` (plan.window_seconds long).
  TextSample Cut(const Plan& plan, const Window& w) const;

  // Tokens per window, the mean over `windows` (for the table rank 0 prints).
  double MeanTokens(const Plan& plan, const std::vector<Window>& windows) const;

 private:
  struct Story {
    std::vector<int64_t> ids, ends;  // model::WordTokens
    std::vector<double> offsets;     // per word
  };
  std::vector<Story> stories_;      // by plan story
  int64_t cls_ = -1, sep_ = -1;     // BERT's; -1 for GPT-2
  int64_t max_tokens_ = 0;          // tokens of words that fit (the frame's excluded)
};

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_TEXT_SAMPLE_H_

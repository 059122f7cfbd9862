#include "train/text_sample.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace braintune::train {

absl::StatusOr<TextSamples> TextSamples::Make(const Plan& plan, const data::Dataset& ds,
                                              const model::Tokenizer& tokenizer, int64_t vocab_size,
                                              int64_t max_positions) {
  TextSamples out;
  out.cls_ = tokenizer.cls_id();
  out.sep_ = tokenizer.sep_id();
  out.max_tokens_ = max_positions - (out.cls_ >= 0 ? 2 : 0);
  if (out.max_tokens_ < 1) return absl::InvalidArgumentError("the text model has no room for a token (max_position_embeddings)");
  for (const StoryTiming& t : plan.stories) {
    const data::Story* story = ds.FindStory(t.name);
    if (story == nullptr || story->words.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(ds.path, ": story ", t.name, ": a text model needs /stimuli/", t.name,
                                                     "/words (onset, offset, text), which this dataset lacks"));
    }
    std::vector<std::string> words;
    Story s;
    for (const data::Interval& w : story->words) {
      words.push_back(w.text);
      s.offsets.push_back(w.offset);
    }
    const std::string what = absl::StrCat(ds.path, ": /stimuli/", t.name, "/words/text");
    ASSIGN_OR_RETURN(model::WordTokens tokens, tokenizer.EncodeWords(words, what));
    for (int64_t id : tokens.ids) {
      if (id < 0 || id >= vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": the tokenizer gives id ", id, ", beyond the model's vocab_size ",
                                                       vocab_size, " (tokenizer and model do not belong together)"));
      }
    }
    s.ids = std::move(tokens.ids);
    s.ends = std::move(tokens.ends);
    out.stories_.push_back(std::move(s));
  }
  return out;
}

TextSample TextSamples::Cut(const Plan& plan, const Window& w) const {
  const StoryTiming& t = plan.stories[w.story];
  const Story& s = stories_[w.story];
  const double end = t.t0 + (w.index + 1) * t.tr, start = end - plan.window_seconds;
  // Words with offset in (start, end]: offsets are sorted as the words are (by onset) for any
  // sane alignment, but a search would rely on it; a scan from the first candidate does not.
  const int64_t n = static_cast<int64_t>(s.offsets.size());
  int64_t first = n, last = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (s.offsets[i] > start && s.offsets[i] <= end) {
      first = std::min(first, i);
      last = i;
    }
  }
  TextSample out;
  if (cls_ >= 0) out.ids.push_back(cls_);
  if (last >= first) {
    const int64_t begin = first == 0 ? 0 : s.ends[first - 1];
    const int64_t from = std::max(begin, s.ends[last] - max_tokens_), to = s.ends[last];
    const int64_t offset = static_cast<int64_t>(out.ids.size()) - from;
    out.ids.insert(out.ids.end(), s.ids.begin() + from, s.ids.begin() + to);
    for (int64_t i = first; i <= last; ++i) {
      const int64_t word_begin = i == 0 ? 0 : s.ends[i - 1];
      // A word with no tokens, or cut off the left, has no state of its own to pool.
      if (s.ends[i] > word_begin && s.ends[i] - 1 >= from) {
        out.positions.push_back(s.ends[i] - 1 + offset);
      }
    }
  }
  if (sep_ >= 0) out.ids.push_back(sep_);
  return out;
}

double TextSamples::MeanTokens(const Plan& plan, const std::vector<Window>& windows) const {
  if (windows.empty()) return 0;
  double sum = 0;
  for (const Window& w : windows) sum += static_cast<double>(Cut(plan, w).ids.size());
  return sum / static_cast<double>(windows.size());
}

}  // namespace braintune::train

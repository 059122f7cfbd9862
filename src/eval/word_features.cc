#include "eval/word_features.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace braintune::eval {

using torch::Tensor;

namespace {

// One forward pass: the tokens of words [first, last] (cut from the left to fit), and for each
// word of `outputs` the position of its last token in the input (-1: no token, zeros).
struct Pass {
  std::vector<int64_t> ids;
  std::vector<std::pair<int64_t, int64_t>> outputs;  // (word, position)
};

}  // namespace

std::vector<int64_t> WordContextStarts(int64_t n_words, const WordContextOptions& o) {
  std::vector<int64_t> starts(n_words, 0);
  const int64_t c = std::max(1, o.context_words);
  int64_t start = 0;
  for (int64_t i = 0; i < n_words; ++i) {
    if (o.mode == "sliding") {
      starts[i] = std::max<int64_t>(0, i + 1 - c);
      continue;
    }
    if (i + 1 - start > c) start = i + 1 - std::max<int64_t>(1, c / 2);
    starts[i] = start;
  }
  return starts;
}

absl::StatusOr<std::vector<Tensor>> WordStates(model::TextEncoderImpl& encoder, const model::Tokenizer& tokenizer,
                                               const std::vector<std::string>& words, const std::vector<int>& layers,
                                               const WordContextOptions& o, const std::string& what) {
  const model::TextModelConfig& config = encoder.config();
  for (int l : layers) {
    if (l < 0 || l > encoder.num_layers()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": layer ", l, " is not in [0, ", encoder.num_layers(), "]"));
    }
  }
  ASSIGN_OR_RETURN(model::WordTokens tokens, tokenizer.EncodeWords(words, what));
  for (int64_t id : tokens.ids) {
    if (id >= config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": the tokenizer gives id ", id, ", beyond the model's vocab_size ",
                                                     config.vocab_size, " (tokenizer and model do not belong together)"));
    }
  }
  const bool bert = config.model_type == "bert";
  const int64_t max_tokens = config.max_position_embeddings - (bert ? 2 : 0);
  if (max_tokens < 1) return absl::InvalidArgumentError(absl::StrCat(what, ": the model has no room for a token"));
  const int64_t n = static_cast<int64_t>(words.size());
  auto begin_of = [&](int64_t w) { return w == 0 ? int64_t{0} : tokens.ends[w - 1]; };
  const std::vector<int64_t> starts = WordContextStarts(n, o);

  // One pass for words [first, last] of one start, the outputs those of `which`.
  auto make_pass = [&](int64_t first, int64_t last, const std::vector<int64_t>& which) {
    Pass p;
    const int64_t from = std::max(begin_of(first), tokens.ends[last] - max_tokens), to = tokens.ends[last];
    if (bert) p.ids.push_back(tokenizer.cls_id());
    const int64_t offset = (bert ? 1 : 0) - from;
    p.ids.insert(p.ids.end(), tokens.ids.begin() + from, tokens.ids.begin() + to);
    if (bert) p.ids.push_back(tokenizer.sep_id());
    for (int64_t w : which) {
      const int64_t last_token = tokens.ends[w] - 1;
      p.outputs.emplace_back(w, last_token >= from ? last_token + offset : -1);
    }
    return p;
  };
  std::vector<Pass> passes;
  if (config.causal() && o.mode == "huth") {
    // A causal model's state at a token depends only on what precedes it: every word of one
    // start is read off one pass over the longest of their contexts, where it fits.
    for (int64_t i = 0; i < n;) {
      int64_t j = i;
      while (j + 1 < n && starts[j + 1] == starts[i]) ++j;
      if (tokens.ends[j] - begin_of(starts[i]) <= max_tokens) {
        std::vector<int64_t> which;
        for (int64_t w = i; w <= j; ++w) which.push_back(w);
        passes.push_back(make_pass(starts[i], j, which));
      } else {
        for (int64_t w = i; w <= j; ++w) passes.push_back(make_pass(starts[w], w, {w}));
      }
      i = j + 1;
    }
  } else {
    for (int64_t w = 0; w < n; ++w) passes.push_back(make_pass(starts[w], w, {w}));
  }

  const torch::Device device = encoder.parameters()[0].device();
  std::vector<Tensor> out;
  for (size_t l = 0; l < layers.size(); ++l) out.push_back(torch::zeros({n, config.hidden_size}));
  torch::NoGradGuard no_grad;
  const int64_t batch = std::max(1, o.batch_size);
  for (size_t b = 0; b < passes.size(); b += batch) {
    const size_t count = std::min<size_t>(batch, passes.size() - b);
    int64_t longest = 1;
    for (size_t k = 0; k < count; ++k) longest = std::max<int64_t>(longest, passes[b + k].ids.size());
    Tensor ids = torch::zeros({static_cast<int64_t>(count), longest}, torch::kLong);
    Tensor mask = torch::zeros({static_cast<int64_t>(count), longest}, torch::kLong);
    for (size_t k = 0; k < count; ++k) {
      const auto& p = passes[b + k].ids;
      if (p.empty()) continue;
      ids[k].narrow(0, 0, p.size()).copy_(torch::tensor(p, torch::kLong));
      mask[k].narrow(0, 0, p.size()).fill_(1);
    }
    for (size_t k = 0; k < count; ++k) {
      if (passes[b + k].ids.empty()) mask[k][0] = 1;  // nothing to read; keeps the softmax defined
    }
    std::vector<Tensor> hidden = encoder.Layers(ids.to(device), mask.to(device));
    for (size_t l = 0; l < layers.size(); ++l) {
      Tensor h = hidden.at(layers[l]).to(torch::kCPU, torch::kFloat32);
      for (size_t k = 0; k < count; ++k) {
        for (const auto& [w, pos] : passes[b + k].outputs) {
          if (pos >= 0) out[l][w].copy_(h[k][pos]);
        }
      }
    }
  }
  return out;
}

namespace {

class WordFeatureSource final : public FeatureSource {
 public:
  WordFeatureSource(std::shared_ptr<model::TextEncoderImpl> encoder, std::shared_ptr<const model::Tokenizer> tokenizer,
                    WordContextOptions options)
      : encoder_(std::move(encoder)), tokenizer_(std::move(tokenizer)), options_(std::move(options)) {}

  std::string StoryKey(const data::Story& story) const override {
    std::string key = absl::StrCat("words|", options_.context_words, "|", options_.mode, "|");
    for (const data::Interval& w : story.words) {
      key.append(reinterpret_cast<const char*>(&w.offset), sizeof(double));
      absl::StrAppend(&key, w.text.size(), ":", w.text);
    }
    return key;
  }

  absl::Status CheckUsable(const data::Story& story) const override {
    if (story.words.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("story ", story.name, ": a text model needs /stimuli/", story.name,
                                                     "/words (onset, offset, text), which this dataset lacks"));
    }
    return absl::OkStatus();
  }

  // The extractor has called CheckUsable.
  absl::StatusOr<std::vector<StoryFeatures>> Compute(const data::Story& story, const std::vector<int>& layers) override {
    std::vector<std::string> words;
    std::vector<double> offsets;
    for (const data::Interval& w : story.words) {
      words.push_back(w.text);
      offsets.push_back(w.offset);
    }
    ASSIGN_OR_RETURN(std::vector<Tensor> states,
                     WordStates(*encoder_, *tokenizer_, words, layers, options_,
                                absl::StrCat("/stimuli/", story.name, "/words/text")));
    Tensor times = torch::tensor(offsets, torch::kFloat64);
    std::vector<StoryFeatures> out;
    for (Tensor& s : states) out.push_back(StoryFeatures{times, s.contiguous()});
    return out;
  }

 private:
  std::shared_ptr<model::TextEncoderImpl> encoder_;
  std::shared_ptr<const model::Tokenizer> tokenizer_;
  const WordContextOptions options_;
};

}  // namespace

std::unique_ptr<FeatureSource> MakeWordFeatureSource(std::shared_ptr<model::TextEncoderImpl> encoder,
                                                     std::shared_ptr<const model::Tokenizer> tokenizer,
                                                     WordContextOptions options) {
  return std::make_unique<WordFeatureSource>(std::move(encoder), std::move(tokenizer), std::move(options));
}

}  // namespace braintune::eval

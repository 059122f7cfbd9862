#include "eval/features.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/atomic_file.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "data/resample.h"
#include "eval/metrics.h"
#include "model/unicode_text.h"

namespace braintune::eval {
namespace {

namespace fs = std::filesystem;

// Part of every cache key: bump it when the features computed for the same settings change.
constexpr char kCacheVersion[] = "features-v5";  // v5: feature sources (speech windows, text words)

// FNV-1a, 64 bit: a content hash for cache keys (not for security).
class Fnv {
 public:
  Fnv& Add(const void* data, size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < bytes; ++i) h_ = (h_ ^ p[i]) * 1099511628211ull;
    return *this;
  }
  Fnv& Add(const std::string& s) { return Add(s.data(), s.size()).Add("\0", 1); }
  std::string Hex() const { return absl::StrFormat("%016x", h_); }

 private:
  uint64_t h_ = 14695981039346656037ull;
};

// Every use of the cache starts here: with no directory (no evaluation.cache_dir and no
// per-user default) nothing may be read or written, least of all under a shared path.
absl::Status CheckCacheDir(const std::string& cache_dir) {
  if (!cache_dir.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "evaluation.cache_dir is not set and neither XDG_CACHE_HOME nor HOME is, so there is no per-user default "
      "($XDG_CACHE_HOME/braintune/features, else $HOME/.cache/braintune/features): set evaluation.cache_dir to a "
      "directory of your own");
}

// A speech encoder's features of a story's audio (features.h).
class SpeechFeatureSource final : public FeatureSource {
 public:
  SpeechFeatureSource(model::Wav2Vec2Model encoder, FeatureOptions options)
      : encoder_(std::move(encoder)), options_(std::move(options)) {}

  std::string StoryKey(const data::Story& story) const override {
    std::string key(reinterpret_cast<const char*>(story.audio.data()), story.audio.size() * sizeof(float));
    absl::StrAppend(&key, "|", absl::StrFormat("%a|%a|%a|", story.sample_rate, options_.context_seconds,
                                               options_.stride_seconds),
                    options_.pooling, "|", model::PreprocessorConfigJson(options_.input));
    return key;
  }

  // Before the cache: features cached under data.resample: true are not an answer when it is false.
  absl::Status CheckUsable(const data::Story& story) const override {
    return model::HeardRate(options_.input, story.sample_rate, options_.resample,
                            absl::StrCat("/stimuli/", story.name, "/audio"))
        .status();
  }

  absl::StatusOr<std::vector<StoryFeatures>> Compute(const data::Story& story, const std::vector<int>& layers) override;

 private:
  model::Wav2Vec2Model encoder_;
  const FeatureOptions options_;
};

}  // namespace

FeatureExtractor::FeatureExtractor(model::Wav2Vec2Model encoder, std::string model_key, std::vector<int> layers,
                                   FeatureOptions options)
    : FeatureExtractor(std::make_unique<SpeechFeatureSource>(std::move(encoder), options), std::move(model_key),
                       std::move(layers), options.cache_dir) {}

FeatureExtractor::FeatureExtractor(std::unique_ptr<FeatureSource> source, std::string model_key,
                                   std::vector<int> layers, std::string cache_dir)
    : source_(std::move(source)),
      model_key_(std::move(model_key)),
      layers_(std::move(layers)),
      cache_dir_(std::move(cache_dir)) {}

std::string FeatureExtractor::CachePath(const data::Story& story, int layer) const {
  Fnv key;
  key.Add(kCacheVersion).Add(model_key_).Add(story.name).Add(source_->StoryKey(story)).Add(&layer, sizeof(int));
  return absl::StrCat(cache_dir_, "/", story.name, ".layer", layer, ".", key.Hex(), ".pt");
}

std::optional<StoryFeatures> FeatureExtractor::ReadCached(const data::Story& story, int layer) const {
  const std::string path = CachePath(story, layer);
  if (!fs::exists(path)) return std::nullopt;
  std::vector<torch::Tensor> saved;
  try {
    torch::load(saved, path);
  } catch (const c10::Error&) {
    return std::nullopt;  // unreadable (a crash mid-copy, a foreign file): recompute and replace it
  }
  if (saved.size() != 2) return std::nullopt;
  return StoryFeatures{saved[0], saved[1]};
}

absl::Status FeatureExtractor::CheckUsable(const data::Story& story) const {
  RETURN_IF_ERROR(CheckCacheDir(cache_dir_));
  return source_->CheckUsable(story);
}

absl::Status FeatureExtractor::Prepare(const data::Story& story) {
  RETURN_IF_ERROR(CheckUsable(story));
  for (int layer : layers_) {
    if (!ReadCached(story, layer)) {
      ++misses_;
      return Compute(story).status();
    }
  }
  ++hits_;
  return absl::OkStatus();
}

absl::StatusOr<StoryFeatures> FeatureExtractor::Get(const data::Story& story, int layer) {
  const auto it = std::find(layers_.begin(), layers_.end(), layer);
  if (it == layers_.end()) return absl::InternalError(absl::StrCat("layer ", layer, " was not requested"));
  RETURN_IF_ERROR(CheckUsable(story));
  if (std::optional<StoryFeatures> cached = ReadCached(story, layer)) return *cached;
  ++misses_;  // another rank prepared it into a cache this rank cannot see (not a shared disk)
  ASSIGN_OR_RETURN(std::vector<StoryFeatures> all, Compute(story));
  return all[it - layers_.begin()];
}

absl::StatusOr<std::vector<StoryFeatures>> SpeechFeatureSource::Compute(const data::Story& story,
                                                                        const std::vector<int>& layers_) {
  if (story.audio.empty()) return absl::InvalidArgumentError(absl::StrCat("story ", story.name, ": no audio loaded"));
  // The story as the model hears it: at its rate (resampled once here; the features are then
  // cached), every window prepared as its contract says.
  const std::string where = absl::StrCat("/stimuli/", story.name, "/audio");
  ASSIGN_OR_RETURN(const double rate, model::HeardRate(options_.input, story.sample_rate, options_.resample, where));
  std::vector<float> resampled;
  if (rate != story.sample_rate) {
    ASSIGN_OR_RETURN(resampled, data::Resample(story.audio, story.sample_rate, rate, where));
  }
  const std::vector<float>& heard = rate != story.sample_rate ? resampled : story.audio;
  const int64_t window = std::llround(options_.context_seconds * rate);
  const int64_t stride = std::llround(options_.stride_seconds * rate);
  const int64_t encoder_stride = encoder_->config().Stride();
  if (stride < 1 || encoder_->config().Frames(window) < 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "story %s: a %g s window (%d samples at %g Hz) is too short for the encoder (at least %d samples)", story.name,
        options_.context_seconds, window, rate, 2 * encoder_stride));
  }
  const int64_t samples = static_cast<int64_t>(heard.size());
  const int64_t n = samples / stride;  // windows ending at (k+1) * stride
  if (n == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "story %s: its audio (%g s) is shorter than one evaluation.stride_seconds (%g s)", story.name,
        static_cast<double>(samples) / rate, options_.stride_seconds));
  }
  const int64_t newest_frames = std::max<int64_t>(1, stride / encoder_stride);
  const torch::Device device = encoder_->parameters()[0].device();
  std::vector<std::vector<torch::Tensor>> chunks(layers_.size());
  // The pooled features of hidden states h [count, frames, hidden], one row per window.
  auto pool = [&](const torch::Tensor& h) {
    const int64_t frames = options_.pooling == "mean" ? h.size(1) : std::min(newest_frames, h.size(1));
    return h.narrow(1, h.size(1) - frames, frames).mean(1).cpu();
  };
  torch::NoGradGuard no_grad;
  for (int64_t begin = 0; begin < n; begin += options_.batch_size) {
    const int64_t count = std::min<int64_t>(options_.batch_size, n - begin);
    torch::Tensor batch = torch::zeros({count, window});
    std::vector<int64_t> alone;  // padded windows that a contract with an attention mask encodes alone
    for (int64_t i = 0; i < count; ++i) {
      const int64_t end = (begin + i + 1) * stride, start = end - window;
      const int64_t from = std::max<int64_t>(0, start);
      float* row = batch[i].data_ptr<float>();
      std::copy(heard.begin() + from, heard.begin() + end, row + (from - start));
      model::PrepareWindow(options_.input, row, window, from - start, window);
      if (model::EncodedAlone(options_.input, encoder_->config(), end - from, from > start)) alone.push_back(i);
    }
    // On the encoder's device (a GPU rank's); features come back to the CPU for the cache.
    std::vector<torch::Tensor> hidden = encoder_->Layers(batch.to(device));
    std::vector<torch::Tensor> pooled;
    for (size_t l = 0; l < layers_.size(); ++l) pooled.push_back(pool(hidden.at(layers_[l])));
    // Where the contract asks for an attention mask, a padded window is encoded alone at its
    // unpadded length: what the mask gives (no padded frame attended to or pooled).
    for (int64_t i : alone) {
      const int64_t end = (begin + i + 1) * stride, from = std::max<int64_t>(0, end - window);
      std::vector<torch::Tensor> own = encoder_->Layers(batch[i].narrow(0, window - (end - from), end - from).unsqueeze(0).to(device));
      for (size_t l = 0; l < layers_.size(); ++l) pooled[l][i].copy_(pool(own.at(layers_[l]))[0]);
    }
    for (size_t l = 0; l < layers_.size(); ++l) chunks[l].push_back(pooled[l]);
  }
  torch::Tensor times = (torch::arange(1, n + 1, torch::kFloat64) * static_cast<double>(stride) / rate);
  std::vector<StoryFeatures> out;
  for (size_t l = 0; l < layers_.size(); ++l) out.push_back(StoryFeatures{times, torch::cat(chunks[l]).contiguous()});
  return out;
}

absl::StatusOr<std::vector<StoryFeatures>> FeatureExtractor::Compute(const data::Story& story) {
  ASSIGN_OR_RETURN(std::vector<StoryFeatures> out, source_->Compute(story, layers_));
  if (!cache_dir_made_) {  // private (0700) where it makes it; once, so a warning shows once
    RETURN_IF_ERROR(CreatePrivateDirectory(cache_dir_, "feature cache (evaluation.cache_dir)"));
    cache_dir_made_ = true;
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    const StoryFeatures& f = out[l];
    // Atomically, through an unpredictable temporary name (a symlink planted in the directory
    // cannot redirect the write): ranks and concurrent evaluations share the directory. The
    // evaluation reads layers back one at a time, so a cache that cannot be written is an error.
    const absl::Status written = WriteAtomically(CachePath(story, layers_[l]), [&](const std::string& tmp) {
      torch::save(std::vector<torch::Tensor>{f.times, f.values}, tmp);
    });
    if (!written.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("evaluation.cache_dir: cannot write features: ", written.message()));
    }
  }
  return out;
}

absl::StatusOr<std::string> ModelKey(const std::string& checkpoint, const std::string& config) {
  Fnv key;
  key.Add(config);
  if (!checkpoint.empty()) {
    std::ifstream in(checkpoint, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(checkpoint, ": cannot open checkpoint"));
    std::vector<char> buffer(1 << 20);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      key.Add(buffer.data(), static_cast<size_t>(in.gcount()));
    }
  }
  return key.Hex();
}

std::string DefaultCacheDir() {
  // Relative values are ignored, as the XDG base directory specification asks.
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && xdg[0] == '/') return absl::StrCat(xdg, "/braintune/features");
  const char* home = std::getenv("HOME");
  if (home && home[0] == '/') return absl::StrCat(home, "/.cache/braintune/features");
  return "";  // never a shared path such as /tmp: FeatureExtractor says to set evaluation.cache_dir
}

absl::StatusOr<TimedValues> StimulusFeature(const data::Story& story, const std::string& name) {
  if (name == "letters" || name == "phonemes" || name == "word_rate") {
    if (story.words.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("story ", story.name, ": confound '", name,
                                                     "' needs word timings (/stimuli/", story.name, "/words)"));
    }
    if (name == "phonemes" && story.phonemes.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("story ", story.name,
                                                     ": confound 'phonemes' needs phoneme timings (/stimuli/",
                                                     story.name, "/phonemes)"));
    }
    std::vector<double> times, values;
    size_t ph = 0;
    for (const data::Interval& w : story.words) {
      times.push_back((w.onset + w.offset) / 2);
      if (name == "letters") {
        ASSIGN_OR_RETURN(const std::u32string text,
                         model::DecodeUtf8(w.text, absl::StrCat("story ", story.name, ": word ", values.size())));
        values.push_back(static_cast<double>(std::count_if(text.begin(), text.end(), model::IsLetter)));
      } else if (name == "phonemes") {
        // Phonemes whose middle falls inside the word (both tiers are sorted by onset).
        while (ph < story.phonemes.size() && (story.phonemes[ph].onset + story.phonemes[ph].offset) / 2 < w.onset) ++ph;
        double count = 0;
        for (; ph < story.phonemes.size() && (story.phonemes[ph].onset + story.phonemes[ph].offset) / 2 < w.offset; ++ph) {
          ++count;
        }
        values.push_back(count);
      } else {
        values.push_back(1.0);
      }
    }
    const auto m = static_cast<int64_t>(times.size());
    return TimedValues{torch::tensor(times, torch::kFloat64), torch::tensor(values, torch::kFloat64).view({m, 1})};
  }
  auto it = story.features.find(name);
  if (it == story.features.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "story ", story.name, ": confound '", name,
        "' is neither letters, phonemes, word_rate nor a stored feature (/stimuli/", story.name, "/features/", name, ")"));
  }
  const data::Feature& f = it->second;
  return TimedValues{torch::tensor(f.times, torch::kFloat64),
                     torch::tensor(f.values, torch::kFloat32).to(torch::kFloat64).view({f.n_frames, f.dim})};
}

namespace {

// The word as counted for its frequency: lower-cased (Unicode); text that is not UTF-8 as it is.
std::string FrequencyKey(const std::string& word) {
  absl::StatusOr<std::u32string> text = model::DecodeUtf8(word, "word");
  return text.ok() ? model::EncodeUtf8(model::Lower(*text)) : word;
}

// The concept per word of one story; `counts` (the dataset's word counts by FrequencyKey) is
// called only for a word_frequency the story does not store.
absl::StatusOr<torch::Tensor> ConceptOfStory(const data::Story& story, const std::string& concept,
                                             const std::function<const std::map<std::string, int64_t>&()>& counts) {
  const int64_t words = static_cast<int64_t>(story.words.size());
  if (words == 0) {
    return absl::InvalidArgumentError(absl::StrCat("story ", story.name, ": the concept '", concept,
                                                   "' is per word and the story has no words (/stimuli/", story.name,
                                                   "/words)"));
  }
  if (concept == "letters" || concept == "phonemes") {
    ASSIGN_OR_RETURN(TimedValues v, StimulusFeature(story, concept));
    return v.values;
  }
  if (concept == "word_frequency" && !story.features.count(concept)) {
    const std::map<std::string, int64_t>& counted = counts();
    std::vector<double> values;
    for (const data::Interval& w : story.words) values.push_back(std::log10(1.0 + counted.at(FrequencyKey(w.text))));
    return torch::tensor(values, torch::kFloat64).view({words, 1});
  }
  auto it = story.features.find(concept);
  if (it == story.features.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "story ", story.name, ": the concept '", concept,
        "' is neither letters, phonemes, word_frequency nor a stored feature (/stimuli/", story.name, "/features/",
        concept, ")"));
  }
  const data::Feature& f = it->second;
  if (f.n_frames != words) {
    return absl::InvalidArgumentError(absl::StrCat("/stimuli/", story.name, "/features/", concept, ": ", f.n_frames,
                                                   " rows for ", words, " words; a concept has one value per word"));
  }
  return torch::tensor(f.values, torch::kFloat32).to(torch::kFloat64).view({f.n_frames, f.dim});
}

}  // namespace

absl::StatusOr<std::map<std::string, torch::Tensor>> WordConcepts(const data::Dataset& dataset,
                                                                  const std::vector<std::string>& stories,
                                                                  const std::string& concept) {
  // The dataset's word counts, made once, on first need.
  std::optional<std::map<std::string, int64_t>> counts;
  auto counted = [&]() -> const std::map<std::string, int64_t>& {
    if (!counts) {
      counts.emplace();
      for (const data::Story& s : dataset.stories) {
        for (const data::Interval& w : s.words) ++(*counts)[FrequencyKey(w.text)];
      }
    }
    return *counts;
  };
  std::map<std::string, torch::Tensor> out;
  for (const std::string& name : stories) {
    const data::Story* story = dataset.FindStory(name);
    if (story == nullptr) return absl::InvalidArgumentError(absl::StrCat("story ", name, ": not in the dataset"));
    ASSIGN_OR_RETURN(out[name], ConceptOfStory(*story, concept, counted));
  }
  return out;
}

namespace {

class StoredFeatureSource final : public FeatureSource {
 public:
  StoredFeatureSource(std::string model, std::vector<std::string> names)
      : model_(std::move(model)), names_(std::move(names)) {}

  // The values themselves: a dataset rewritten with other features gets other keys.
  std::string StoryKey(const data::Story& story) const override {
    std::string key = "stored";
    absl::StatusOr<StoryFeatures> f = Gather(story);
    if (!f.ok()) return absl::StrCat(key, "|unusable");  // CheckUsable fails first
    const torch::Tensor times = f->times.contiguous(), values = f->values.contiguous();
    for (const std::string& name : names_) absl::StrAppend(&key, "|", name);
    key.append(static_cast<const char*>(times.data_ptr()), times.numel() * sizeof(double));
    key.append(static_cast<const char*>(values.data_ptr()), values.numel() * sizeof(float));
    return key;
  }

  absl::Status CheckUsable(const data::Story& story) const override { return Gather(story).status(); }

  absl::StatusOr<std::vector<StoryFeatures>> Compute(const data::Story& story, const std::vector<int>& layers) override {
    ASSIGN_OR_RETURN(StoryFeatures f, Gather(story));
    return std::vector<StoryFeatures>(layers.size(), f);
  }

 private:
  absl::StatusOr<StoryFeatures> Gather(const data::Story& story) const {
    std::vector<torch::Tensor> columns;
    torch::Tensor times;
    for (const std::string& name : names_) {
      absl::StatusOr<TimedValues> v = StimulusFeature(story, name);
      if (!v.ok()) {
        return absl::Status(v.status().code(),
                            absl::StrCat("evaluation.models (", model_, "): features: ", v.status().message()));
      }
      if (!times.defined()) {
        times = v->times;
      } else if (!v->times.equal(times)) {
        // Per-word counts beside per-frame features: onto the first's times, as features are
        // onto response times (a count per word becomes a rate).
        v->values = LanczosResample(v->values, v->times, times);
      }
      columns.push_back(v->values.to(torch::kFloat32));
    }
    return StoryFeatures{times, torch::cat(columns, 1).contiguous()};
  }

  const std::string model_;
  const std::vector<std::string> names_;
};

}  // namespace

std::unique_ptr<FeatureSource> MakeStoredFeatureSource(std::string model, std::vector<std::string> names) {
  return std::make_unique<StoredFeatureSource>(std::move(model), std::move(names));
}

}  // namespace braintune::eval

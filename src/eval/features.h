// Model features over each story (design.md section 3, step 1) and the low-level stimulus
// features of the feature-removal control.
//
// A model feature vector is computed every `stride_seconds` from the causal window of the
// `context_seconds` of audio that end there (zeros before the story starts), at each requested
// encoder layer, pooled over the frames of the window's newest stride ("last") or over the
// whole window ("mean"). Its time is the window's end.
//
// Features are cached on disk, one file per (model, layer, story, window settings), so
// evaluating the same checkpoint again, or another layer of it, computes nothing twice. The key
// is a hash of the model's weights (the checkpoint's bytes, or the seed of an untrained model),
// the story's audio samples, the window settings and a version of the extraction code; files
// are written atomically, so ranks and concurrent evaluations can share one cache directory.
#ifndef BRAINTUNE_EVAL_FEATURES_H_
#define BRAINTUNE_EVAL_FEATURES_H_

#include <torch/torch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "model/brain_model.h"
#include "model/input_contract.h"

namespace braintune::eval {

struct FeatureOptions {
  double context_seconds = 16;
  double stride_seconds = 0.1;
  std::string pooling = "last";  // "last" or "mean"
  int batch_size = 32;           // windows per forward pass
  std::string cache_dir;         // required; "" makes Prepare and Get fail, asking for one
  // What the model expects to hear: stories at another rate are resampled (when `resample`;
  // else an error), every window prepared as the contract says (model/input_contract.h).
  model::InputContract input;
  bool resample = true;          // data.resample
};

// One story's features at one layer.
struct StoryFeatures {
  torch::Tensor times;   // [m] float64, seconds from stimulus onset (window ends)
  torch::Tensor values;  // [m, hidden] float32
};

// What a model computes of a story: every requested layer in one pass. The extractor below
// caches it. One thread, the rank's.
class FeatureSource {
 public:
  virtual ~FeatureSource() = default;
  // What of the story and the settings the features depend on (part of the cache key).
  virtual std::string StoryKey(const data::Story& story) const = 0;
  // Whether the story can be computed at all (checked before the cache is read).
  virtual absl::Status CheckUsable(const data::Story& story) const = 0;
  virtual absl::StatusOr<std::vector<StoryFeatures>> Compute(const data::Story& story, const std::vector<int>& layers) = 0;
};

class FeatureExtractor {
 public:
  // A speech encoder's features of each story's audio (FeatureOptions above). `model_key`
  // identifies the weights (see ModelKey). `layers` are encoder layer indices (0 = the
  // transformer's input, k = after layer k).
  FeatureExtractor(model::Wav2Vec2Model encoder, std::string model_key, std::vector<int> layers,
                   FeatureOptions options);
  // Any other source (a text model's word features: eval/word_features.h), cached in `cache_dir`.
  FeatureExtractor(std::unique_ptr<FeatureSource> source, std::string model_key, std::vector<int> layers,
                   std::string cache_dir);

  // Makes sure the cache holds every requested layer of `story` (audio loaded), computing all
  // layers in one pass when any is missing. Errors name the story, or the cache directory when
  // it cannot be written.
  absl::Status Prepare(const data::Story& story);

  // One requested layer of `story`, read from the cache (computed first if it is not there, as
  // on a rank whose cache directory is not the disk another rank prepared it on). Callers hold
  // one layer of every story at a time, not every layer.
  absl::StatusOr<StoryFeatures> Get(const data::Story& story, int layer);

  int cache_hits() const { return hits_; }      // stories found complete in the cache
  int cache_misses() const { return misses_; }  // stories computed

 private:
  // The cache directory is set and the source can compute the story.
  absl::Status CheckUsable(const data::Story& story) const;
  std::string CachePath(const data::Story& story, int layer) const;
  std::optional<StoryFeatures> ReadCached(const data::Story& story, int layer) const;
  // Computes every layer and writes each to the cache.
  absl::StatusOr<std::vector<StoryFeatures>> Compute(const data::Story& story);

  std::unique_ptr<FeatureSource> source_;
  std::string model_key_;
  std::vector<int> layers_;
  std::string cache_dir_;
  int hits_ = 0;
  int misses_ = 0;
  bool cache_dir_made_ = false;  // CreatePrivateDirectory ran (Compute)
};

// A short hex key for a model's weights: a hash of the checkpoint file's bytes and `config`
// (a description of the architecture), or of `config` alone when `checkpoint` is empty.
absl::StatusOr<std::string> ModelKey(const std::string& checkpoint, const std::string& config);

// The default cache, per user: $XDG_CACHE_HOME/braintune/features, else
// $HOME/.cache/braintune/features (each only when absolute), else "" (never a shared path such
// as /tmp, where another user could plant or read files). Created 0700 where it is missing.
std::string DefaultCacheDir();

// Low-level features of a story for the removal control, one column per name, as values at
// the times where they occur: "letters" (Unicode letters, general category L) and "phonemes"
// (counts per word, at the word's middle), "word_rate" (1 per word), or a stored
// /stimuli/<story>/features name (its frames).
// LanczosResample takes them to response times. Errors name the story and the feature.
struct TimedValues {
  torch::Tensor times;   // [m] float64
  torch::Tensor values;  // [m, d] float64
};
absl::StatusOr<TimedValues> StimulusFeature(const data::Story& story, const std::string& name);

// The value of a per-word concept for every word of each story of `stories` (names in
// `dataset`), [words, k] float64 per story, for the erasure control
// (evaluation.erasure_concept): "letters" (Unicode letters per word) and "phonemes" (phonemes
// per word) as in StimulusFeature; "word_frequency": a stored
// /stimuli/<story>/features/word_frequency, else log10(1 + the count of the word, lower-cased,
// in all of `dataset`'s stories, counted once per call); any other name: the stored feature of
// that name, which must have one row per word. Errors name the story and the dataset path.
absl::StatusOr<std::map<std::string, torch::Tensor>> WordConcepts(const data::Dataset& dataset,
                                                                  const std::vector<std::string>& stories,
                                                                  const std::string& concept);

// A feature space the dataset stores (evaluation.models[].features), as a source of one layer
// (0) for the feature cache: the StimulusFeature columns of `names`, side by side, on the first
// name's times (the others Lanczos-resampled onto them when theirs differ: list a per-frame
// feature first to mix per-word counts in as rates). Errors name `model`, the story and the feature.
std::unique_ptr<FeatureSource> MakeStoredFeatureSource(std::string model, std::vector<std::string> names);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_FEATURES_H_

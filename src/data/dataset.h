// The braintune dataset format v1 (HDF5), design.md section 5: reading, checking, summarising.
// The synthetic brain that writes it is in synthetic.h.
// Plain C++ types only: no LibTorch, so the CLI can use this module.
#ifndef BRAINTUNE_DATA_DATASET_H_
#define BRAINTUNE_DATA_DATASET_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braintune::data {

// One row of /stimuli/<story>/words or /phonemes. Seconds from stimulus onset.
struct Interval {
  double onset = 0;
  double offset = 0;          // >= onset
  std::string text;
};

// /stimuli/<story>/features/<name> with its frame times /stimuli/<story>/features/<name>_times.
struct Feature {
  int64_t n_frames = 0;
  int64_t dim = 0;
  std::vector<float> values;  // row-major [n_frames, dim]; empty unless loaded
  std::vector<double> times;  // [n_frames], strictly increasing; empty unless loaded
};

// /stimuli/<story>
struct Story {
  std::string name;
  double sample_rate = 0;     // Hz, attribute of /stimuli/<story>/audio
  std::vector<float> audio;   // mono, [n_samples]; empty unless loaded
  int64_t n_samples = 0;      // audio length, known even when the audio is not loaded
  std::vector<Interval> words;     // optional, sorted by onset; empty when absent
  // Optional /stimuli/<story>/words/class: a category per word (e.g. the synthetic brain's
  // semantic class), for the word-meaning probe; empty when absent, else one per word, >= 0.
  std::vector<int32_t> word_classes;
  std::vector<Interval> phonemes;  // optional, sorted by onset; empty when absent
  std::map<std::string, Feature> features;  // optional, by name

  double seconds() const { return sample_rate > 0 ? n_samples / sample_rate : 0; }
};

// /participants/<pid>/runs/<story>/responses
struct Run {
  std::string story;
  int64_t n_times = 0;
  int64_t n_targets = 0;
  double tr = 0;              // seconds per sample (fMRI); 1/sample_rate for MEG
  double sample_rate = 0;     // samples per second, always 1/tr
  double t0 = 0;              // time of the first sample from stimulus onset, seconds
  std::vector<float> responses;  // row-major [n_times, n_targets]; empty unless loaded
};

// /participants/<pid>/repeats/<story>: separate presentations of one story, for the noise
// ceiling. Same timing and targets as /participants/<pid>/runs/<story>.
struct Repeats {
  int64_t n_repeats = 0;
  int64_t n_times = 0;
  int64_t n_targets = 0;
  std::vector<float> values;  // row-major [n_repeats, n_times, n_targets]; empty unless loaded
};

// /participants/<pid>
struct Participant {
  std::string id;
  std::string space;          // participants that share a space share targets
  int64_t n_targets = 0;
  std::vector<Run> runs;      // sorted by story name
  std::vector<float> noise_ceiling;  // optional, [n_targets]
  std::map<std::string, Repeats> repeats;  // optional, by story; timing as the story's run
  std::map<std::string, std::vector<int32_t>> rois;  // optional, name -> target indices
};

struct Dataset {
  std::string path;
  std::string name;
  std::string modality;       // "fmri" | "meg"
  std::vector<Story> stories;            // sorted by name
  std::vector<Participant> participants; // sorted by id

  // nullptr when absent.
  const Story* FindStory(const std::string& name) const;
  const Participant* FindParticipant(const std::string& id) const;
};

struct ReadOptions {
  // Participants whose responses (runs and repeats) are loaded; empty means all. The others
  // are still listed with their shapes (n_times, n_targets, tr, t0) but empty values.
  std::vector<std::string> load_responses_of;
  bool load_all_responses = true;  // when false and load_responses_of is empty, load none
  bool load_audio = true;
  // Feature values and times; when false only their shapes are listed. Words, phonemes,
  // ROIs and noise ceilings are small and always loaded.
  bool load_features = true;
};

// Reads and checks a dataset file. On error nothing is returned and the message names
// the file, the path inside it and what is wrong, e.g.
//   "data.h5: /participants/sub-01/runs/story_a/responses: expected float32, got int64".
// Values that are not loaded are not checked for NaN/Inf; ValidateDataset checks everything.
// Error codes: NotFound (no such file, not HDF5), DataLoss (HDF5 cannot open it: truncated or
// corrupt), InvalidArgument (the file breaks format v1), NotFound for an unknown participant
// in options.load_responses_of. Thread-compatible: HDF5 is serial, use one thread at a time.
absl::StatusOr<Dataset> ReadDataset(const std::string& path, const ReadOptions& options = {});

// One way in which a file breaks format v1. `path` is the object inside the file ("/" for the
// root, "" for the file as a whole).
struct Problem {
  std::string path;
  std::string message;
};

// "<file>: <path>: <message>", the form ReadDataset's errors take.
std::string FormatProblem(const std::string& file, const Problem& problem);

// Checks the whole file, values included, and returns every problem found (empty: valid),
// in file order. The same checks as ReadDataset, so ReadDataset fails exactly when this
// returns problems, with the first of them. Objects under a broken object are not checked
// (a run whose responses are int64 is not also checked for NaN). Loads one array at a time.
std::vector<Problem> ValidateDataset(const std::string& path);

struct ParticipantSummary {
  std::string id;
  std::string space;
  int64_t n_targets = 0;
  int stories = 0;          // runs
  int64_t samples = 0;      // sum of the runs' n_times
  bool has_noise_ceiling = false;
  std::vector<std::string> repeated_stories;  // stories under repeats/, sorted
  std::vector<std::string> rois;              // sorted
};

struct StorySummary {
  std::string name;
  double seconds = 0;        // audio duration
  double sample_rate = 0;    // of the audio
  int64_t words = 0;         // 0: no word timings
  int64_t phonemes = 0;      // 0: no phoneme timings
  std::vector<std::string> features;     // sorted
  std::vector<std::string> heard_by;     // participants with a run of it, sorted
  std::vector<std::string> repeated_by;  // participants with repeats of it, sorted
};

struct DatasetSummary {
  std::string path;
  std::string name;
  std::string modality;
  int stories = 0;
  double stimulus_hours = 0;  // total audio length
  int stories_with_words = 0;
  int stories_with_phonemes = 0;
  std::vector<std::string> feature_names;  // union over stories, sorted
  std::vector<ParticipantSummary> participants;  // sorted by id
  std::vector<StorySummary> story_list;          // sorted by name
};

// Metadata for `braintune dataset inspect`: reads shapes and attributes, not audio, responses
// or feature values, so it is fast on large files. Fails as ReadDataset does (but NaN/Inf in
// values that were not read go unnoticed: use ValidateDataset for a full check).
absl::StatusOr<DatasetSummary> SummarizeDataset(const std::string& path);

}  // namespace braintune::data

#endif  // BRAINTUNE_DATA_DATASET_H_

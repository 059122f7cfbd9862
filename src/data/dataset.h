// The braintune dataset format v1 (HDF5), design.md section 5: reading and the synthetic brain.
// Plain C++ types only: no LibTorch, so the CLI can use this module.
#ifndef BRAINTUNE_DATA_DATASET_H_
#define BRAINTUNE_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braintune::data {

// /stimuli/<story>
struct Story {
  std::string name;
  double sample_rate = 0;     // Hz, attribute of /stimuli/<story>/audio
  std::vector<float> audio;   // mono, [n_samples]
};

// /participants/<pid>/runs/<story>/responses
struct Run {
  std::string story;
  int64_t n_times = 0;
  int64_t n_targets = 0;
  double tr = 0;              // seconds per sample (fMRI); 1/sample_rate for MEG
  double t0 = 0;              // time of the first sample from stimulus onset, seconds
  std::vector<float> responses;  // row-major [n_times, n_targets]; empty unless loaded
};

// /participants/<pid>
struct Participant {
  std::string id;
  std::string space;          // participants that share a space share targets
  int64_t n_targets = 0;
  std::vector<Run> runs;      // sorted by story name
  std::vector<float> noise_ceiling;  // optional, [n_targets]
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
  // Participants whose responses are loaded; empty means all. The others are still
  // listed with their runs' shapes (n_times, n_targets, tr, t0) but empty responses.
  std::vector<std::string> load_responses_of;
  bool load_all_responses = true;  // when false and load_responses_of is empty, load none
  bool load_audio = true;
};

// Reads and checks a dataset file. On error nothing is returned and the message names
// the file, the path inside it and what is wrong, e.g.
//   "data.h5: /participants/sub-01/runs/story_a/responses: expected float32, got int64".
absl::StatusOr<Dataset> ReadDataset(const std::string& path, const ReadOptions& options = {});

// The synthetic brain used by the quickstart and the tests. Stimulus -> latent features ->
// hemodynamic response -> per-participant targets, with a known mapping (see dataset.cc).
struct SynthOptions {
  int participants = 4;
  int stories = 6;
  double story_seconds = 120;
  double sample_rate = 1600;    // audio Hz
  double tr = 2.0;              // seconds
  int targets = 32;             // per participant, one shared space
  double noise = 0.5;           // noise std relative to the signal std (participant 0; others vary)
  uint64_t seed = 0;
  std::string space = "synthetic";
  std::string name = "synthetic";
};

// Writes a complete dataset file (overwrites `path` atomically: temp file then rename).
absl::Status WriteSyntheticDataset(const std::string& path, const SynthOptions& options);

}  // namespace braintune::data

#endif  // BRAINTUNE_DATA_DATASET_H_

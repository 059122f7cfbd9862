// Writing the synthetic brain, a dataset file in format v1 (dataset.h reads it). Plain C++
// types only: no LibTorch, so the CLI can use this module.
#ifndef BRAINTUNE_DATA_SYNTHETIC_H_
#define BRAINTUNE_DATA_SYNTHETIC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace braintune::data {

// The synthetic brain used by the quickstart and the tests. Stimulus -> latent features ->
// hemodynamic (fMRI) or short (MEG) response -> per-participant targets, with a known mapping
// (see synthetic.cc). Two ROIs: "auditory" targets follow the acoustic latent
// (features/latent), "language" targets the slower semantic one (features/semantic).
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
  // "fmri": one sample per tr through a canonical HRF; "meg": response_rate samples per second
  // through a 0-300 ms exponential kernel (tr is then unused).
  std::string modality = "fmri";
  double response_rate = 100;     // Hz, MEG only
  int semantic_dims = 3;          // width of features/semantic
  double semantic_noise = 0.5;    // std of a word's deviation from its class's semantic vector
  double language_fraction = 0.5; // share of the targets in the "language" ROI; the rest auditory
  // Share of the variance of each participant's mixing weights that is its own (0: every
  // participant mixes the latents into its targets the same way; 1: no two alike).
  double participant_specificity = 0.1;
  // Extra noisy presentations of the test story under /participants/<pid>/repeats/; 0: none.
  int n_repeats = 2;
  int test_story_index = -1;      // the story that gets repeats; -1: the last
};

// Writes a complete dataset file (overwrites `path` atomically: temp file then rename).
// InvalidArgument for options out of range, before anything is written. Thread-compatible: HDF5 is
// serial, use one thread at a time.
absl::Status WriteSyntheticDataset(const std::string& path, const SynthOptions& options);

}  // namespace braintune::data

#endif  // BRAINTUNE_DATA_SYNTHETIC_H_

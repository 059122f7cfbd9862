// `braintune dataset import-lebel DIR`: converts the LeBel et al. 2023 "Moth Radio Hour" fMRI
// data (OpenNeuro ds003020, design.md section 4) into one braintune dataset file (section 5).
//
// Read from DIR:
//   derivative/preprocessed_data/<subject>/<story>.hf5   responses, key "data" or "resp",
//       float32 or float64, [n_rows, n_voxels]; or, for the test story only,
//       [n_repeats, n_rows, n_voxels] (see Repeats below)
//   derivative/TextGrids/<story>.TextGrid                 phone tier then word tier
//   derivative/respdict.json                              optional, {story: scan TR count}
//   stimulus audio <story>.wav, searched as described at LebelImportOptions::stimuli_dir
//
// Timing. The Huth-lab code (deep-fMRI-dataset, encoding/feature_spaces.py) simulates, for a
// story with N = respdict[story] scan TRs, the TR times i * TR - 10 s for i < N - 5 (the sound
// starts 10 s after the first TR; the last 5 TRs get no feature row), then keeps feature rows
// [5 + trim, N - 5 - trim) with trim = 5 and regresses them on the hf5 rows. So the hf5 arrays
// are already trimmed: they hold N - 20 rows and row j is scan TR j + 10. We keep every hf5 row
// and record where it sits: t0 = trs_dropped_at_start * tr - sound_delay (10 * 2.0045 - 10 =
// 10.045 s by default), so row j is at t0 + j * tr seconds from stimulus onset, the time the
// Huth-lab features for that row are computed at. A story whose hf5 instead has all N rows
// (an untrimmed export) is recognised through respdict and gets t0 = -sound_delay. Any other
// row count disagrees with respdict and is an error. Further trimming (e.g. of the first TRs
// after the sound starts) is left to the trainer, which sees t0.
// Note: Huth-lab's load_simulated_trfiles defaults to TR = 2.0, not the scanner's 2.0045; set
// `tr = 2.0` to reproduce their feature times exactly.
//
// Repeats. The test story (wheretheressmoke) was heard several times; we take its hf5 array to
// be 3-D [n_repeats, n_rows, n_voxels] when it holds the separate presentations. They are
// written to /participants/<pid>/repeats/<story> and their mean to runs/<story>/responses.
// A 2-D test-story array is an ordinary run (already averaged).
//
// Participants. Voxel counts differ between subjects (native cortical masks), and participants
// sharing a space must share targets, so each gets its own space "native-<subject>".
#ifndef BRAINTUNE_DATA_LEBEL_IMPORT_H_
#define BRAINTUNE_DATA_LEBEL_IMPORT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace braintune::data {

struct LebelImportOptions {
  // The ds003020 directory (the one holding derivative/).
  std::string root;

  // The dataset file to write. Written to "<out>.tmp" and renamed into place, so `out` is
  // either the complete new file or untouched; the temp file is removed on any error.
  std::string out;

  // Subject directories under derivative/preprocessed_data (e.g. "UTS01"), which become the
  // participant ids. Empty: every subdirectory, in name order.
  std::vector<std::string> subjects;

  // Stories to import. Empty: every <story>.hf5 found for the chosen subjects. A listed story
  // must have responses for at least one subject; a subject that did not hear it has no run.
  std::vector<std::string> stories;

  // Seconds per TR written to every run (attribute tr). 2.0045 is the scanner's.
  double tr = 2.0045;

  // Seconds from the first scan TR to the start of the sound.
  double sound_delay = 10.0;

  // Scan TRs that the preprocessed hf5 arrays lack at the start and at the end relative to
  // the respdict count (see Timing above: 5 + trim = 10 at the start, the 5 TRs without
  // features + trim 5 = 10 at the end).
  int trs_dropped_at_start = 10;
  int trs_dropped_at_end = 10;

  // Where <story>.wav is looked for. Empty: DIR/stimuli, DIR/derivative/stimuli,
  // DIR/derivative/stimulus, DIR/stimuli/wav, DIR/derivative/stimuli/wav, in that order, then
  // any <story>.wav (or .WAV) anywhere below DIR/stimuli and DIR/derivative (two such files
  // are an error: we cannot tell which one was played). Set: only <stimuli_dir>/<story>.wav.
  std::string stimuli_dir;

  // Where <story>.TextGrid is looked for. Empty: DIR/derivative/TextGrids.
  std::string textgrid_dir;

  // The story whose hf5 arrays may be 3-D (repeats). Empty: any story's may be.
  std::string test_story = "wheretheressmoke";

  // Root attribute "name" of the dataset.
  std::string name = "lebel2023";
};

// Reported after each unit of work, in order, from the calling thread.
struct ImportProgress {
  enum class Stage { kStimulus, kResponses };
  Stage stage = Stage::kStimulus;
  std::string subject;  // empty for kStimulus
  std::string story;
  int64_t done = 0;     // units finished, this one included
  int64_t total = 0;    // stories + (subject, story) runs; fixed for one import
};

// Imports DIR into options.out. Everything is checked before anything is written (files
// present, hf5 keys, shapes and types, respdict counts, voxel counts per subject), then each
// story's audio and alignments and each (subject, story) run are converted one at a time, so
// memory stays at about one hf5 array. Errors name the file and what is wrong, e.g.
//   "<DIR>/derivative/preprocessed_data/UTS01/story.hf5: no dataset 'data' or 'resp'"
//   "<DIR>/derivative/TextGrids/story.TextGrid:12: expected 'xmax = ', got 'xmux'"
// `progress` may be empty. Not thread-safe with other HDF5 users in the process (the serial
// HDF5 library).
absl::Status ImportLebel(const LebelImportOptions& options,
                         const std::function<void(const ImportProgress&)>& progress);

}  // namespace braintune::data

#endif  // BRAINTUNE_DATA_LEBEL_IMPORT_H_

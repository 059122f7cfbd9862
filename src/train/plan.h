// Torch-free pieces of the trainer's plan: which rank owns which participants, which stimulus
// windows exist, how audio windows are cut, and Pearson correlation.
#ifndef BRAINTUNE_TRAIN_PLAN_H_
#define BRAINTUNE_TRAIN_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/job_spec.h"
#include "data/dataset.h"

namespace braintune::train {

struct ParticipantLoad {
  std::string id;
  int64_t samples = 0;
};

// Assigns participants to `ranks` ranks balanced by number of samples (largest first onto the
// least loaded rank; ties to the lower rank), deterministically. Every rank gets at least one
// participant: more ranks than participants is an InvalidArgument error for now.
absl::StatusOr<std::vector<std::vector<std::string>>> AssignParticipants(std::vector<ParticipantLoad> loads,
                                                                         int ranks);

// One stimulus window: the audio that ends with TR `index` of `story`.
struct Window {
  int story = 0;       // index into Plan::stories
  int64_t index = 0;   // TR index into the story's response rows
};

// The story timing shared by every participant who heard it.
struct StoryTiming {
  std::string name;
  int64_t n_times = 0;
  double tr = 0;
  double t0 = 0;
  bool test = false;
};

struct Plan {
  std::vector<StoryTiming> stories;
  std::vector<Window> train_windows;  // after trimming, training stories only
  std::vector<Window> test_windows;   // after trimming, test stories only
  std::string test_story_names;       // comma separated
  int64_t window_samples = 0;         // audio samples per window
  double sample_rate = 0;
};

// Builds the plan from a dataset whose metadata is loaded (responses not needed). Errors name
// the file and the story when participants disagree on a story's timing or a story is unknown.
absl::StatusOr<Plan> MakePlan(const data::Dataset& dataset, const config::DataSpec& spec);

// Copies the audio of window `w` into out[0..plan.window_samples), zero-padded outside the story.
void CutWindow(const Plan& plan, const data::Story& story, const Window& w, float* out);

// Mean over targets of the Pearson correlation between predicted and actual columns of two
// row-major [rows, cols] matrices; constant columns count as r = 0.
double MeanPearson(const std::vector<float>& predicted, const std::vector<float>& actual, int64_t rows, int64_t cols);

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_PLAN_H_

// Torch-free pieces of the trainer's plan: which rank owns which participants, which stimulus
// windows exist and how audio windows are cut.
#ifndef BRAINTUNE_TRAIN_PLAN_H_
#define BRAINTUNE_TRAIN_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/job_spec.h"
#include "data/dataset.h"
#include "model/input_contract.h"

namespace braintune::train {

// Audio per sample for MEG when data.context_seconds is 0: its samples are milliseconds apart,
// so a number of samples (context_trs) would be a sliver of sound.
constexpr double kMegContextSeconds = 1.0;

struct ParticipantLoad {
  std::string id;
  int64_t samples = 0;
};

// Assigns participants to `ranks` ranks balanced by number of samples (largest first onto the
// least loaded rank; ties to the lower rank), deterministically. Every rank gets at least one
// participant: more ranks than participants is an InvalidArgument error for now.
absl::StatusOr<std::vector<std::vector<std::string>>> AssignParticipants(std::vector<ParticipantLoad> loads,
                                                                         int ranks);

// One unit of ownership: a participant's responses to one story.
struct Shard {
  std::string participant;
  int story = 0;         // index into Plan::stories
  int64_t samples = 0;   // rows of the run
  int64_t train_samples = 0;  // rows used for training (0 for a test story): what is balanced
};

// Assigns every run of `participants` to a rank, balancing training samples (test stories carry
// no training load). With at least as many participants as ranks, whole participants are
// assigned (AssignParticipants); with more ranks than participants, a participant's stories are
// split across ranks, largest first onto the least loaded rank (test shards, weightless, go
// where ranks have the fewest shards).
// Deterministic. InvalidArgument when there are fewer runs than ranks.
struct Plan;
absl::StatusOr<std::vector<std::vector<Shard>>> AssignShards(const data::Dataset& dataset, const Plan& plan,
                                                             const std::vector<std::string>& participants,
                                                             int ranks);

// The table rank 0 prints once shards are assigned, one line each, newline-terminated: the
// job's size ("braintune-train: <ranks> ranks, <participants> participants, <stories> stories
// (test: ...), <windows> training windows of <samples> samples" or, for a text model, "of <seconds> s of words"), then each rank's participants
// (name:story for each story of a participant split across ranks) and training samples.
std::string ShardingTable(const Plan& plan, const std::vector<std::vector<Shard>>& assignment, size_t participants);

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
  double recorded_rate = 0;  // Hz of /stimuli/<story>/audio in the dataset
  int64_t recorded_samples = 0;  // its length there
};

struct Plan {
  std::vector<StoryTiming> stories;
  std::vector<Window> train_windows;  // after trimming, training stories only
  std::vector<Window> test_windows;   // after trimming, test stories only
  std::vector<Window> validation_windows;  // the last data.validation_fraction of each training story
  std::string test_story_names;       // comma separated
  int64_t window_samples = 0;         // audio samples per window (0 for a text model)
  double window_seconds = 0;          // the stimulus each sample covers, ending with its TR
  bool text = false;                  // a text model: samples are words (text_sample.h), not audio
  double sample_rate = 0;             // the rate the model hears (model::HeardRate)
  model::InputContract input;         // how windows are prepared for the model
};

// Builds the plan from a dataset whose metadata is loaded (responses not needed), for a model
// with the input contract `input`: windows are cut at the rate it hears (stories recorded at
// another rate are resampled when data.resample allows; model::HeardRate). Errors name the file
// and the story when participants disagree on a story's timing, a story is unknown, or stories
// a model without a fixed rate hears differ in rate.
// A text model's plan (`text`) has no audio: its stories need no audio, only words.
absl::StatusOr<Plan> MakePlan(const data::Dataset& dataset, const config::DataSpec& spec,
                              const model::InputContract& input, bool text = false);

// Lines rank 0 prints about what the model hears: the contract, and each story resampled.
std::string InputTable(const Plan& plan);

// The global batch of `step` (1-based): consecutive windows of a stream of epochs, each epoch a
// permutation of plan.train_windows drawn from `seed` and the epoch number. Any step can be
// computed directly, so a run resumes mid-epoch from its step alone.
std::vector<Window> GlobalBatch(const Plan& plan, uint64_t seed, int batch_size, int64_t step);

// The test story when data.test_stories is empty: the last, by name, of the stories that
// `participants` (empty: every participant) heard; empty when they heard none. The trainer and
// the evaluator both use it, so an evaluation holds out what the training held out.
std::string DefaultTestStory(const data::Dataset& ds, const std::vector<std::string>& participants);

// Index of story `name` in plan.stories, or -1 when the plan does not use it.
int StoryIndex(const Plan& plan, const std::string& name);

// First audio sample of window `w` (may be negative: windows reach before the story).
int64_t WindowStart(const Plan& plan, const Window& w);

// The part of window `w` inside its story's audio: [begin, end) within [0, plan.window_samples).
// Samples outside it are padding.
struct WindowSpan {
  int64_t begin = 0, end = 0;
  bool padded(int64_t window_samples) const { return begin > 0 || end < window_samples; }
};
// Whether story `s` is heard at another rate than it was recorded at.
bool NeedsResampling(const Plan& plan, int s);
WindowSpan ValidSpan(const Plan& plan, const Window& w);

// Copies the audio of window `w` (the story's audio at plan.sample_rate) into
// out[0..plan.window_samples), zero outside the story; model::PrepareWindow with ValidSpan then
// prepares it as plan.input says.
void CutWindow(const Plan& plan, const std::vector<float>& audio, const Window& w, float* out);

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_PLAN_H_

#include "train/loader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "data/dataset.h"
#include "data/synthetic.h"
#include "testing/process.h"

namespace braintune::train {
namespace {

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data::SynthOptions synth;
    synth.participants = 3;
    synth.stories = 4;
    synth.story_seconds = 40;
    synth.targets = 5;
    path_ = dir_.File("d.h5");
    ASSERT_TRUE(data::WriteSyntheticDataset(path_, synth).ok());
    auto ds = data::ReadDataset(path_);
    ASSERT_TRUE(ds.ok()) << ds.status();
    dataset_ = *std::move(ds);
    spec_.context_trs = 3;
    spec_.trim_start = 2;
    spec_.trim_end = 1;
    auto plan = MakePlan(dataset_, spec_, model::NoContract());
    ASSERT_TRUE(plan.ok()) << plan.status();
    plan_ = *plan;
    for (const auto& p : dataset_.participants) ids_.push_back(p.id);
  }

  std::vector<OwnedShard> Owned(const std::vector<Shard>& shards) {
    std::vector<OwnedShard> out;
    for (const auto& s : shards) out.push_back({s, "synthetic", 5, {}, {}});
    return out;
  }

  testing::TempDir dir_;
  std::string path_;
  data::Dataset dataset_;
  config::DataSpec spec_;
  Plan plan_;
  std::vector<std::string> ids_;
};

TEST_F(LoaderTest, WholeParticipantsWhenThereAreEnough) {
  auto a = AssignShards(dataset_, plan_, ids_, 2);
  ASSERT_TRUE(a.ok()) << a.status();
  std::set<std::string> rank0, rank1;
  for (const auto& s : (*a)[0]) rank0.insert(s.participant);
  for (const auto& s : (*a)[1]) rank1.insert(s.participant);
  EXPECT_EQ(rank0.size() + rank1.size(), 3u) << "no participant is split between ranks";
  EXPECT_EQ((*a)[0].size() + (*a)[1].size(), 12u);
}

TEST_F(LoaderTest, MoreRanksThanParticipantsSplitsStoriesEvenly) {
  auto a = AssignShards(dataset_, plan_, ids_, 5);
  ASSERT_TRUE(a.ok()) << a.status();
  std::set<std::pair<std::string, int>> seen;
  int64_t lo = INT64_MAX, hi = 0;
  for (const auto& rank : *a) {
    ASSERT_FALSE(rank.empty()) << "every rank owns something";
    int64_t load = 0;
    for (const auto& s : rank) {
      EXPECT_TRUE(seen.insert({s.participant, s.story}).second) << "a run is owned twice";
      load += s.train_samples;
    }
    lo = std::min(lo, load);
    hi = std::max(hi, load);
  }
  EXPECT_EQ(seen.size(), 12u) << "every run is owned";
  EXPECT_LE(hi - lo, 20) << "training samples balanced within one run";  // a run is 20 TRs
  EXPECT_FALSE(AssignShards(dataset_, plan_, ids_, 13).ok()) << "more ranks than runs";
}

TEST_F(LoaderTest, EpochsArePermutationsAndBatchesAreAFunctionOfTheStep) {
  const int n = static_cast<int>(plan_.train_windows.size());
  const int batch = 7;
  std::multiset<std::pair<int, int64_t>> epoch, all;
  for (const auto& w : GlobalBatch(plan_, 7, n, 1)) epoch.insert({w.story, w.index});
  for (const auto& w : plan_.train_windows) all.insert({w.story, w.index});
  EXPECT_EQ(epoch, all) << "one epoch visits every training window once";
  auto a = GlobalBatch(plan_, 7, batch, 5), b = GlobalBatch(plan_, 7, batch, 5), c = GlobalBatch(plan_, 8, batch, 5);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].index, b[i].index);
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) differs |= a[i].index != c[i].index || a[i].story != c[i].story;
  EXPECT_TRUE(differs) << "another seed, another order";
}

TEST_F(LoaderTest, ResumingMidEpochGivesTheSameBatches) {
  auto shards = AssignShards(dataset_, plan_, ids_, 1);
  ASSERT_TRUE(shards.ok());
  LoaderOptions o;
  o.seed = 3;
  o.batch_size = 7;
  auto from_start = Loader::Start(path_, plan_, Owned((*shards)[0]), o, 1);
  auto resumed = Loader::Start(path_, plan_, Owned((*shards)[0]), o, 6);
  ASSERT_TRUE(from_start.ok() && resumed.ok());
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE((*from_start)->Next().ok());
  for (int i = 0; i < 3; ++i) {
    auto x = (*from_start)->Next(), y = (*resumed)->Next();
    ASSERT_TRUE(x.ok() && y.ok());
    EXPECT_EQ(x->step, y->step);
    EXPECT_EQ(x->audio, y->audio);
    ASSERT_EQ(x->targets.size(), y->targets.size());
    for (size_t t = 0; t < x->targets.size(); ++t) EXPECT_EQ(x->targets[t].values, y->targets[t].values);
  }
}

TEST_F(LoaderTest, AudioAndZScoredTargetsMatchTheFullyLoadedData) {
  auto shards = AssignShards(dataset_, plan_, ids_, 1);
  ASSERT_TRUE(shards.ok());
  auto loader = Loader::Start(path_, plan_, Owned((*shards)[0]), {}, 1);
  ASSERT_TRUE(loader.ok()) << loader.status();
  const Window w = plan_.train_windows[5];
  auto batch = (*loader)->Read({w});
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->windows.size(), 1u);
  std::vector<float> expected(plan_.window_samples);
  CutWindow(plan_, dataset_.FindStory(plan_.stories[w.story].name)->audio, w, expected.data());
  EXPECT_EQ(batch->audio, expected);
  ASSERT_EQ(batch->targets.size(), 3u) << "every participant heard the story";
  for (const auto& t : batch->targets) {
    const OwnedShard& owned = (*loader)->shards()[t.shard];
    const data::Participant* p = dataset_.FindParticipant(owned.shard.participant);
    const data::Run* run = nullptr;
    for (const auto& r : p->runs) {
      if (r.story == plan_.stories[w.story].name) run = &r;
    }
    ASSERT_NE(run, nullptr);
    for (int64_t c = 0; c < run->n_targets; ++c) {
      double mean = 0, sq = 0;
      for (int64_t r = 0; r < run->n_times; ++r) mean += run->responses[r * run->n_targets + c];
      mean /= run->n_times;
      for (int64_t r = 0; r < run->n_times; ++r) sq += std::pow(run->responses[r * run->n_targets + c] - mean, 2);
      double z = (run->responses[w.index * run->n_targets + c] - mean) / std::sqrt(sq / run->n_times);
      EXPECT_NEAR(t.values[c], z, 1e-4);
    }
  }
  EXPECT_GT((*loader)->bytes_read(), 0);
}

TEST_F(LoaderTest, MissingFileIsAClearError) {
  auto loader = Loader::Start(dir_.File("nope.h5"), plan_, {}, {}, 1);
  ASSERT_FALSE(loader.ok());
  EXPECT_NE(std::string(loader.status().message()).find("nope.h5"), std::string::npos);
}

// The samples of a text file, one per line (the Python reference's output).
std::vector<double> ReadNumbers(const std::string& path) {
  std::ifstream in(path);
  std::vector<double> out;
  for (double v; in >> v;) out.push_back(v);
  return out;
}

// A sine's frequency (rising zero crossings, interpolated) and amplitude (from its RMS).
struct Tone {
  double hz = 0, amplitude = 0;
};
template <typename T>
Tone Measure(const std::vector<T>& x, double rate) {
  std::vector<double> crossings;
  double sq = 0;
  for (size_t i = 0; i + 1 < x.size(); ++i) {
    sq += static_cast<double>(x[i]) * x[i];
    if (x[i] < 0 && x[i + 1] >= 0) crossings.push_back(i + x[i] / (static_cast<double>(x[i]) - x[i + 1]));
  }
  Tone t;
  if (crossings.size() > 1) t.hz = (crossings.size() - 1) * rate / (crossings.back() - crossings.front());
  t.amplitude = std::sqrt(2 * sq / static_cast<double>(x.size() - 1));
  return t;
}

// The Python reference's dataset of 1 kHz tones at 44.1 and 22.05 kHz, with SciPy's 16 kHz
// versions beside it (tests/reference/input_contract_reference.py).
void WriteTones(const testing::TempDir& dir, const std::string& path) {
  auto made = testing::RunCommand(std::string("/usr/bin/python3 ") + BRAINTUNE_SOURCE_DIR +
                                  "/tests/reference/input_contract_reference.py tones " + path + " " + dir.path());
  ASSERT_EQ(made.exit_code, 0) << made.output;
}

// Issue 23: a 1 kHz tone recorded at 44.1 kHz and at 22.05 kHz reaches a 16 kHz model as the
// same 16 kHz tone through the trainer's loader: frequency and amplitude within 1%, and every
// sample within 1% of the amplitude of an independent resampling (SciPy's resample_poly).
TEST(LoaderResamplingTest, ToneRecordedAt44And22kHzReachesA16kHzModelAsThe16kHzTone) {
  testing::TempDir dir;
  const std::string path = dir.File("tones.h5");
  ASSERT_NO_FATAL_FAILURE(WriteTones(dir, path));
  data::ReadOptions meta;
  meta.load_all_responses = false;
  meta.load_audio = false;
  auto ds = data::ReadDataset(path, meta);
  ASSERT_TRUE(ds.ok()) << ds.status();
  config::DataSpec spec;
  spec.context_trs = 1;
  spec.trim_start = 0;
  spec.trim_end = 0;
  spec.validation_fraction = 0;
  spec.test_stories = {"tone22"};
  model::InputContract sixteen = model::NoContract();
  sixteen.sampling_rate = 16000;
  sixteen.source = "a 16 kHz model";
  auto plan = MakePlan(*ds, spec, sixteen);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->sample_rate, 16000);
  EXPECT_EQ(plan->window_samples, 32000);  // one TR of 2 s at the model's rate
  const std::string table = InputTable(*plan);
  EXPECT_NE(table.find("resampling tone44 from 44100 Hz to 16000 Hz"), std::string::npos) << table;
  EXPECT_NE(table.find("resampling tone22 from 22050 Hz to 16000 Hz"), std::string::npos) << table;

  auto shards = AssignShards(*ds, *plan, {"p"}, 1);
  ASSERT_TRUE(shards.ok()) << shards.status();
  std::vector<OwnedShard> owned;
  for (const Shard& s : (*shards)[0]) owned.push_back({s, "native", 3, {}, {}});
  auto loader = Loader::Start(path, *plan, owned, {}, 1);
  ASSERT_TRUE(loader.ok()) << loader.status();
  for (const std::string story : {"tone44", "tone22"}) {
    SCOPED_TRACE(story);
    const Window w{StoryIndex(*plan, story), 2};  // TR 2: 4 s .. 6 s
    auto batch = (*loader)->Read({w});
    ASSERT_TRUE(batch.ok()) << batch.status();
    ASSERT_EQ(batch->audio.size(), 32000u);
    const std::vector<double> scipy = ReadNumbers(dir.File(story + ".txt"));
    ASSERT_EQ(scipy.size(), 160000u);
    const std::vector<double> expected(scipy.begin() + 64000, scipy.begin() + 96000);
    double worst = 0;
    for (size_t k = 0; k < expected.size(); ++k) worst = std::max(worst, std::abs(batch->audio[k] - expected[k]));
    EXPECT_LT(worst, 0.005) << "1% of the amplitude";
    const Tone heard = Measure(batch->audio, 16000), reference = Measure(expected, 16000);
    EXPECT_NEAR(heard.hz, 1000, 10);
    EXPECT_NEAR(heard.amplitude, 0.5, 0.005);
    EXPECT_NEAR(heard.hz, reference.hz, 0.01 * reference.hz);
    EXPECT_NEAR(heard.amplitude, reference.amplitude, 0.01 * reference.amplitude);
  }
  // Without resampling, the 22.05 kHz tone would be heard at 1000 * 16000 / 22050 = 726 Hz:
  // never silently. data.resample: false makes the mismatch an error naming both rates.
  spec.resample = false;
  auto refused = MakePlan(*ds, spec, sixteen);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("tone22/audio: recorded at 22050 Hz, but the model hears 16000 Hz"), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("data.resample"), std::string::npos) << refused.status();
}

// Stories at different rates for a model without a rate of its own: an error, not a guess.
TEST(LoaderResamplingTest, StoriesAtTwoRatesNeedAModelRate) {
  testing::TempDir dir;
  const std::string path = dir.File("tones.h5");
  ASSERT_NO_FATAL_FAILURE(WriteTones(dir, path));
  auto ds = data::ReadDataset(path);
  ASSERT_TRUE(ds.ok()) << ds.status();
  config::DataSpec spec;
  spec.trim_start = 0;
  spec.trim_end = 0;
  auto plan = MakePlan(*ds, spec, model::NoContract());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("has no rate of its own"), std::string::npos) << plan.status();
}

}  // namespace
}  // namespace braintune::train

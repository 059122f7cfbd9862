#include "data/dataset.h"
#include "data/synthetic.h"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "data/hdf5_util.h"
#include "data/hdf5_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace braintune::data {
namespace {

using internal::Handle;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("braintune_data_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// Removes this process's temp files once all tests ran.
class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(TempPath("x")).parent_path(), ec);
  }
};
::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

// Open HDF5 ids of any kind in any file, in this process.
ssize_t OpenHdf5Objects() { return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); }

SynthOptions SmallOptions() {
  SynthOptions o;
  o.participants = 3;
  o.stories = 2;
  o.story_seconds = 40;
  o.targets = 8;
  o.seed = 7;
  return o;
}

Dataset WriteAndRead(const std::string& path, const SynthOptions& options,
                     const ReadOptions& read_options = {}) {
  const absl::Status written = WriteSyntheticDataset(path, options);
  EXPECT_TRUE(written.ok()) << written;
  absl::StatusOr<Dataset> dataset = ReadDataset(path, read_options);
  EXPECT_TRUE(dataset.ok()) << dataset.status();
  return dataset.ok() ? *std::move(dataset) : Dataset{};
}

TEST(SyntheticDatasetTest, ReadsBackWithTheRequestedShape) {
  const std::string path = TempPath("synth.h5");
  const Dataset d = WriteAndRead(path, SmallOptions());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(OpenHdf5Objects(), 0);
  EXPECT_EQ(d.name, "synthetic");
  EXPECT_EQ(d.modality, "fmri");
  ASSERT_EQ(d.stories.size(), 2u);
  EXPECT_EQ(d.stories[0].name, "story_00");
  EXPECT_EQ(d.stories[1].name, "story_01");
  for (const Story& s : d.stories) {
    EXPECT_EQ(s.sample_rate, 1600);
    EXPECT_EQ(s.audio.size(), 40u * 1600u);
    EXPECT_GT(*std::max_element(s.audio.begin(), s.audio.end()), 0.3f);  // words are audible
  }
  ASSERT_EQ(d.participants.size(), 3u);
  float previous_ceiling = 1;
  for (int p = 0; p < 3; ++p) {
    const Participant& participant = d.participants[p];
    EXPECT_EQ(participant.id, "sub-0" + std::to_string(p + 1));
    EXPECT_EQ(participant.space, "synthetic");
    EXPECT_EQ(participant.n_targets, 8);
    ASSERT_EQ(participant.runs.size(), 2u);
    for (const data::Run& run : participant.runs) {
      EXPECT_EQ(run.n_times, 20);
      EXPECT_EQ(run.n_targets, 8);
      EXPECT_EQ(run.tr, 2.0);
      EXPECT_EQ(run.t0, 0.0);
      ASSERT_EQ(run.responses.size(), 20u * 8u);
      const auto [lo, hi] = std::minmax_element(run.responses.begin(), run.responses.end());
      EXPECT_LT(*lo, *hi);
    }
    ASSERT_EQ(participant.noise_ceiling.size(), 8u);
    for (float c : participant.noise_ceiling) {
      EXPECT_GT(c, 0);
      EXPECT_LT(c, 1);
    }
    // Later participants are noisier by construction.
    EXPECT_LT(participant.noise_ceiling[0], previous_ceiling);
    previous_ceiling = participant.noise_ceiling[0];
  }
  ASSERT_NE(d.FindStory("story_01"), nullptr);
  EXPECT_EQ(d.FindStory("story_01")->name, "story_01");
  EXPECT_EQ(d.FindStory("story_02"), nullptr);
  ASSERT_NE(d.FindParticipant("sub-02"), nullptr);
  EXPECT_EQ(d.FindParticipant("sub-02")->id, "sub-02");
  EXPECT_EQ(d.FindParticipant("sub-04"), nullptr);
}

// Least-squares fit of y on the columns of x (plus an intercept); returns corr(fit, y).
double FitCorrelation(const std::vector<std::vector<double>>& x, const std::vector<double>& y) {
  const size_t n = y.size(), k = x.size() + 1;
  auto column = [&](size_t j, size_t i) { return j == 0 ? 1.0 : x[j - 1][i]; };
  std::vector<std::vector<double>> a(k, std::vector<double>(k + 1, 0.0));  // [X'X | X'y]
  for (size_t i = 0; i < n; ++i) {
    for (size_t r = 0; r < k; ++r) {
      for (size_t c = 0; c < k; ++c) a[r][c] += column(r, i) * column(c, i);
      a[r][k] += column(r, i) * y[i];
    }
  }
  for (size_t c = 0; c < k; ++c) {  // Gauss-Jordan with partial pivoting
    size_t pivot = c;
    for (size_t r = c + 1; r < k; ++r) {
      if (std::abs(a[r][c]) > std::abs(a[pivot][c])) pivot = r;
    }
    std::swap(a[c], a[pivot]);
    for (size_t r = 0; r < k; ++r) {
      if (r == c) continue;
      const double f = a[r][c] / a[c][c];
      for (size_t j = c; j <= k; ++j) a[r][j] -= f * a[c][j];
    }
  }
  std::vector<double> fit(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < k; ++j) fit[i] += a[j][k] / a[j][j] * column(j, i);
  }
  double mf = 0, my = 0;
  for (size_t i = 0; i < n; ++i) mf += fit[i] / n, my += y[i] / n;
  double sff = 0, syy = 0, sfy = 0;
  for (size_t i = 0; i < n; ++i) {
    sff += (fit[i] - mf) * (fit[i] - mf);
    syy += (y[i] - my) * (y[i] - my);
    sfy += (fit[i] - mf) * (y[i] - my);
  }
  return sfy / std::sqrt(sff * syy);
}

// How well the named stored features of each story, put through the documented HRF (tr = 2),
// explain a participant's responses: the mean over `targets` of the correlation of a least-squares
// fit. `reverse` time-reverses the features: same values, no alignment. The first TRs of each
// story are left out (as the trainer trims them): the response to the sound's onset is there
// whatever the alignment.
constexpr int64_t kTrim = 5;
double MeanRecovery(const Dataset& d, const std::vector<std::string>& features,
                    const std::vector<int32_t>& targets, bool reverse, int participant = 0) {
  std::vector<double> hrf;
  double hrf_sum = 0;
  for (int l = 0; l < 5; ++l) {
    const double t = l * 2.0 + 1.0;  // tr = 2
    auto gamma = [t](double shape) {
      return std::exp((shape - 1) * std::log(t) - t - std::lgamma(shape));
    };
    hrf.push_back(gamma(6) - gamma(16) / 6);
    hrf_sum += hrf.back();
  }
  const Participant& p = d.participants[participant];
  std::vector<std::vector<double>> x;
  std::vector<std::vector<double>> y(targets.size());
  for (const data::Run& run : p.runs) {
    const Story* story = d.FindStory(run.story);
    size_t column = 0;
    for (const std::string& name : features) {
      const Feature& f = story->features.at(name);
      EXPECT_EQ(f.n_frames, run.n_times);
      for (int64_t k = 0; k < f.dim; ++k, ++column) {
        if (column == x.size()) x.emplace_back();
        auto at = [&](int64_t i) { return f.values[(reverse ? f.n_frames - 1 - i : i) * f.dim + k]; };
        for (int64_t i = kTrim; i < run.n_times; ++i) {
          double v = 0;
          for (int l = 0; l < 5 && l <= i; ++l) v += hrf[l] / hrf_sum * at(i - l);
          x[column].push_back(v);
        }
      }
    }
    for (int64_t i = kTrim; i < run.n_times; ++i) {
      for (size_t t = 0; t < targets.size(); ++t) {
        y[t].push_back(run.responses[i * p.n_targets + targets[t]]);
      }
    }
  }
  double sum = 0;
  for (const auto& target : y) sum += FitCorrelation(x, target);
  return sum / y.size();
}

const std::vector<std::string> kAcoustic = {"envelope", "phoneme_rate", "word_rate"};
const std::vector<std::string> kLatents = {"envelope", "phoneme_rate", "word_rate", "semantic"};

std::vector<int32_t> AllTargets(const Participant& p) {
  std::vector<int32_t> all(p.n_targets);
  for (int32_t v = 0; v < p.n_targets; ++v) all[v] = v;
  return all;
}

TEST(SyntheticDatasetTest, ResponsesFollowTheStoredLatents) {
  const std::string path = TempPath("recovery.h5");
  SynthOptions options = SmallOptions();
  options.participants = 1;
  options.story_seconds = 120;  // 120 TRs in all: enough that a wrong model fits poorly
  const Dataset d = WriteAndRead(path, options);
  ASSERT_EQ(d.participants.size(), 1u);
  ASSERT_EQ(d.participants[0].noise_ceiling.size(), 8u);
  const double ceiling = d.participants[0].noise_ceiling[0];
  EXPECT_NEAR(ceiling, 1 / std::sqrt(1 + 0.5 * 0.5), 1e-6);
  // The true model reaches the noise ceiling (in-sample, so a little above); the same latents
  // without their alignment do not come close.
  const std::vector<int32_t> all = AllTargets(d.participants[0]);
  EXPECT_NEAR(MeanRecovery(d, kLatents, all, /*reverse=*/false), ceiling, 0.05);
  EXPECT_LT(MeanRecovery(d, kLatents, all, /*reverse=*/true), 0.6);
}

// The two ROIs follow different latents, which is what lets the evaluator's per-ROI scores and
// the feature-removal control tell them apart.
TEST(SyntheticDatasetTest, EachRoiFollowsItsOwnLatent) {
  SynthOptions options = SmallOptions();
  options.participants = 1;
  options.story_seconds = 240;
  options.targets = 12;
  options.noise = 0.2;
  const Dataset d = WriteAndRead(TempPath("rois.h5"), options);
  ASSERT_EQ(d.participants.size(), 1u);
  const Participant& p = d.participants[0];
  ASSERT_EQ(p.rois.size(), 2u);
  const std::vector<int32_t>& auditory = p.rois.at("auditory");
  const std::vector<int32_t>& language = p.rois.at("language");
  EXPECT_EQ(auditory, (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(language, (std::vector<int32_t>{6, 7, 8, 9, 10, 11}));
  const double auditory_acoustic = MeanRecovery(d, kAcoustic, auditory, false);
  const double auditory_phonemes = MeanRecovery(d, {"phoneme_rate"}, auditory, false);
  const double auditory_semantic = MeanRecovery(d, {"semantic"}, auditory, false);
  const double language_acoustic = MeanRecovery(d, kAcoustic, language, false);
  const double language_semantic = MeanRecovery(d, {"semantic"}, language, false);
  std::cout << "auditory: acoustic " << auditory_acoustic << " phoneme rate " << auditory_phonemes
            << " semantic " << auditory_semantic << "; language: acoustic " << language_acoustic
            << " semantic " << language_semantic << "\n";
  EXPECT_GT(auditory_acoustic, 0.85);
  EXPECT_GT(language_semantic, 0.85);
  // The auditory ROI follows the phoneme rate: that one feature explains much of it (0.61-0.82
  // over seeds 1, 2, 3 and 7 of this test), far more than meaning does.
  EXPECT_GT(auditory_phonemes, 0.55);
  EXPECT_GT(auditory_phonemes, auditory_semantic + 0.2);
  EXPECT_GT(language_semantic, language_acoustic + 0.1);
}

// Every participant mixes the same latents into its targets, but each its own way: the true
// features explain each participant to its ceiling, while the same target of two participants
// is not the same mixture (so a shared head is a compromise, and per-participant heads can win).
TEST(SyntheticDatasetTest, ParticipantsMixTheSharedLatentsTheirOwnWay) {
  SynthOptions options = SmallOptions();
  options.participants = 2;
  options.story_seconds = 120;
  options.noise = 0;
  auto between_participants = [](const Dataset& d) {
    const data::Run& a = d.participants[0].runs[0];
    const data::Run& b = d.participants[1].runs[0];
    double sum = 0;
    for (int64_t v = 0; v < a.n_targets; ++v) {
      std::vector<double> x, y;
      for (int64_t i = 0; i < a.n_times; ++i) {
        x.push_back(a.responses[i * a.n_targets + v]);
        y.push_back(b.responses[i * a.n_targets + v]);
      }
      sum += FitCorrelation({x}, y);
    }
    return sum / a.n_targets;
  };
  options.participant_specificity = 0;
  EXPECT_NEAR(between_participants(WriteAndRead(TempPath("alike.h5"), options)), 1.0, 1e-4);
  options.participant_specificity = 0.25;
  const Dataset d = WriteAndRead(TempPath("own.h5"), options);
  const double alike = between_participants(d);
  EXPECT_GT(alike, 0.3);
  EXPECT_LT(alike, 0.95);
  for (int p = 0; p < 2; ++p) {
    EXPECT_GT(MeanRecovery(d, kLatents, AllTargets(d.participants[p]), false, p), 0.99) << p;
  }
  options.participant_specificity = 1.5;
  EXPECT_THAT(WriteSyntheticDataset(TempPath("bad.h5"), options).message(),
              ::testing::HasSubstr("participant_specificity must be in [0, 1]"));
}

TEST(SyntheticDatasetTest, WritesAnnotationsSemanticFeaturesAndRepeats) {
  SynthOptions options = SmallOptions();
  options.n_repeats = 3;
  const Dataset d = WriteAndRead(TempPath("annotations.h5"), options);
  EXPECT_TRUE(ValidateDataset(TempPath("annotations.h5")).empty());
  ASSERT_EQ(d.stories.size(), 2u);
  for (const Story& s : d.stories) {
    ASSERT_GT(s.words.size(), 50u) << s.name;  // 40 s of speech
    ASSERT_GE(s.phonemes.size(), 2 * s.words.size());
    size_t phoneme = 0;
    for (const Interval& w : s.words) {
      // Every word is tiled by its phonemes, and spelling tracks pronunciation: 0-2 letters
      // more than phonemes (the word-length confound).
      int n = 0;
      EXPECT_NEAR(s.phonemes[phoneme].onset, w.onset, 1e-9);
      for (; phoneme < s.phonemes.size() && s.phonemes[phoneme].offset <= w.offset + 1e-9;
           ++phoneme, ++n) {
        EXPECT_THAT(s.phonemes[phoneme].text, ::testing::MatchesRegex("[A-Z]{1,2}"));
      }
      EXPECT_NEAR(s.phonemes[phoneme - 1].offset, w.offset, 1e-9);
      EXPECT_GE(static_cast<int>(w.text.size()), n);
      EXPECT_LE(static_cast<int>(w.text.size()), n + 2);
    }
    ASSERT_EQ(s.features.count("semantic"), 1u);
    const Feature& semantic = s.features.at("semantic");
    EXPECT_EQ(semantic.n_frames, 20);
    EXPECT_EQ(semantic.dim, 3);
    EXPECT_EQ(semantic.times[1] - semantic.times[0], 2.0);
  }
  for (const Participant& p : d.participants) {
    ASSERT_EQ(p.repeats.size(), 1u) << p.id;
    const Repeats& r = p.repeats.at("story_01");  // the last story is the test story
    EXPECT_EQ(r.n_repeats, 3);
    EXPECT_EQ(r.n_times, 20);
    EXPECT_EQ(r.n_targets, 8);
    ASSERT_EQ(r.values.size(), 3u * 20 * 8);
    // Independent presentations of one signal: correlated, never identical.
    std::vector<double> a(r.values.begin(), r.values.begin() + 160);
    std::vector<double> b(r.values.begin() + 160, r.values.begin() + 320);
    EXPECT_GT(FitCorrelation({a}, b), 0.5);
    EXPECT_NE(a, b);
  }

  options.n_repeats = 0;
  options.test_story_index = 0;
  const Dataset none = WriteAndRead(TempPath("no_repeats.h5"), options);
  EXPECT_TRUE(none.participants[0].repeats.empty());
}

// The magnitude spectrum of audio[first, last) at 64 frequencies up to the Nyquist rate, to unit
// length.
std::vector<double> Spectrum(const std::vector<float>& audio, int64_t first, int64_t last, double rate) {
  std::vector<double> m(64, 0.0);
  double norm = 0;
  for (int k = 0; k < 64; ++k) {
    const double f = (k + 0.5) * rate / 128;
    double re = 0, im = 0;
    for (int64_t i = first; i < last; ++i) {
      re += audio[i] * std::cos(2 * M_PI * f * i / rate);
      im += audio[i] * std::sin(2 * M_PI * f * i / rate);
    }
    m[k] = std::hypot(re, im);
    norm += m[k] * m[k];
  }
  for (double& v : m) v /= std::sqrt(norm);
  return m;
}

// What a phoneme recogniser needs and what the word-meaning probe relies on: each phoneme sounds
// different (a nearest-centroid classifier of its spectrum, fitted on one story, names the
// phonemes of another), and a word's class is a property of the word (its text), not of how the
// word sounds.
TEST(SyntheticDatasetTest, PhonemesAreAudibleAndMeaningIsInTheWord) {
  SynthOptions options = SmallOptions();
  options.story_seconds = 60;
  const Dataset d = WriteAndRead(TempPath("lexicon.h5"), options);
  ASSERT_EQ(d.stories.size(), 2u);
  std::map<std::string, std::vector<double>> centroid;
  const Story& fit = d.stories[0];
  for (const Interval& p : fit.phonemes) {
    const auto x = Spectrum(fit.audio, std::llround(p.onset * fit.sample_rate), std::llround(p.offset * fit.sample_rate),
                            fit.sample_rate);
    auto& c = centroid[p.text];
    c.resize(x.size(), 0.0);
    for (size_t k = 0; k < x.size(); ++k) c[k] += x[k];
  }
  EXPECT_GE(centroid.size(), 15u);  // most of the 19 phonemes in a minute of speech
  const Story& test = d.stories[1];
  int correct = 0;
  for (const Interval& p : test.phonemes) {
    const auto x = Spectrum(test.audio, std::llround(p.onset * test.sample_rate), std::llround(p.offset * test.sample_rate),
                            test.sample_rate);
    std::string best;
    double best_score = -1;
    for (const auto& [label, c] : centroid) {
      double dot = 0, norm = 0;
      for (size_t k = 0; k < c.size(); ++k) dot += c[k] * x[k], norm += c[k] * c[k];
      if (dot / std::sqrt(norm) > best_score) best_score = dot / std::sqrt(norm), best = label;
    }
    correct += best == p.text;
  }
  EXPECT_GT(correct, 0.9 * test.phonemes.size()) << correct << " of " << test.phonemes.size();

  // The lexicon: a word always has its class, and each class has several words.
  std::map<std::string, int> class_of;
  std::map<int, std::set<std::string>> words_of;
  for (const Story& s : d.stories) {
    ASSERT_EQ(s.word_classes.size(), s.words.size());
    for (size_t i = 0; i < s.words.size(); ++i) {
      const auto [it, inserted] = class_of.emplace(s.words[i].text, s.word_classes[i]);
      EXPECT_EQ(it->second, s.word_classes[i]) << s.words[i].text;
      words_of[s.word_classes[i]].insert(s.words[i].text);
    }
  }
  EXPECT_EQ(words_of.size(), 4u);
  for (const auto& [c, words] : words_of) EXPECT_GE(words.size(), 5u) << "class " << c;
}

TEST(SyntheticDatasetTest, MegRoundTrip) {
  SynthOptions options = SmallOptions();
  options.modality = "meg";
  options.response_rate = 50;
  options.story_seconds = 20;
  const std::string path = TempPath("meg.h5");
  const Dataset d = WriteAndRead(path, options);
  EXPECT_TRUE(ValidateDataset(path).empty());
  EXPECT_EQ(d.modality, "meg");
  for (const Participant& p : d.participants) {
    for (const data::Run& run : p.runs) {
      EXPECT_EQ(run.n_times, 1000);
      EXPECT_DOUBLE_EQ(run.sample_rate, 50);
      EXPECT_DOUBLE_EQ(run.tr, 0.02);
      EXPECT_EQ(run.responses.size(), 1000u * 8);
    }
    EXPECT_EQ(p.repeats.at("story_01").n_times, 1000);
  }
  const Feature& rate = d.stories[0].features.at("phoneme_rate");
  EXPECT_EQ(rate.n_frames, 1000);
  EXPECT_NEAR(rate.times[1] - rate.times[0], 0.02, 1e-12);
  // No hemodynamic delay: the response tracks the sound within a few samples, so responses
  // correlate better with the acoustic latents 0-100 ms before them than 2 s before.
  const Participant& p = d.participants[0];
  const data::Run& run = p.runs[0];
  auto lagged_fit = [&](int lag) {
    std::vector<std::vector<double>> x(kAcoustic.size());
    std::vector<double> y;
    for (int64_t i = 100; i < run.n_times; ++i) {
      for (size_t k = 0; k < kAcoustic.size(); ++k) {
        x[k].push_back(d.stories[0].features.at(kAcoustic[k]).values[i - lag]);
      }
      y.push_back(run.responses[i * 8 + 0]);
    }
    return FitCorrelation(x, y);
  };
  EXPECT_GT(lagged_fit(2), lagged_fit(100) + 0.2);
}

TEST(SyntheticDatasetTest, SameSeedGivesIdenticalData) {
  const Dataset a = WriteAndRead(TempPath("a.h5"), SmallOptions());
  const Dataset b = WriteAndRead(TempPath("b.h5"), SmallOptions());
  SynthOptions other = SmallOptions();
  other.seed = 8;
  const Dataset c = WriteAndRead(TempPath("c.h5"), other);
  ASSERT_EQ(a.stories.size(), 2u);
  ASSERT_EQ(b.stories.size(), 2u);
  ASSERT_EQ(c.stories.size(), 2u);
  ASSERT_EQ(a.stories[1].audio.size(), b.stories[1].audio.size());
  EXPECT_EQ(0, std::memcmp(a.stories[1].audio.data(), b.stories[1].audio.data(),
                           a.stories[1].audio.size() * sizeof(float)));
  EXPECT_EQ(a.participants[2].runs[1].responses, b.participants[2].runs[1].responses);
  EXPECT_NE(a.stories[1].audio, c.stories[1].audio);
  EXPECT_NE(a.participants[2].runs[1].responses, c.participants[2].runs[1].responses);
}

TEST(SyntheticDatasetTest, OverwritesAnExistingFile) {
  const std::string path = TempPath("overwrite.h5");
  WriteAndRead(path, SmallOptions());
  SynthOptions more = SmallOptions();
  more.participants = 1;
  EXPECT_EQ(WriteAndRead(path, more).participants.size(), 1u);
}

TEST(SyntheticDatasetTest, RejectsBadOptionsWithoutLeavingFiles) {
  const std::string path = TempPath("bad_options.h5");
  std::vector<SynthOptions> bad(10, SmallOptions());
  bad[0].tr = 0;
  bad[1].modality = "eeg";
  bad[2].n_repeats = 1;
  bad[3].test_story_index = 2;  // 2 stories
  bad[4].language_fraction = 1.5;
  bad[5].semantic_dims = 0;
  // Infinite values once wrote NaN and Inf into the file ("--noise inf", "--semantic-noise 1e400").
  bad[6].noise = std::numeric_limits<double>::infinity();
  bad[7].semantic_noise = std::numeric_limits<double>::infinity();
  bad[8].story_seconds = std::numeric_limits<double>::infinity();
  bad[9].story_seconds = 1e9;  // 1.6e12 audio samples per story: refused, not allocated
  for (const SynthOptions& o : bad) {
    EXPECT_EQ(WriteSyntheticDataset(path, o).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  }
}

TEST(ReadOptionsTest, LoadsOnlyWhatWasAskedFor) {
  const std::string path = TempPath("options.h5");
  ASSERT_TRUE(WriteSyntheticDataset(path, SmallOptions()).ok());

  ReadOptions only_sub02;
  only_sub02.load_responses_of = {"sub-02"};
  only_sub02.load_audio = false;
  absl::StatusOr<Dataset> d = ReadDataset(path, only_sub02);
  ASSERT_TRUE(d.ok()) << d.status();
  for (const Story& s : d->stories) {
    EXPECT_TRUE(s.audio.empty());
    EXPECT_EQ(s.sample_rate, 1600);
  }
  for (const Participant& p : d->participants) {
    ASSERT_EQ(p.runs.size(), 2u);
    for (const data::Run& run : p.runs) {
      EXPECT_EQ(run.n_times, 20);  // shapes are listed either way
      EXPECT_EQ(run.responses.empty(), p.id != "sub-02") << p.id;
    }
  }

  ReadOptions none;
  none.load_all_responses = false;
  d = ReadDataset(path, none);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->stories[0].audio.empty());
  for (const Participant& p : d->participants) EXPECT_TRUE(p.runs[0].responses.empty());

  ReadOptions unknown;
  unknown.load_responses_of = {"sub-09"};
  d = ReadDataset(path, unknown);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(d.status().message(),
              HasSubstr(path + ": /participants/sub-09: no such participant"));
}

// ---- Malformed files, written with the HDF5 C API as a foreign tool would. ----

void Group(hid_t file, const std::string& path) {
  Handle g =
      internal::OwnObject(H5Gcreate2(file, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_TRUE(g.ok()) << path;
}

// Fixed-length string, as numpy bytes or MATLAB would write it (the synthetic writer uses
// variable-length strings, so both kinds get read).
void StringAttr(hid_t obj, const char* name, const std::string& value) {
  Handle type = internal::OwnType(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), value.size());
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  Handle space = internal::OwnSpace(H5Screate(H5S_SCALAR));
  Handle attr =
      internal::OwnAttr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_GE(H5Awrite(attr.get(), type.get(), value.data()), 0) << name;
}

void NumberAttr(hid_t obj, const char* name, hid_t mem_type, hid_t file_type, const void* value) {
  Handle space = internal::OwnSpace(H5Screate(H5S_SCALAR));
  Handle attr =
      internal::OwnAttr(H5Acreate2(obj, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_GE(H5Awrite(attr.get(), mem_type, value), 0) << name;
}

Handle Array(hid_t file, const std::string& path, hid_t mem_type, hid_t file_type,
             std::vector<hsize_t> dims, const void* data) {
  Handle space = internal::OwnSpace(H5Screate_simple(dims.size(), dims.data(), nullptr));
  Handle ds = internal::OwnObject(H5Dcreate2(file, path.c_str(), file_type, space.get(),
                                             H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  EXPECT_GE(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0) << path;
  return ds;
}

Handle Doubles(hid_t file, const std::string& path, const std::vector<double>& values) {
  return Array(file, path, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, {values.size()}, values.data());
}

// Variable-length UTF-8 strings, as h5py writes str.
void Strings(hid_t file, const std::string& path, const std::vector<std::string>& values) {
  std::vector<const char*> pointers;
  for (const std::string& v : values) pointers.push_back(v.c_str());
  Handle type = internal::OwnType(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Array(file, path, type.get(), type.get(), {values.size()}, pointers.data());
}

void Intervals(hid_t file, const std::string& path, const std::vector<double>& onsets,
               const std::vector<double>& offsets, const std::vector<std::string>& texts) {
  Group(file, path);
  Doubles(file, path + "/onset", onsets);
  Doubles(file, path + "/offset", offsets);
  Strings(file, path + "/text", texts);
}

void Int32s(hid_t file, const std::string& path, const std::vector<int32_t>& values) {
  Array(file, path, H5T_NATIVE_INT32, H5T_STD_I32LE, {values.size()}, values.data());
}

// An array of the given shape holding 0, 1, 2, ..., float32 unless `file_type` says otherwise
// (HDF5 converts on writing).
Handle Counting(hid_t file, const std::string& path, const std::vector<hsize_t>& dims,
                hid_t file_type = H5T_IEEE_F32LE) {
  size_t n = 1;
  for (hsize_t d : dims) n *= d;
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = static_cast<float>(i);
  return Array(file, path, H5T_NATIVE_FLOAT, file_type, dims, values.data());
}

constexpr char kResponses[] = "/participants/p1/runs/s1/responses";

Handle Open(hid_t file, const std::string& path) {
  Handle obj = internal::OwnObject(H5Oopen(file, path.c_str(), H5P_DEFAULT));
  EXPECT_TRUE(obj.ok()) << path;
  return obj;
}

void Delete(hid_t file, const std::string& path) {
  ASSERT_GE(H5Ldelete(file, path.c_str(), H5P_DEFAULT), 0) << path;
}

// tr = 2 s, t0 = 0: the timing of p1's run of s1.
void TimeResponses(hid_t file) {
  Handle ds = Open(file, kResponses);
  const double tr = 2, t0 = 0;
  NumberAttr(ds.get(), "tr", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &tr);
  NumberAttr(ds.get(), "t0", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &t0);
}

// Replaces p1's responses to s1 by Counting ones of another shape or type, timed as before.
void ReplaceResponses(hid_t file, const std::vector<hsize_t>& dims,
                      hid_t file_type = H5T_IEEE_F32LE) {
  Delete(file, kResponses);
  Counting(file, kResponses, dims, file_type);
  TimeResponses(file);
}

// A valid file, written with the HDF5 C API as a foreign tool would: one story "s1" (10 s of
// audio at 10 Hz) and one participant "p1" with 3 targets who heard it for 4 TRs of 2 s
// (responses 0, 1, 2, ...).
void WriteSmallFile(const std::string& path) {
  Handle file = internal::OwnFile(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_TRUE(file.ok());
  const hid_t f = file.get();
  StringAttr(f, "format", "braintune-dataset");
  const int64_t version = 1;
  NumberAttr(f, "version", H5T_NATIVE_INT64, H5T_STD_I64LE, &version);
  StringAttr(f, "modality", "fmri");

  Group(f, "/stimuli");
  Group(f, "/stimuli/s1");
  const std::vector<float> audio(100, 0.25f);
  Handle ds = Array(f, "/stimuli/s1/audio", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {100}, audio.data());
  const double audio_rate = 10;
  NumberAttr(ds.get(), "sample_rate", H5T_NATIVE_DOUBLE, H5T_IEEE_F64BE, &audio_rate);

  Group(f, "/participants");
  Group(f, "/participants/p1");
  Handle participant = Open(f, "/participants/p1");
  StringAttr(participant.get(), "space", "native");
  const int32_t n_targets = 3;  // a 32-bit integer, which is fine
  NumberAttr(participant.get(), "n_targets", H5T_NATIVE_INT32, H5T_STD_I32LE, &n_targets);
  Group(f, "/participants/p1/runs");
  Group(f, "/participants/p1/runs/s1");
  Counting(f, kResponses, {4, 3});
  TimeResponses(f);
}

// One change to an open file. It closes whatever it opens: the tests count open HDF5 objects.
using Change = void (*)(hid_t file);

void WriteSmallFile(const std::string& path, Change change) {
  WriteSmallFile(path);
  Handle file = internal::OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
  ASSERT_TRUE(file.ok());
  change(file.get());
}

TEST(ReadDatasetTest, AcceptsAForeignFile) {
  const Change as_written = [](hid_t) {};
  const Change sample_rate_instead_of_tr = [](hid_t f) {
    Handle ds = Open(f, kResponses);
    ASSERT_GE(H5Adelete(ds.get(), "tr"), 0);
    const double rate = 0.5;
    NumberAttr(ds.get(), "sample_rate", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &rate);
  };
  for (Change change : {as_written, sample_rate_instead_of_tr}) {
    const std::string path = TempPath("foreign.h5");
    WriteSmallFile(path, change);
    absl::StatusOr<Dataset> d = ReadDataset(path);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->name, "foreign");  // no name attribute: the file stem
    ASSERT_EQ(d->participants.size(), 1u);
    const Participant& p = d->participants[0];
    EXPECT_EQ(p.space, "native");
    EXPECT_EQ(p.n_targets, 3);
    EXPECT_TRUE(p.noise_ceiling.empty());
    ASSERT_EQ(p.runs.size(), 1u);
    EXPECT_EQ(p.runs[0].story, "s1");
    EXPECT_EQ(p.runs[0].tr, 2.0);
    EXPECT_EQ(p.runs[0].responses[1 * 3 + 2], 5.0f);
    EXPECT_EQ(d->stories[0].audio.size(), 100u);
  }
}

std::string Joined(const std::string& file, const std::vector<Problem>& problems) {
  std::string joined;
  for (const Problem& p : problems) joined += FormatProblem(file, p) + "\n";
  return joined;
}

// The valid small file with one thing broken, and the problem the reader must name.
// A dataset whose data HDF5 would read from another file: External File List storage (the
// reproduction that leaked a node secret 8 bytes at a time through the ROI range check).
void ExternallyStored(hid_t file, const std::string& path, const char* outside) {
  Handle dcpl = internal::OwnPlist(H5Pcreate(H5P_DATASET_CREATE));
  ASSERT_GE(H5Pset_external(dcpl.get(), outside, 0, 8), 0);
  const hsize_t dims[1] = {2};
  Handle space = internal::OwnSpace(H5Screate_simple(1, dims, nullptr));
  Handle ds = internal::OwnObject(
      H5Dcreate2(file, path.c_str(), H5T_STD_I32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
  ASSERT_TRUE(ds.ok()) << path;
}

// A virtual dataset mapping another file's dataset.
void VirtualDataset(hid_t file, const std::string& path, const char* other_file) {
  const hsize_t dims[1] = {2};
  Handle space = internal::OwnSpace(H5Screate_simple(1, dims, nullptr));
  Handle dcpl = internal::OwnPlist(H5Pcreate(H5P_DATASET_CREATE));
  ASSERT_GE(H5Pset_virtual(dcpl.get(), space.get(), other_file, "/data", space.get()), 0);
  Handle ds = internal::OwnObject(
      H5Dcreate2(file, path.c_str(), H5T_STD_I32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
  ASSERT_TRUE(ds.ok()) << path;
}

struct BadCase {
  const char* label;
  Change break_one_thing;
  std::string inner_path;
  std::string what;
};

class MalformedFileTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(MalformedFileTest, NamesFilePathAndProblem) {
  const BadCase& c = GetParam();
  const std::string path = TempPath(std::string(c.label) + ".h5");
  WriteSmallFile(path, c.break_one_thing);
  const absl::StatusOr<Dataset> d = ReadDataset(path);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << d.status();
  EXPECT_THAT(d.status().message(), HasSubstr(path + ": " + c.inner_path + ": " + c.what));
  EXPECT_EQ(OpenHdf5Objects(), 0);  // early returns closed everything
  // The validator finds the same problem, and only that one.
  const std::vector<Problem> problems = ValidateDataset(path);
  ASSERT_EQ(problems.size(), 1u) << Joined(path, problems);
  EXPECT_EQ(FormatProblem(path, problems[0]), d.status().message());
  EXPECT_EQ(OpenHdf5Objects(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    AllFaults, MalformedFileTest,
    ::testing::Values(
        BadCase{"wrong_format",
                [](hid_t f) {
                  ASSERT_GE(H5Adelete(f, "format"), 0);
                  StringAttr(f, "format", "braintune-datasat");
                },
                "/",
                "attribute 'format': expected \"braintune-dataset\", got \"braintune-datasat\""},
        BadCase{"int64_responses", [](hid_t f) { ReplaceResponses(f, {4, 3}, H5T_STD_I64LE); },
                "/participants/p1/runs/s1/responses", "expected float32, got int64"},
        BadCase{"wrong_targets", [](hid_t f) { ReplaceResponses(f, {4, 2}); },
                "/participants/p1/runs/s1/responses", "expected 3 targets"},
        BadCase{"unknown_story",
                [](hid_t f) {
                  ASSERT_GE(H5Lmove(f, "/participants/p1/runs/s1", f, "/participants/p1/runs/s9",
                                    H5P_DEFAULT, H5P_DEFAULT),
                            0);
                },
                "/participants/p1/runs/s9", "story 's9' is not under /stimuli"},
        BadCase{"nan_responses",
                [](hid_t f) {
                  std::vector<float> values(4 * 3);
                  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
                  values[1 * 3 + 2] = std::numeric_limits<float>::quiet_NaN();
                  Handle ds = Open(f, kResponses);
                  ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                     values.data()),
                            0);
                },
                "/participants/p1/runs/s1/responses", "non-finite value (NaN) at [1, 2]"},
        BadCase{"no_runs", [](hid_t f) { Delete(f, "/participants/p1/runs/s1"); },
                "/participants/p1/runs", "participant has no runs"},
        BadCase{"missing_tr",
                [](hid_t f) { ASSERT_GE(H5Adelete(Open(f, kResponses).get(), "tr"), 0); },
                "/participants/p1/runs/s1/responses",
                "missing attribute 'tr' (or 'sample_rate')"},
        BadCase{"longer_than_audio", [](hid_t f) { ReplaceResponses(f, {7, 3}); },
                "/participants/p1/runs/s1/responses", "responses last until 14.000 s"},
        BadCase{"roi_out_of_range",
                [](hid_t f) {
                  Group(f, "/participants/p1/rois");
                  Int32s(f, "/participants/p1/rois/bad", {0, 5});
                },
                "/participants/p1/rois/bad", "the index at [1] is outside [0, 3)"},
        // Data outside the file is never read (issue 17, reproduction 1), whatever it holds.
        BadCase{"roi_external_storage",
                [](hid_t f) {
                  Group(f, "/participants/p1/rois");
                  ExternallyStored(f, "/participants/p1/rois/leak", "/proc/self/environ");
                },
                "/participants/p1/rois/leak", "is stored in external files (HDF5 external storage)"},
        BadCase{"audio_external_link",
                [](hid_t f) {
                  Delete(f, "/stimuli/s1/audio");
                  ASSERT_GE(H5Lcreate_external("/etc/other.h5", "/audio", f, "/stimuli/s1/audio", H5P_DEFAULT,
                                               H5P_DEFAULT),
                            0);
                },
                "/stimuli/s1/audio", "is an external link (to an object in another file): refused"},
        BadCase{"roi_virtual",
                [](hid_t f) {
                  Group(f, "/participants/p1/rois");
                  VirtualDataset(f, "/participants/p1/rois/elsewhere", "/etc/other.h5");
                },
                "/participants/p1/rois/elsewhere", "is a virtual dataset (its data lives in other files)"},
        BadCase{"repeats_wrong_times",
                [](hid_t f) {
                  Group(f, "/participants/p1/repeats");
                  Counting(f, "/participants/p1/repeats/s1", {2, 5, 3});
                },
                "/participants/p1/repeats/s1",
                "expected 4 time points (axis 1, as /participants/p1/runs/s1/responses), got 5"},
        BadCase{"unsorted_words",
                [](hid_t f) {
                  Intervals(f, "/stimuli/s1/words", {1.0, 0.5}, {1.2, 0.8}, {"b", "a"});
                },
                "/stimuli/s1/words", "not sorted by onset: interval 1 starts at 0.5 s"},
        BadCase{"feature_without_times",
                [](hid_t f) {
                  Group(f, "/stimuli/s1/features");
                  Counting(f, "/stimuli/s1/features/f", {4, 2});
                },
                "/stimuli/s1/features/f_times", "missing dataset"},
        BadCase{"tr_and_rate_disagree",
                [](hid_t f) {
                  const double two = 2;
                  NumberAttr(Open(f, kResponses).get(), "sample_rate", H5T_NATIVE_DOUBLE,
                             H5T_IEEE_F64LE, &two);
                },
                "/participants/p1/runs/s1/responses",
                "attributes 'tr' (2) and 'sample_rate' (2) disagree"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.label); });

TEST(ReadDatasetTest, ReadsOptionalGroupsBack) {
  const std::string path = TempPath("optional.h5");
  WriteSmallFile(path);
  {
    Handle file = internal::OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    const hid_t f = file.get();
    Intervals(f, "/stimuli/s1/words", {0.5, 2.0}, {1.0, 2.5}, {"hello", "world"});
    // Phoneme labels as fixed-length strings (numpy bytes), onsets as float32: both accepted.
    Group(f, "/stimuli/s1/phonemes");
    const std::vector<float> onsets = {0.5f, 0.75f}, offsets = {0.75f, 1.0f};
    Array(f, "/stimuli/s1/phonemes/onset", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {2}, onsets.data());
    Array(f, "/stimuli/s1/phonemes/offset", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {2}, offsets.data());
    Handle fixed = internal::OwnType(H5Tcopy(H5T_C_S1));
    H5Tset_size(fixed.get(), 2);
    Array(f, "/stimuli/s1/phonemes/text", fixed.get(), fixed.get(), {2}, "HHAH");
    Group(f, "/stimuli/s1/features");
    Counting(f, "/stimuli/s1/features/f", {3, 2});
    Doubles(f, "/stimuli/s1/features/f_times", {0, 1, 2.5});
    Counting(f, "/participants/p1/noise_ceiling", {3});
    Group(f, "/participants/p1/repeats");
    Counting(f, "/participants/p1/repeats/s1", {2, 4, 3});
    Group(f, "/participants/p1/rois");
    const std::vector<int64_t> all = {0, 1, 2};  // numpy's default integer type
    Array(f, "/participants/p1/rois/all", H5T_NATIVE_INT64, H5T_STD_I64LE, {3}, all.data());
    Int32s(f, "/participants/p1/rois/last", {2});
  }
  EXPECT_TRUE(ValidateDataset(path).empty());
  absl::StatusOr<Dataset> d = ReadDataset(path);
  ASSERT_TRUE(d.ok()) << d.status();
  const Story& s = d->stories[0];
  ASSERT_EQ(s.words.size(), 2u);
  EXPECT_EQ(s.words[1].onset, 2.0);
  EXPECT_EQ(s.words[1].offset, 2.5);
  EXPECT_EQ(s.words[1].text, "world");
  ASSERT_EQ(s.phonemes.size(), 2u);
  EXPECT_EQ(s.phonemes[0].text, "HH");
  EXPECT_EQ(s.phonemes[1].text, "AH");
  EXPECT_EQ(s.phonemes[1].onset, 0.75);
  ASSERT_EQ(s.features.size(), 1u);  // f_times is f's times, not a feature
  const Feature& f = s.features.at("f");
  EXPECT_EQ(f.n_frames, 3);
  EXPECT_EQ(f.dim, 2);
  EXPECT_EQ(f.values, (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(f.times, (std::vector<double>{0, 1, 2.5}));
  const Participant& p = d->participants[0];
  EXPECT_EQ(p.noise_ceiling, (std::vector<float>{0, 1, 2}));
  ASSERT_EQ(p.repeats.count("s1"), 1u);
  const Repeats& r = p.repeats.at("s1");
  EXPECT_EQ(r.n_repeats, 2);
  EXPECT_EQ(r.n_times, 4);
  EXPECT_EQ(r.n_targets, 3);
  ASSERT_EQ(r.values.size(), 24u);
  EXPECT_EQ(r.values[1 * 12 + 2 * 3 + 1], 19.0f);  // [1, 2, 1]
  EXPECT_EQ(p.rois.at("all"), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(p.rois.at("last"), (std::vector<int32_t>{2}));

  ReadOptions shapes_only;
  shapes_only.load_features = false;
  shapes_only.load_all_responses = false;
  d = ReadDataset(path, shapes_only);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->stories[0].features.at("f").n_frames, 3);
  EXPECT_TRUE(d->stories[0].features.at("f").values.empty());
  EXPECT_TRUE(d->participants[0].repeats.at("s1").values.empty());
  EXPECT_EQ(d->participants[0].rois.size(), 2u);
}

::testing::Matcher<Problem> IsProblem(const std::string& path, const std::string& what) {
  return ::testing::AllOf(::testing::Field(&Problem::path, path),
                          ::testing::Field(&Problem::message, HasSubstr(what)));
}

TEST(ValidateDatasetTest, ReportsEveryProblemWithItsPath) {
  const std::string path = TempPath("many_problems.h5");
  WriteSmallFile(path);
  {
    Handle file = internal::OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    const hid_t f = file.get();
    Group(f, "/stimuli/s1/words");
    Doubles(f, "/stimuli/s1/words/onset", {0, 1, 2});
    Doubles(f, "/stimuli/s1/words/offset", {0.5, 1.5});
    Strings(f, "/stimuli/s1/words/text", {"a", "b", "c"});
    Intervals(f, "/stimuli/s1/phonemes", {1.0}, {0.5}, {"AH"});
    Group(f, "/stimuli/s1/features");
    Counting(f, "/stimuli/s1/features/f", {3, 2});
    Counting(f, "/stimuli/s1/features/g", {3, 2});
    Doubles(f, "/stimuli/s1/features/g_times", {0, 2, 1});
    Group(f, "/stimuli/s2");
    std::vector<float> audio(100, 0.1f);
    audio[3] = std::numeric_limits<float>::infinity();
    Handle ds = Array(f, "/stimuli/s2/audio", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {100}, audio.data());
    const double rate = 10;
    NumberAttr(ds.get(), "sample_rate", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &rate);
    Group(f, "/participants/p1/rois");
    Int32s(f, "/participants/p1/rois/bad", {0, 5});
    Group(f, "/participants/p1/repeats");
    Counting(f, "/participants/p1/repeats/s1", {2, 5, 3});
    // p2 shares p1's space with another width and heard a story that is not there.
    Group(f, "/participants/p2");
    Handle p2 = internal::OwnObject(H5Oopen(f, "/participants/p2", H5P_DEFAULT));
    StringAttr(p2.get(), "space", "native");
    const int64_t four = 4;
    NumberAttr(p2.get(), "n_targets", H5T_NATIVE_INT64, H5T_STD_I64LE, &four);
    Group(f, "/participants/p2/runs");
    Group(f, "/participants/p2/runs/s9");
    Counting(f, "/participants/p2/runs/s9/responses", {4, 4});
    Group(f, "/participants/p3");
    Handle p3 = internal::OwnObject(H5Oopen(f, "/participants/p3", H5P_DEFAULT));
    StringAttr(p3.get(), "space", "native");
    Group(f, "/participants/p3/runs");
  }
  const std::vector<Problem> problems = ValidateDataset(path);
  EXPECT_THAT(
      problems,
      ::testing::UnorderedElementsAre(
          IsProblem("/stimuli/s1/words", "must have the same length, got 3, 2 and 3"),
          IsProblem("/stimuli/s1/phonemes", "interval 0 ends (0.5 s) before it starts (1 s)"),
          IsProblem("/stimuli/s1/features/f_times", "missing dataset"),
          IsProblem("/stimuli/s1/features/g_times", "not strictly increasing: times[2] = 1"),
          IsProblem("/stimuli/s2/audio", "non-finite value (Inf) at [3]"),
          IsProblem("/participants/p1/repeats/s1", "expected 4 time points"),
          IsProblem("/participants/p1/rois/bad", "the index at [1] is outside [0, 3)"),
          IsProblem("/participants/p2", "n_targets is 4 but space 'native' has 3 targets in "
                                        "/participants/p1"),
          IsProblem("/participants/p2/runs/s9", "story 's9' is not under /stimuli"),
          IsProblem("/participants/p2/runs/s9/responses", "missing attribute 'tr'"),
          IsProblem("/participants/p3", "missing attribute 'n_targets'"),
          IsProblem("/participants/p3/runs", "participant has no runs")));
  // The reader stops at the first of them.
  ASSERT_FALSE(problems.empty());
  const absl::StatusOr<Dataset> d = ReadDataset(path);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.status().message(), FormatProblem(path, problems[0]));
  EXPECT_EQ(OpenHdf5Objects(), 0);
}

TEST(ValidateDatasetTest, WordClassesAreOneNonNegativeIntegerPerWord) {
  const std::string path = TempPath("word_classes.h5");
  WriteSmallFile(path);
  {
    Handle file = internal::OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    Intervals(file.get(), "/stimuli/s1/words", {0.0, 1.0, 2.0}, {0.5, 1.5, 2.5}, {"a", "b", "c"});
    Int32s(file.get(), "/stimuli/s1/words/class", {0, 1});
  }
  EXPECT_THAT(ValidateDataset(path),
              ::testing::ElementsAre(IsProblem("/stimuli/s1/words/class",
                                               "one class per word expected: 2 values for 3 words")));
  {
    Handle file = internal::OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    H5Ldelete(file.get(), "/stimuli/s1/words/class", H5P_DEFAULT);
    Int32s(file.get(), "/stimuli/s1/words/class", {0, -2, 1});
  }
  EXPECT_THAT(ValidateDataset(path), ::testing::ElementsAre(IsProblem("/stimuli/s1/words/class",
                                                                      "class -2 of word 1 is out of range")));
  {
    Handle file = internal::OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    H5Ldelete(file.get(), "/stimuli/s1/words/class", H5P_DEFAULT);
    Int32s(file.get(), "/stimuli/s1/words/class", {3, 0, 1});
  }
  const absl::StatusOr<Dataset> d = ReadDataset(path);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_THAT(d->FindStory("s1")->word_classes, ::testing::ElementsAre(3, 0, 1));
}

TEST(ValidateDatasetTest, TruncatedFileGivesACleanError) {
  const std::string path = TempPath("truncated.h5");
  ASSERT_TRUE(WriteSyntheticDataset(path, SmallOptions()).ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  const std::vector<Problem> problems = ValidateDataset(path);
  ASSERT_FALSE(problems.empty());
  EXPECT_THAT(FormatProblem(path, problems[0]), HasSubstr(path + ": "));
  EXPECT_THAT(problems[0].message, HasSubstr("truncated"));
  const absl::StatusOr<Dataset> d = ReadDataset(path);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << d.status();
  EXPECT_THAT(d.status().message(), HasSubstr(path + ": "));
  EXPECT_FALSE(SummarizeDataset(path).ok());
  EXPECT_EQ(OpenHdf5Objects(), 0);
}

TEST(ValidateDatasetTest, MissingFileIsOneProblem) {
  const std::string path = TempPath("nowhere.h5");
  const std::vector<Problem> problems = ValidateDataset(path);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(FormatProblem(path, problems[0]), path + ": no such file");
}

TEST(SummarizeDatasetTest, SummarisesWithoutLoadingValues) {
  const std::string path = TempPath("summary.h5");
  SynthOptions options = SmallOptions();  // 3 participants, 2 stories of 40 s, 8 targets
  options.targets = 9;
  ASSERT_TRUE(WriteSyntheticDataset(path, options).ok());
  absl::StatusOr<DatasetSummary> s = SummarizeDataset(path);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->path, path);
  EXPECT_EQ(s->name, "synthetic");
  EXPECT_EQ(s->modality, "fmri");
  EXPECT_EQ(s->stories, 2);
  EXPECT_NEAR(s->stimulus_hours, 80.0 / 3600, 1e-9);
  EXPECT_EQ(s->stories_with_words, 2);
  EXPECT_EQ(s->stories_with_phonemes, 2);
  EXPECT_EQ(s->feature_names,
            (std::vector<std::string>{"envelope", "phoneme_rate", "semantic", "word_rate"}));
  ASSERT_EQ(s->participants.size(), 3u);
  for (const ParticipantSummary& p : s->participants) {
    EXPECT_EQ(p.space, "synthetic");
    EXPECT_EQ(p.n_targets, 9);
    EXPECT_EQ(p.stories, 2);
    EXPECT_EQ(p.samples, 40);
    EXPECT_TRUE(p.has_noise_ceiling);
    EXPECT_EQ(p.repeated_stories, (std::vector<std::string>{"story_01"}));
    EXPECT_EQ(p.rois, (std::vector<std::string>{"auditory", "language"}));
  }
  EXPECT_EQ(s->participants[1].id, "sub-02");

  // A foreign file with none of the optional groups.
  const std::string bare = TempPath("bare.h5");
  WriteSmallFile(bare);
  s = SummarizeDataset(bare);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->stories_with_words, 0);
  EXPECT_TRUE(s->feature_names.empty());
  EXPECT_FALSE(s->participants[0].has_noise_ceiling);
  EXPECT_TRUE(s->participants[0].repeated_stories.empty());
  EXPECT_TRUE(s->participants[0].rois.empty());
}

// The h5py example of docs/dataset-format.md, run as a user would run it.
TEST(DatasetFormatDocTest, MinimalH5pyExampleIsValid) {
  const std::string python = "/usr/bin/python3";
  if (std::system((python + " -c 'import h5py' >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << python << " lacks h5py (Debian package python3-h5py)";
  }
  const std::string path = TempPath("minimal_h5py.h5");
  const std::string script =
      std::string(BRAINTUNE_SOURCE_DIR) + "/tests/data/write_minimal_h5py.py";
  ASSERT_EQ(std::system((python + " " + script + " " + path).c_str()), 0) << script;
  const std::vector<Problem> problems = ValidateDataset(path);
  for (const Problem& p : problems) ADD_FAILURE() << FormatProblem(path, p);
  absl::StatusOr<Dataset> d = ReadDataset(path);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->stories.size(), 1u);
  ASSERT_EQ(d->participants.size(), 1u);
  const Story& story = d->stories[0];
  EXPECT_FALSE(story.words.empty());
  EXPECT_FALSE(story.phonemes.empty());
  EXPECT_EQ(story.features.count("envelope"), 1u);
  const Participant& p = d->participants[0];
  EXPECT_EQ(p.runs.size(), 1u);
  EXPECT_EQ(p.noise_ceiling.size(), static_cast<size_t>(p.n_targets));
  EXPECT_EQ(p.repeats.size(), 1u);
  EXPECT_EQ(p.rois.size(), 1u);
}

TEST(ReadDatasetTest, MissingOrNonHdf5FileIsNotFound) {
  const std::string missing = TempPath("does_not_exist.h5");
  absl::StatusOr<Dataset> d = ReadDataset(missing);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(d.status().message(), HasSubstr(missing));

  const std::string text = TempPath("not_hdf5.h5");
  std::ofstream(text) << "just text\n";
  d = ReadDataset(text);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(d.status().message(), HasSubstr(text + ": not an HDF5 file"));
}

// The writer creates the groups on the way to a dataset itself (HDF5's would carry times). Names
// come from imported files and command lines: a dataset under a dataset, or one written twice, is
// an error naming the file and the object; "//" and ".." keep HDF5's meaning (within the file).
TEST(Hdf5WriterTest, CreatesUntimedParentsAndRefusesPathsThatAreNotOnes) {
  const std::string path = TempPath("writer.h5");
  internal::SilenceHdf5Errors();
  {
    Handle fid = internal::CreateUntimedFile(path);
    ASSERT_TRUE(fid.ok());
    internal::Writer w(path, fid.get());
    const float x[2] = {1, 2};
    ASSERT_TRUE(w.Array("/stimuli/a/b/values", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {2}, x).ok());
    ASSERT_TRUE(w.Array("/stimuli/a/c", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {2}, x).ok());  // "/stimuli/a" exists
    for (const char* object : {"/stimuli", "/stimuli/a", "/stimuli/a/b", "/stimuli/a/b/values"}) {
      H5O_info_t info;
      ASSERT_GE(H5Oget_info_by_name2(fid.get(), object, &info, H5O_INFO_TIME, H5P_DEFAULT), 0) << object;
      EXPECT_EQ(info.ctime, 0) << object;
      EXPECT_EQ(info.mtime, 0) << object;
    }
    for (const std::string& bad : {std::string("/stimuli/a/c/x"), std::string("/stimuli/a/b/values")}) {
      absl::Status s = w.Array(bad, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {2}, x);
      EXPECT_FALSE(s.ok()) << bad;
      EXPECT_THAT(std::string(s.message()), HasSubstr(path + ": /stimuli/")) << bad;
    }
    // An empty component is HDF5's "/" (as before: HDF5's own intermediate groups collapsed it too).
    ASSERT_TRUE(w.Array("/stimuli//x", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {2}, x).ok());
    EXPECT_GT(H5Lexists(fid.get(), "/stimuli/x", H5P_DEFAULT), 0);
    // ".." is no parent in HDF5: a group of that name, inside /stimuli, not outside it.
    ASSERT_TRUE(w.Array("/stimuli/../y", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {2}, x).ok());
    EXPECT_GT(H5Lexists(fid.get(), "/stimuli/..", H5P_DEFAULT), 0);
    EXPECT_EQ(H5Lexists(fid.get(), "/y", H5P_DEFAULT), 0);
  }
  // What was written before the refusals is intact.
  Handle fid = internal::OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  ASSERT_TRUE(fid.ok());
  EXPECT_GT(H5Lexists(fid.get(), "/stimuli/a/b/values", H5P_DEFAULT), 0);
  EXPECT_GT(H5Lexists(fid.get(), "/stimuli/a/c", H5P_DEFAULT), 0);
}

}  // namespace
}  // namespace braintune::data

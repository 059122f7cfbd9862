// FIR delays, Pearson r and the noise ceiling; on the synthetic brain, the estimated ceiling
// matches the stored ground truth and a ridge model of the true latents reaches it.
#include "eval/metrics.h"

#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/synthetic.h"
#include "eval/features.h"
#include "eval/ridge.h"
#include "gtest/gtest.h"
#include "testing/process.h"

namespace braintune::eval {
namespace {

torch::Tensor FromVector(const std::vector<float>& v, int64_t rows, int64_t cols) {
  return torch::tensor(v, torch::kFloat32).reshape({rows, cols}).to(torch::kFloat64);
}

TEST(MetricsTest, DelayShiftsBlocksAndPadsWithZeros) {
  torch::Tensor f = torch::arange(1, 4, torch::kFloat64).reshape({3, 1});  // 1, 2, 3
  torch::Tensor d = Delay(f, {1, 2});
  EXPECT_TRUE(torch::equal(d, torch::tensor({0.0, 0.0, 1.0, 0.0, 2.0, 1.0}, torch::kFloat64).reshape({3, 2})));
}

TEST(MetricsTest, NormalizedScoresMaskLowCeilingsAndSummariesSkipThem) {
  torch::Tensor r = torch::tensor({0.4, 0.3, 0.1, 0.2}, torch::kFloat64);
  torch::Tensor ceiling = torch::tensor({0.8, 0.6, 0.3, 0.4}, torch::kFloat64);
  torch::Tensor n = NormalizedScores(r, ceiling);  // the last two are masked (<= 0.4)
  EXPECT_DOUBLE_EQ(n[0].item<double>(), 0.5);
  EXPECT_DOUBLE_EQ(n[1].item<double>(), 0.5);
  EXPECT_TRUE(std::isnan(n[2].item<double>()));
  EXPECT_TRUE(std::isnan(n[3].item<double>()));
  MeanSem all = Summarize(torch::tensor({1.0, 2.0, 3.0, std::nan("")}, torch::kFloat64));
  EXPECT_EQ(all.n, 3);
  EXPECT_DOUBLE_EQ(all.mean, 2.0);
  EXPECT_NEAR(all.sem, 1.0 / std::sqrt(3.0), 1e-12);  // sample std 1
  auto rois = SummarizeRois(torch::tensor({1.0, 2.0, 3.0, 5.0}, torch::kFloat64), {{"a", {0, 1}}, {"b", {3}}});
  EXPECT_DOUBLE_EQ(rois.at("a").mean, 1.5);
  EXPECT_EQ(rois.at("b").n, 1);
  EXPECT_EQ(rois.at("b").sem, 0.0);
}

TEST(MetricsTest, PearsonPerfectInverseAndConstant) {
  torch::Tensor a = torch::tensor({1.0, 2.0, 3.0, 5.0}, torch::kFloat64).reshape({4, 1});
  torch::Tensor actual = torch::cat({a, a, a}, 1);
  torch::Tensor predicted = torch::cat({2 * a + 1, -a, torch::ones_like(a)}, 1);
  torch::Tensor r = PearsonPerTarget(predicted, actual);
  EXPECT_NEAR(r[0].item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(r[1].item<double>(), -1.0, 1e-12);
  EXPECT_EQ(r[2].item<double>(), 0.0);
}

data::Dataset Synthetic(const std::string& path, int repeats, double noise) {
  data::SynthOptions o;
  o.participants = 2;
  o.stories = 6;
  o.story_seconds = 400;  // 200 TRs a story
  o.targets = 16;
  o.noise = noise;
  o.n_repeats = repeats;
  EXPECT_TRUE(data::WriteSyntheticDataset(path, o).ok());
  auto d = data::ReadDataset(path);
  EXPECT_TRUE(d.ok()) << d.status();
  return *d;
}

// The stored noise_ceiling is the exact correlation a single presentation allows; Schoppe's
// estimate from 10 repeats (averaged = 1) must find it within sampling error.
TEST(MetricsTest, EstimatedCeilingMatchesTheSyntheticGroundTruth) {
  testing::TempDir dir;
  const data::Dataset d = Synthetic(dir.File("ceiling.h5"), /*repeats=*/10, /*noise=*/0.7);
  for (const data::Participant& p : d.participants) {
    const data::Repeats& r = p.repeats.begin()->second;
    torch::Tensor repeats =
        torch::tensor(r.values, torch::kFloat32).reshape({r.n_repeats, r.n_times, r.n_targets});
    torch::Tensor estimated = NoiseCeiling(repeats, 1);
    torch::Tensor truth = torch::tensor(p.noise_ceiling, torch::kFloat32).to(torch::kFloat64);
    const double mean_error = (estimated - truth).mean().item<double>();
    const double worst = (estimated - truth).abs().max().item<double>();
    std::cout << p.id << ": true ceiling " << truth.mean().item<double>() << ", estimated "
              << estimated.mean().item<double>() << " (worst target off by " << worst << ")\n";
    EXPECT_LT(std::abs(mean_error), 0.02) << p.id;
    EXPECT_LT(worst, 0.1) << p.id;  // 200 TRs x 10 repeats: a target's estimate varies by ~0.02
    // Averaging presentations raises the ceiling.
    EXPECT_GT(NoiseCeiling(repeats, 10).mean().item<double>(), estimated.mean().item<double>() + 0.05);
  }
}

// Ridge on the true latents (FIR delays 1..4 TRs, alphas by contiguous folds), trained on five
// stories, predicts the held-out story's single presentation at the noise ceiling.
TEST(MetricsTest, TrueLatentsReachTheCeilingOnAHeldOutStory) {
  testing::TempDir dir;
  const data::Dataset d = Synthetic(dir.File("latents.h5"), /*repeats=*/2, /*noise=*/0.5);
  const data::Participant& p = d.participants[0];
  std::vector<torch::Tensor> xs, ys;
  for (const data::Run& run : p.runs) {
    const data::Story* story = d.FindStory(run.story);
    std::vector<torch::Tensor> columns;
    for (const char* name : {"envelope", "phoneme_rate", "word_rate", "semantic"}) {
      const data::Feature& f = story->features.at(name);
      columns.push_back(FromVector(f.values, f.n_frames, f.dim));
    }
    torch::Tensor x = Delay(torch::cat(columns, 1));
    const int64_t trim = 5;  // as the trainer trims: the delays reach before the story
    xs.push_back(x.slice(0, trim));
    ys.push_back(FromVector(run.responses, run.n_times, run.n_targets).slice(0, trim));
  }
  const size_t test = xs.size() - 1;
  torch::Tensor x_train = torch::cat(std::vector<torch::Tensor>(xs.begin(), xs.begin() + test));
  torch::Tensor y_train = torch::cat(std::vector<torch::Tensor>(ys.begin(), ys.begin() + test));
  RidgeModel model = FitRidgeCV(x_train, y_train, RidgeOptions());
  torch::Tensor r = PearsonPerTarget(model.Predict(xs[test]), ys[test]);
  torch::Tensor ceiling = torch::tensor(p.noise_ceiling, torch::kFloat32).to(torch::kFloat64);
  const double normalized = (r / ceiling).mean().item<double>();
  std::cout << "held-out r " << r.mean().item<double>() << ", ceiling " << ceiling.mean().item<double>()
            << ", normalized " << normalized << "\n";
  EXPECT_GT(normalized, 0.9);
  EXPECT_LT(normalized, 1.1);
  // Both ROIs are explained to their ceiling by the true latents.
  for (const auto& [name, s] : SummarizeRois(NormalizedScores(r, ceiling), p.rois)) {
    std::cout << name << ": normalized " << s.mean << " +- " << s.sem << " (" << s.n << " targets)\n";
    EXPECT_GT(s.mean, 0.85) << name;
  }
  // Without the alignment (features of another story) the same fit scores near zero.
  torch::Tensor wrong = PearsonPerTarget(model.Predict(xs[0].slice(0, 0, ys[test].size(0))), ys[test]);
  EXPECT_LT(wrong.mean().item<double>(), 0.2);
}

TEST(MetricsTest, LanczosKeepsSlowSignalsAndZeroesFarInputs) {
  // A constant at 10 Hz resampled to 0.5 Hz: the kernel sums to the ratio of rates (20).
  torch::Tensor from = torch::arange(0, 60, 0.1, torch::kFloat64);
  torch::Tensor to = torch::arange(10, 50, 2.0, torch::kFloat64);
  torch::Tensor out = LanczosResample(torch::ones({from.size(0), 1}, torch::kFloat64), from, to);
  EXPECT_NEAR(out.mean().item<double>(), 20.0, 0.2);
  // One impulse at 20 s reaches the outputs within 3 lobes (6 s) and no others.
  torch::Tensor impulse = torch::zeros({from.size(0), 1}, torch::kFloat64);
  impulse[200][0] = 1;
  torch::Tensor seen = LanczosResample(impulse, from, to).reshape(-1);
  for (int64_t i = 0; i < to.size(0); ++i) {
    const double dt = std::abs(to[i].item<double>() - 20.0);
    if (dt > 6) {
      EXPECT_EQ(seen[i].item<double>(), 0.0) << dt;
    }
  }
  EXPECT_EQ(seen[5].item<double>(), 1.0);  // the output at exactly 20 s
}

TEST(MetricsTest, LanczosUpsamplingInterpolatesEveryOutput) {
  // Model features every 100 ms to MEG samples every 5 ms: no output may be left without
  // inputs in reach, and a slow sine comes through unchanged (weights sum to 1).
  torch::Tensor from = torch::arange(0, 30, 0.1, torch::kFloat64);
  torch::Tensor to = torch::arange(5, 25, 0.005, torch::kFloat64);
  torch::Tensor out = LanczosResample(torch::sin(from * 0.5).unsqueeze(1), from, to).reshape(-1);
  EXPECT_LT((out - torch::sin(to * 0.5)).abs().max().item<double>(), 0.02);
}

// The word-length control of design.md section 1 on the synthetic brain: a letters-per-word
// feature "predicts" the auditory ROI (driven by the phoneme rate) because spelling tracks
// pronunciation; once phoneme counts are regressed out of it, most of that alignment goes.
TEST(MetricsTest, LetterCountAlignmentMostlyGoesWhenPhonemeCountIsRemoved) {
  testing::TempDir dir;
  data::SynthOptions o;
  o.participants = 1;
  o.stories = 6;
  o.story_seconds = 400;
  o.targets = 16;
  o.noise = 0.3;
  ASSERT_TRUE(data::WriteSyntheticDataset(dir.File("confound.h5"), o).ok());
  auto d = data::ReadDataset(dir.File("confound.h5"));
  ASSERT_TRUE(d.ok()) << d.status();
  const data::Participant& p = d->participants[0];
  const std::vector<int32_t>& auditory = p.rois.at("auditory");
  torch::Tensor roi = torch::tensor(std::vector<int64_t>(auditory.begin(), auditory.end()));
  const int64_t trim = 5;
  std::vector<torch::Tensor> letters, phonemes, ys;
  for (const data::Run& run : p.runs) {
    torch::Tensor to = torch::arange(run.n_times, torch::kFloat64) * run.tr + run.tr;  // end of each TR
    auto at_trs = [&](const std::string& name) {
      auto v = StimulusFeature(*d->FindStory(run.story), name);
      EXPECT_TRUE(v.ok()) << v.status();
      return Delay(LanczosResample(v->values, v->times, to)).slice(0, trim);
    };
    letters.push_back(at_trs("letters"));
    phonemes.push_back(at_trs("phonemes"));
    ys.push_back(FromVector(run.responses, run.n_times, run.n_targets).index_select(1, roi).slice(0, trim));
  }
  const size_t test = ys.size() - 1;
  auto train = [&](const std::vector<torch::Tensor>& xs) {
    return torch::cat(std::vector<torch::Tensor>(xs.begin(), xs.begin() + test));
  };
  auto encode = [&](const torch::Tensor& x_train, const torch::Tensor& x_test) {
    RidgeModel m = FitRidgeCV(x_train, train(ys), RidgeOptions());
    return PearsonPerTarget(m.Predict(x_test), ys[test]).mean().item<double>();
  };
  Residuals removed = RemoveConfounds(train(letters), train(phonemes), letters[test], phonemes[test], RidgeOptions());
  const double before = encode(train(letters), letters[test]), after = encode(removed.train, removed.test);
  std::cout << "auditory ROI, held-out r of the letter-count feature: " << before
            << "; with phoneme count removed: " << after << "\n";
  EXPECT_GT(before, 0.3);
  EXPECT_LT(after, 0.5 * before);
}

// The erasure control's concepts, one value per word: Unicode letters (not bytes), the word's
// log frequency in the dataset's stories (case-folded) unless a frequency is stored, and any
// stored feature with a row per word; a stored feature of another length, and a story without
// words, are refused naming the dataset path.
TEST(MetricsTest, WordConceptsHaveOneValuePerWord) {
  data::Dataset d;
  data::Story a, b;
  a.name = "a";
  a.words = {{0, 1, "Caf\xc3\xa9,"}, {1, 2, "the"}, {2, 3, "The"}};
  b.name = "b";
  b.words = {{0, 1, "the"}, {1, 2, "\xc3\x9f\xc3\x9f"}};
  d.stories = {a, b};
  // One story's concept, through the call the erasure control makes for all its stories.
  auto concept_of = [&](const std::string& story, const std::string& concept) -> absl::StatusOr<torch::Tensor> {
    auto all = WordConcepts(d, {story}, concept);
    if (!all.ok()) return all.status();
    return all->at(story);
  };
  auto letters = concept_of("a", "letters");
  ASSERT_TRUE(letters.ok()) << letters.status();
  EXPECT_EQ(letters->sizes(), (std::vector<int64_t>{3, 1}));
  EXPECT_DOUBLE_EQ((*letters)[0][0].item<double>(), 4) << "4 letters in 'Cafe,' with an accent, not 5 bytes";
  auto frequency = concept_of("a", "word_frequency");
  ASSERT_TRUE(frequency.ok()) << frequency.status();
  EXPECT_DOUBLE_EQ((*frequency)[0][0].item<double>(), std::log10(2.0));
  EXPECT_DOUBLE_EQ((*frequency)[1][0].item<double>(), std::log10(4.0)) << "'the' twice and 'The' once";
  EXPECT_DOUBLE_EQ((*frequency)[2][0].item<double>(), std::log10(4.0));
  // A stored per-word feature (two columns), and a stored frequency, are taken as they are.
  data::Feature valence{3, 2, {1, 2, 3, 4, 5, 6}, {0.5, 1.5, 2.5}};
  d.stories[0].features["valence"] = valence;
  d.stories[0].features["word_frequency"] = data::Feature{3, 1, {7, 8, 9}, {0.5, 1.5, 2.5}};
  auto stored = concept_of("a", "valence");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_DOUBLE_EQ((*stored)[2][1].item<double>(), 6);
  auto stored_frequency = concept_of("a", "word_frequency");
  ASSERT_TRUE(stored_frequency.ok()) << stored_frequency.status();
  EXPECT_DOUBLE_EQ((*stored_frequency)[1][0].item<double>(), 8);
  d.stories[1].features["valence"] = data::Feature{1, 2, {1, 2}, {0.5}};
  auto short_feature = concept_of("b", "valence");
  ASSERT_FALSE(short_feature.ok());
  EXPECT_NE(short_feature.status().message().find("/stimuli/b/features/valence: 1 rows for 2 words"), std::string::npos)
      << short_feature.status();
  auto missing = concept_of("b", "arousal");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("(/stimuli/b/features/arousal)"), std::string::npos) << missing.status();
  d.stories[1].words.clear();
  auto no_words = concept_of("b", "letters");
  ASSERT_FALSE(no_words.ok());
  EXPECT_NE(no_words.status().message().find("(/stimuli/b/words)"), std::string::npos) << no_words.status();
}

// The paired test across participants: exact sign flips for small groups.
TEST(MetricsTest, PairedSignFlipTestIsExactForSmallGroups) {
  // Four participants all better by 1..4: only "all +" and "all -" are as extreme, p = 2/16.
  PairedTestResult t = PairedSignFlipTest({0, 0, 0, 0}, {1, 2, 3, 4});
  EXPECT_EQ(t.n, 4);
  EXPECT_EQ(t.permutations, 16);
  EXPECT_DOUBLE_EQ(t.p_value, 2.0 / 16);
  EXPECT_DOUBLE_EQ(t.mean_difference, 2.5);
  EXPECT_NEAR(t.sem_difference, std::sqrt(5.0 / 3) / 2, 1e-12);
  // Differences that cancel: every flip is at least as extreme.
  EXPECT_DOUBLE_EQ(PairedSignFlipTest({0, 0, 0, 0}, {1, -1, 1, -1}).p_value, 1.0);
  // A NaN pair is dropped.
  EXPECT_EQ(PairedSignFlipTest({0, std::nan(""), 0}, {1, 1, 2}).n, 2);
  // 20 participants: random flips; a consistent improvement is significant.
  std::vector<double> a(20, 0.1), b;
  for (int i = 0; i < 20; ++i) b.push_back(0.2 + 0.01 * (i % 3));
  PairedTestResult many = PairedSignFlipTest(a, b);
  EXPECT_EQ(many.permutations, 10000);
  EXPECT_LT(many.p_value, 0.001);
}

}  // namespace
}  // namespace braintune::eval

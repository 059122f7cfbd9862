// The linear probes (src/eval/probes.h) on features whose information is known: a layer that
// carries the label is probed near perfectly, one that does not near chance, and items are
// matched to the window that has just heard them.
#include "eval/probes.h"

#include <torch/torch.h>

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace braintune::eval {
namespace {

// Stories of words 0.4 s apart, each word's class cycling pseudo-randomly through 4, and
// 2 phonemes per word; participants hear every story, the last is the test story.
void MakeParticipants(int stories, int words_per_story, Participants* out) {
  Participants& j = *out;
  std::mt19937 rng(1);
  for (int s = 0; s < stories; ++s) {
    data::Story story;
    story.name = "story_" + std::to_string(s);
    for (int w = 0; w < words_per_story; ++w) {
      const double onset = 0.4 * w + 0.05;
      story.words.push_back({onset, onset + 0.3, "w"});
      story.word_classes.push_back(static_cast<int32_t>(rng() % 4));
      story.phonemes.push_back({onset, onset + 0.15, w % 2 ? "AA" : "S"});
      story.phonemes.push_back({onset + 0.15, onset + 0.3, "T"});
    }
    j.heard.insert(story.name);
    j.dataset.stories.push_back(std::move(story));
  }
  j.test_stories = {"story_" + std::to_string(stories - 1)};
}

// Features every 0.1 s: `informative` puts the class of the word that ended most recently in
// one-hot columns (plus noise); otherwise noise only.
LayerFeatures MakeFeatures(const Participants& j, bool informative) {
  LayerFeatures out;
  torch::manual_seed(0);
  for (const data::Story& s : j.dataset.stories) {
    const int64_t m = static_cast<int64_t>(s.words.size()) * 4 + 4;
    StoryFeatures f;
    f.times = torch::arange(1, m + 1, torch::kFloat64) * 0.1;
    f.values = 0.3 * torch::randn({m, 8});
    if (informative) {
      for (size_t w = 0; w < s.words.size(); ++w) {
        // The windows that end after the word, until the next word ends.
        for (int64_t r = 0; r < m; ++r) {
          const double t = f.times[r].item<double>();
          if (t >= s.words[w].offset - 1e-9 && t < s.words[w].offset + 0.4 - 1e-9) {
            f.values[r][s.word_classes[w]] += 1.0;
          }
        }
      }
    }
    out[s.name] = f;
  }
  return out;
}

TEST(ProbesTest, ALayerCarryingTheWordClassIsProbedWellOneWithoutItAtChance) {
  Participants j;
  MakeParticipants(5, 60, &j);
  RidgeOptions ridge;
  const ProbeResult good = RunProbe(j, MakeFeatures(j, true), 3, kWordClassProbe, ridge);
  EXPECT_EQ(good.layer, 3);
  EXPECT_EQ(good.classes, 4);
  EXPECT_EQ(good.train_items, 240);
  EXPECT_EQ(good.test_items, 60);
  EXPECT_GT(good.accuracy, 0.95);
  EXPECT_LT(good.chance, 0.5);
  const ProbeResult noise = RunProbe(j, MakeFeatures(j, false), 3, kWordClassProbe, ridge);
  EXPECT_LT(noise.accuracy, noise.chance + 0.2);
  EXPECT_NEAR(noise.chance, good.chance, 1e-12);  // chance depends on the labels only
  // The training stories alone tell the two layers apart (cross-validated), the score a probe's
  // layer is chosen on without looking at the test story.
  EXPECT_GT(good.cv_accuracy, 0.95);
  EXPECT_LT(noise.cv_accuracy, 0.45);
}

TEST(ProbesTest, PhonemesAreItemsAndMissingLabelsAreNamed) {
  Participants j;
  MakeParticipants(3, 20, &j);
  RidgeOptions ridge;
  const ProbeResult p = RunProbe(j, MakeFeatures(j, false), 0, kPhonemeProbe, ridge);
  EXPECT_EQ(p.classes, 3);  // S, AA, T
  EXPECT_EQ(p.train_items, 80);
  EXPECT_EQ(p.test_items, 40);
  EXPECT_NEAR(p.chance, 0.5, 1e-12);  // T is half of the phonemes
  EXPECT_EQ(ProbeUnavailable(j, kPhonemeProbe), "");
  j.dataset.stories[1].word_classes.clear();
  EXPECT_NE(ProbeUnavailable(j, kWordClassProbe).find("no word classes"), std::string::npos);
}

// context_class: the class that dominates the last seconds of words, by duration and recency.
TEST(ProbeTest, ContextClassIsTheClassOfTheLastSecondsNotOfTheWord) {
  data::Story s;
  // Three long words of class 2, then a short word of class 0: the context is still class 2.
  for (int w = 0; w < 3; ++w) {
    s.words.push_back({1.0 * w, 1.0 * w + 0.9, "long"});
    s.word_classes.push_back(2);
  }
  s.words.push_back({3.0, 3.2, "short"});
  s.word_classes.push_back(0);
  // 20 s of silence, then one word of class 1: the old words have faded (exp(-5) each).
  s.words.push_back({23.2, 23.6, "late"});
  s.word_classes.push_back(1);
  // Then shorter class 3 words: one does not outweigh the class 1 word (0.3 < 0.4 exp(-0.1)), two do.
  for (int w = 0; w < 3; ++w) {
    s.words.push_back({23.7 + 0.4 * w, 24.0 + 0.4 * w, "next"});
    s.word_classes.push_back(3);
  }
  EXPECT_EQ(ContextClasses(s), (std::vector<int32_t>{2, 2, 2, 2, 1, 1, 3, 3}));
  // A tie (one word of each class, same length, same end) goes to the current word's class.
  data::Story tie;
  tie.words = {{0, 0.5, "a"}, {0, 0.5, "b"}};
  tie.word_classes = {1, 0};
  EXPECT_EQ(ContextClasses(tie), (std::vector<int32_t>{1, 0}));
}

}  // namespace
}  // namespace braintune::eval

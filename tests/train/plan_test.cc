#include "train/plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace braintune::train {
namespace {

TEST(AssignParticipantsTest, BalancesBySamplesNotCount) {
  auto a = AssignParticipants({{"p1", 1000}, {"p2", 300}, {"p3", 300}, {"p4", 300}, {"p5", 100}}, 2);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0], (std::vector<std::string>{"p1"}));
  EXPECT_EQ((*a)[1], (std::vector<std::string>{"p2", "p3", "p4", "p5"}));
}

TEST(AssignParticipantsTest, DeterministicAndEveryRankOwnsSomeone) {
  std::vector<ParticipantLoad> loads = {{"a", 10}, {"b", 10}, {"c", 10}};
  auto x = AssignParticipants(loads, 3);
  auto y = AssignParticipants({loads[2], loads[0], loads[1]}, 3);
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_EQ(*x, *y);
  for (const auto& ids : *x) EXPECT_EQ(ids.size(), 1u);
}

TEST(AssignParticipantsTest, MoreRanksThanParticipantsIsAClearError) {
  auto a = AssignParticipants({{"a", 10}}, 2);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(std::string(a.status().message()).find("only 1 participants"), std::string::npos);
}

data::Dataset TwoStories() {
  data::Dataset ds;
  ds.path = "mem.h5";
  for (const char* name : {"s1", "s2"}) {
    data::Story s;
    s.name = name;
    s.sample_rate = 10;
    s.audio.resize(200);
    s.n_samples = 200;
    std::iota(s.audio.begin(), s.audio.end(), 0.0f);
    ds.stories.push_back(s);
  }
  data::Participant p;
  p.id = "p";
  p.space = "x";
  p.n_targets = 1;
  for (const char* name : {"s1", "s2"}) {
    data::Run run;
    run.story = name;
    run.n_times = 10;
    run.n_targets = 1;
    run.tr = 2.0;
    p.runs.push_back(run);
  }
  ds.participants.push_back(p);
  return ds;
}

TEST(PlanTest, TrimsAndHoldsOutTheLastStoryByDefault) {
  config::DataSpec spec;
  spec.context_trs = 2;
  spec.trim_start = 2;
  spec.trim_end = 1;
  auto plan = MakePlan(TwoStories(), spec, model::NoContract());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->test_story_names, "s2");
  EXPECT_EQ(plan->train_windows.size(), 7u);  // TRs 2..8 of s1
  EXPECT_EQ(plan->test_windows.size(), 7u);
  EXPECT_EQ(plan->window_samples, 40);        // 2 TRs of 2 s at 10 Hz
}

TEST(PlanTest, WindowEndsWithItsTrAndIsZeroPaddedBeforeTheStory) {
  config::DataSpec spec;
  spec.context_trs = 2;
  spec.trim_start = 0;
  spec.trim_end = 0;
  data::Dataset ds = TwoStories();
  auto plan = MakePlan(ds, spec, model::NoContract());
  ASSERT_TRUE(plan.ok());
  std::vector<float> w(plan->window_samples);
  CutWindow(*plan, ds.stories[0].audio, {0, 0}, w.data());  // TR 0 covers 0..2 s: samples 0..19
  for (int k = 0; k < 20; ++k) EXPECT_EQ(w[k], 0.0f);
  for (int k = 20; k < 40; ++k) EXPECT_EQ(w[k], static_cast<float>(k - 20));
  CutWindow(*plan, ds.stories[0].audio, {0, 3}, w.data());  // TR 3 ends at 8 s: samples 40..79
  EXPECT_EQ(w[0], 40.0f);
  EXPECT_EQ(w[39], 79.0f);
}

// The audio per sample: context_trs TRs for fMRI, 1 s for MEG (samples 10 ms apart), or
// context_seconds when set.
TEST(PlanTest, WindowLengthFollowsModalityOrContextSeconds) {
  config::DataSpec spec;
  spec.trim_start = 0;
  spec.trim_end = 0;
  data::Dataset meg = TwoStories();
  meg.modality = "meg";
  for (auto& run : meg.participants[0].runs) run.tr = 0.01;
  auto plan = MakePlan(meg, spec, model::NoContract());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->window_samples, 10);  // 1 s at 10 Hz
  std::vector<float> w(plan->window_samples);
  CutWindow(*plan, meg.stories[0].audio, {0, 9}, w.data());  // sample 9 ends at 0.1 s
  EXPECT_EQ(w[9], 0.0f);  // the sound starts at 0 s: everything before is padding
  spec.context_seconds = 3;
  plan = MakePlan(meg, spec, model::NoContract());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->window_samples, 30);
  plan = MakePlan(TwoStories(), spec, model::NoContract());  // fMRI too
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->window_samples, 30);
}

TEST(PlanTest, UnknownTestStoryAndOverTrimmingAreErrors) {
  config::DataSpec spec;
  spec.test_stories = {"nope"};
  auto plan = MakePlan(TwoStories(), spec, model::NoContract());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(std::string(plan.status().message()).find("data.test_stories: 'nope'"), std::string::npos);
  config::DataSpec trimmed;
  trimmed.trim_start = 8;
  trimmed.trim_end = 5;
  plan = MakePlan(TwoStories(), trimmed, model::NoContract());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(std::string(plan.status().message()).find("after trimming"), std::string::npos);
}


TEST(ShardingTableTest, NamesWholeParticipantsAndSplitOnesByStory) {
  Plan plan;
  for (const char* name : {"s1", "s2"}) {
    StoryTiming story;
    story.name = name;
    plan.stories.push_back(story);
  }
  plan.test_story_names = "s2";
  plan.train_windows.resize(7);
  plan.window_samples = 40;
  // q's stories are all on rank 0; p's are split across the ranks.
  const std::vector<std::vector<Shard>> assignment = {{{"p", 0, 10, 7}, {"q", 0, 10, 7}, {"q", 1, 10, 0}},
                                                      {{"p", 1, 10, 0}}};
  EXPECT_EQ(ShardingTable(plan, assignment, 2),
            "braintune-train: 2 ranks, 2 participants, 2 stories (test: s2), 7 training windows of 40 samples\n"
            "  rank 0: p:s1, q (14 training samples)\n"
            "  rank 1: p:s2 (0 training samples)\n");
}

}  // namespace
}  // namespace braintune::train

// What an export records of its lineage (train/tuning_record.h): the participants of every
// training, the stories every step held out, and a record that is not one refused naming it.
#include "train/tuning_record.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/process.h"

namespace braintune::train {
namespace {

std::vector<std::string> List(const google::protobuf::RepeatedPtrField<std::string>& f) { return {f.begin(), f.end()}; }

TEST(TuningRecordTest, ALineageJoinsParticipantsAndKeepsOnlyStoriesEveryStepHeldOut) {
  v1::TuningRecord base;
  base.add_participants("sub-03");
  base.add_test_stories("story_18");
  base.add_test_stories("story_19");
  const v1::TuningRecord r = Lineage(base, {"sub-01", "sub-03"}, {"story_17", "story_19"});
  EXPECT_EQ(List(r.participants()), (std::vector<std::string>{"sub-01", "sub-03"}));
  EXPECT_EQ(List(r.test_stories()), std::vector<std::string>{"story_19"});  // story_17 tuned the base
  // A pretraining: no one's responses; a base from elsewhere (no record): this job's own.
  const v1::TuningRecord pre = Lineage(std::nullopt, {}, {"story_19"});
  EXPECT_EQ(pre.participants_size(), 0);
  EXPECT_EQ(List(Lineage(pre, {"sub-02"}, {"story_18"}).test_stories()), std::vector<std::string>{});
}

TEST(TuningRecordTest, ReadsWhatWasWrittenAndRefusesWhatIsNotARecord) {
  testing::TempDir dir;
  auto none = ReadTuningRecord(dir.path());
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());  // a model from elsewhere
  ASSERT_TRUE(WriteTuningRecord(dir.path(), Lineage(std::nullopt, {"sub-01"}, {"story_02"})).ok());
  auto back = ReadTuningRecord(dir.path());
  ASSERT_TRUE(back.ok() && back->has_value()) << back.status();
  EXPECT_EQ(List((*back)->participants()), std::vector<std::string>{"sub-01"});
  EXPECT_EQ(List((*back)->test_stories()), std::vector<std::string>{"story_02"});

  const std::string file = dir.File(kTuningRecordFile);
  std::ofstream(file, std::ios::trunc) << "[1, 2]";
  auto bad = ReadTuningRecord(dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(file + ": not a tuning record"), std::string::npos) << bad.status();
  std::ofstream(file, std::ios::trunc) << std::string((1 << 20) + 1, ' ');
  EXPECT_NE(ReadTuningRecord(dir.path()).status().message().find("over 1 MiB"), std::string::npos);
  std::filesystem::remove(file);
  std::filesystem::create_directory(file);
  EXPECT_NE(ReadTuningRecord(dir.path()).status().message().find("not a regular file"), std::string::npos);
  // A link is refused, not followed (to another user's record, or to a device).
  std::filesystem::remove(file);
  std::filesystem::create_directory(dir.File("other"));
  ASSERT_TRUE(WriteTuningRecord(dir.File("other"), Lineage(std::nullopt, {"sub-09"}, {})).ok());
  std::filesystem::create_symlink(dir.File("other/") + kTuningRecordFile, file);
  EXPECT_NE(ReadTuningRecord(dir.path()).status().message().find("not a regular file"), std::string::npos);
  // A directory that cannot be looked into is an error, not a model never tuned (once it was).
  const std::string long_name = dir.File(std::string(300, 'a'));
  auto unreadable = ReadTuningRecord(long_name);
  ASSERT_FALSE(unreadable.ok());
  EXPECT_NE(unreadable.status().message().find("cannot read the tuning record"), std::string::npos)
      << unreadable.status();
}

}  // namespace
}  // namespace braintune::train

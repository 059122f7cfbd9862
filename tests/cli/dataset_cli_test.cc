// The dataset tools as a user runs them: the real `braintune` binary on real HDF5 files.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include "data/synthetic.h"
#include "testing/process.h"

namespace braintune {
namespace {

using testing::Binary;
using testing::RunCommand;

google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct s;
  auto status = google::protobuf::util::JsonStringToMessage(json, &s);
  EXPECT_TRUE(status.ok()) << json;
  return s;
}

TEST(DatasetCliTest, SynthThenValidateAndInspect) {
  testing::TempDir dir;
  const std::string file = dir.File("brain.h5");
  auto synth = RunCommand(Binary("braintune") + " dataset synth --out " + file +
                          " --participants 3 --stories 3 --story-seconds 40 --targets 8");
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  auto valid = RunCommand(Binary("braintune") + " dataset validate " + file);
  EXPECT_EQ(valid.exit_code, 0) << valid.output;
  EXPECT_NE(valid.output.find("valid braintune dataset"), std::string::npos) << valid.output;

  auto inspect = RunCommand(Binary("braintune") + " dataset inspect " + file + " --output json");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  auto s = ParseJson(inspect.output);
  EXPECT_EQ(s.fields().at("modality").string_value(), "fmri");
  EXPECT_EQ(s.fields().at("stories").number_value(), 3);
  const auto& participants = s.fields().at("participants").list_value();
  ASSERT_EQ(participants.values_size(), 3);
  const auto& p0 = participants.values(0).struct_value().fields();
  EXPECT_EQ(p0.at("id").string_value(), "sub-01");
  EXPECT_EQ(p0.at("n_targets").number_value(), 8);
  EXPECT_EQ(p0.at("samples").number_value(), 60);  // 3 stories x 20 TRs

  // Issue 21: every story, with its duration, annotations, features and who heard it.
  const auto& stories = s.fields().at("story_list").list_value();
  ASSERT_EQ(stories.values_size(), 3);
  const auto& st = stories.values(2).struct_value().fields();
  EXPECT_EQ(st.at("name").string_value(), "story_02");
  EXPECT_NEAR(st.at("seconds").number_value(), 40, 0.01);
  EXPECT_GT(st.at("words").number_value(), 10);
  EXPECT_GT(st.at("phonemes").number_value(), st.at("words").number_value());
  EXPECT_EQ(st.at("heard_by").list_value().values_size(), 3);
  EXPECT_EQ(st.at("repeated_by").list_value().values_size(), 3) << "the last story has the repeats";
  EXPECT_EQ(stories.values(0).struct_value().fields().at("repeated_by").list_value().values_size(), 0);
  EXPECT_GE(st.at("features").list_value().values_size(), 4);
  // A stable key order: two runs print the same bytes, keys sorted.
  auto again = RunCommand(Binary("braintune") + " dataset inspect " + file + " --output json");
  EXPECT_EQ(again.output, inspect.output);
  EXPECT_LT(inspect.output.find("\"features\""), inspect.output.find("\"modality\""));

  auto table = RunCommand(Binary("braintune") + " dataset inspect " + file);
  EXPECT_NE(table.output.find("PARTICIPANT"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("STORY"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("story_02  40.0"), std::string::npos) << table.output;
}

TEST(DatasetCliTest, MegSynthIsValid) {
  testing::TempDir dir;
  const std::string file = dir.File("meg.h5");
  auto synth = RunCommand(Binary("braintune") + " dataset synth --modality meg --out " + file +
                          " --participants 2 --stories 2 --story-seconds 20 --targets 4");
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  auto inspect = RunCommand(Binary("braintune") + " dataset inspect " + file + " --output json");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_EQ(ParseJson(inspect.output).fields().at("modality").string_value(), "meg");
}

TEST(DatasetCliTest, ValidateListsEveryProblemWithItsPathAndFails) {
  testing::TempDir dir;
  const std::string file = dir.File("bad.h5");
  data::SynthOptions o;
  o.participants = 2;
  o.stories = 2;
  o.story_seconds = 20;
  o.targets = 4;
  ASSERT_TRUE(data::WriteSyntheticDataset(file, o).ok());
  // Break two unrelated things: a NaN in one participant's responses, and a wrong attribute.
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t ds = H5Dopen2(f, "/participants/sub-01/runs/story_00/responses", H5P_DEFAULT);
  std::vector<float> values(10 * 4);
  ASSERT_GE(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  values[5] = std::nanf("");
  ASSERT_GE(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  H5Dclose(ds);
  hid_t group = H5Gopen2(f, "/participants/sub-02", H5P_DEFAULT);
  H5Adelete(group, "n_targets");
  H5Gclose(group);
  H5Fclose(f);

  auto r = RunCommand(Binary("braintune") + " dataset validate " + file);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("/participants/sub-01/runs/story_00/responses"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("NaN"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/participants/sub-02"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("n_targets"), std::string::npos) << r.output;
  auto json = RunCommand(Binary("braintune") + " dataset validate " + file + " --output json");
  EXPECT_EQ(json.exit_code, 1);
  auto s = ParseJson(json.output);
  EXPECT_FALSE(s.fields().at("valid").bool_value());
  EXPECT_GE(s.fields().at("problems").list_value().values_size(), 2);
}

TEST(DatasetCliTest, MissingFileAndBadFlagsAreClearErrors) {
  auto missing = RunCommand(Binary("braintune") + " dataset inspect /nonexistent/x.h5");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("/nonexistent/x.h5"), std::string::npos) << missing.output;
  auto bad = RunCommand(Binary("braintune") + " dataset synth --out /tmp/x.h5 --modality eeg");
  EXPECT_EQ(bad.exit_code, 2);
  auto lebel = RunCommand(Binary("braintune") + " dataset import-lebel /nonexistent --out /tmp/y.h5");
  EXPECT_EQ(lebel.exit_code, 1);
  EXPECT_NE(lebel.output.find("/nonexistent"), std::string::npos) << lebel.output;
}

}  // namespace
}  // namespace braintune

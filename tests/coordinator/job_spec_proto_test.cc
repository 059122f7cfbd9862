#include "coordinator/job_spec_proto.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "absl/strings/str_split.h"
#include "config/job_spec.h"

namespace braintune::coordinator {
namespace {

// Every resources key, each away from its default.
constexpr char kEveryResourcesKey[] =
    "name: all-keys\n"
    "kind: evaluate\n"
    "data: {path: /d.h5}\n"
    "evaluation: {models: [{name: base}]}\n"
    "resources:\n"
    "  ranks: 6\n"
    "  gpus_per_rank: 2\n"
    "  gpu_memory_gb: 40.5\n"
    "  priority: 700\n"
    "  group: huth-lab\n"
    "  preemptible: false\n"
    "  max_restarts: 7\n"
    "  restart_backoff_seconds: 12.5\n";

// The keys the parser knows under resources, read from its own error for an unknown key: when a
// key is added to the spec, this test fails until kEveryResourcesKey (and so the mapping) has it.
std::set<std::string> ResourcesKeysTheParserKnows() {
  auto bad = config::ParseJobSpec("name: x\ndata: {path: /d.h5}\nresources: {no_such_key: 1}\n", "probe.yaml");
  EXPECT_FALSE(bad.ok());
  std::smatch m;
  const std::string message(bad.status().message());
  EXPECT_TRUE(std::regex_search(message, m, std::regex(R"(known keys here: ([^)]*)\))"))) << message;
  std::set<std::string> keys;
  for (absl::string_view k : absl::StrSplit(m[1].str(), ", ")) keys.insert(std::string(k));
  return keys;
}

TEST(JobSpecProtoTest, EveryResourcesKeyReachesTheTypedFields) {
  std::set<std::string> written;
  const std::string text = kEveryResourcesKey;
  const std::regex indented_key(R"(\n  (\w+):)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), indented_key); it != std::sregex_iterator(); ++it) {
    written.insert((*it)[1].str());
  }
  EXPECT_EQ(written, ResourcesKeysTheParserKnows());

  auto spec = JobSpecProtoFromText(kEveryResourcesKey, "/labs/all.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "all-keys");
  EXPECT_EQ(spec->kind(), "evaluate");
  EXPECT_EQ(spec->ranks(), 6);
  EXPECT_EQ(spec->gpus_per_rank(), 2);
  EXPECT_EQ(spec->gpu_memory_mb(), 41472);
  EXPECT_EQ(spec->priority(), 700);
  EXPECT_EQ(spec->group(), "huth-lab");
  EXPECT_FALSE(spec->preemptible());
  EXPECT_EQ(spec->max_restarts(), 7);
  EXPECT_DOUBLE_EQ(spec->restart_backoff_sec(), 12.5);
  EXPECT_EQ(spec->spec_yaml(), kEveryResourcesKey);
  EXPECT_EQ(spec->source_file(), "/labs/all.yaml");
}

TEST(JobSpecProtoTest, DefaultsComeFromTheSpecNotFromTheClient) {
  auto spec = JobSpecProtoFromText("name: x\ndata: {path: /d.h5}\n", "");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const config::ResourcesSpec defaults;
  EXPECT_EQ(spec->ranks(), defaults.ranks);
  EXPECT_EQ(spec->priority(), defaults.priority);
  EXPECT_EQ(spec->preemptible(), defaults.preemptible);
  EXPECT_EQ(spec->max_restarts(), defaults.max_restarts);
  EXPECT_DOUBLE_EQ(spec->restart_backoff_sec(), defaults.restart_backoff_seconds);
}

TEST(JobSpecProtoTest, ABadSpecNamesItsSource) {
  auto spec = JobSpecProtoFromText("name: x\ndata: {path: /d.h5}\nresources: {ranks: 0}\n", "/labs/bad.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(std::string(spec.status().message()).find("/labs/bad.yaml:3: resources.ranks: 0 is out of range"),
            std::string::npos)
      << spec.status();
  spec = JobSpecProtoFromText("name: [\n", "");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(std::string(spec.status().message()).find("job spec:"), std::string::npos) << spec.status();
}

// Issue 21: a client that sends the spec's directory (the Python client) gets its relative
// paths resolved by the one table the CLI uses; without it the text is kept as sent.
TEST(JobSpecProtoTest, RelativePathsAreResolvedAgainstTheClientsDirectory) {
  const std::string text = "name: x\ndata: {path: ../data/d.h5}\noutput: {dir: out}\nmodel: {pretrained: /m}\n";
  auto spec = JobSpecProtoFromText(text, "/labs/ann/configs/job.yaml", "/labs/ann/configs");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_NE(spec->spec_yaml().find("path: /labs/ann/data/d.h5"), std::string::npos) << spec->spec_yaml();
  EXPECT_NE(spec->spec_yaml().find("dir: /labs/ann/configs/out"), std::string::npos) << spec->spec_yaml();
  EXPECT_NE(spec->spec_yaml().find("pretrained: /m"), std::string::npos) << "absolute paths stay";
  EXPECT_TRUE(spec->base_dir().empty()) << "not stored";
  auto kept = JobSpecProtoFromText(text, "", "");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->spec_yaml(), text);
  auto relative = JobSpecProtoFromText(text, "", "configs");
  EXPECT_FALSE(relative.ok());
  EXPECT_NE(std::string(relative.status().message()).find("base_dir"), std::string::npos);
}

}  // namespace
}  // namespace braintune::coordinator

// Flags from the command line and, for the servers, from the environment (how containers are
// configured: docker/Dockerfile, deploy/); the command line wins.
#include "common/flags.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace braintune {
namespace {

absl::Status ParseArgs(Flags& f, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return f.Parse(static_cast<int>(argv.size()), argv.data(), 0);
}

Flags WorkerLike() {
  Flags f("w", "test");
  f.FromEnvironment("BT_TEST_");
  f.Value("token-file", "", "file").Value("slots", "0", "slots").Bool("auth", "auth");
  return f;
}

TEST(FlagsTest, ServersReadUnsetFlagsFromTheEnvironment) {
  ::setenv("BT_TEST_TOKEN_FILE", "/run/secrets/agent_token", 1);
  ::setenv("BT_TEST_AUTH", "true", 1);
  Flags f = WorkerLike();
  ASSERT_TRUE(ParseArgs(f, {}).ok());
  EXPECT_EQ(f.Get("token-file"), "/run/secrets/agent_token");
  EXPECT_TRUE(f.IsSet("auth"));
  EXPECT_EQ(f.Get("slots"), "0") << "unset everywhere: the default";
  Flags g = WorkerLike();
  ASSERT_TRUE(ParseArgs(g, {"--token-file", "/mine"}).ok());
  EXPECT_EQ(g.Get("token-file"), "/mine") << "the command line wins";
  ::setenv("BT_TEST_AUTH", "0", 1);
  Flags h = WorkerLike();
  ASSERT_TRUE(ParseArgs(h, {}).ok());
  EXPECT_FALSE(h.IsSet("auth"));
  ::unsetenv("BT_TEST_TOKEN_FILE");
  ::unsetenv("BT_TEST_AUTH");
}

TEST(FlagsTest, EmptyVariablesAreUnsetAndBooleansReadAlikeEverywhere) {
  ::setenv("BT_TEST_TOKEN_FILE", "", 1);
  Flags f = WorkerLike();
  ASSERT_TRUE(ParseArgs(f, {"--auth=0"}).ok());
  ::unsetenv("BT_TEST_TOKEN_FILE");
  EXPECT_EQ(f.Get("token-file"), "") << "the default, not an empty override";
  EXPECT_FALSE(f.IsSet("token-file"));
  EXPECT_FALSE(f.IsSet("auth")) << "--auth=0 is false, as BT_TEST_AUTH=0 is";
  Flags g = WorkerLike();
  EXPECT_FALSE(ParseArgs(g, {"--auth=maybe"}).ok());
}

TEST(FlagsTest, ABadBooleanInTheEnvironmentIsAnErrorNamingIt) {
  ::setenv("BT_TEST_AUTH", "yes please", 1);
  Flags f = WorkerLike();
  const absl::Status s = ParseArgs(f, {});
  ::unsetenv("BT_TEST_AUTH");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("BT_TEST_AUTH"), std::string::npos) << s;
}

TEST(FlagsTest, HelpNamesTheVariablesAndOtherProgramsIgnoreThem) {
  EXPECT_NE(WorkerLike().Help().find("--token-file VALUE"), std::string::npos);
  EXPECT_NE(WorkerLike().Help().find("[$BT_TEST_TOKEN_FILE]"), std::string::npos) << WorkerLike().Help();
  ::setenv("BT_TEST_SLOTS", "4", 1);
  Flags cli("c", "no environment");
  cli.Value("slots", "0", "slots");
  ASSERT_TRUE(ParseArgs(cli, {}).ok());
  ::unsetenv("BT_TEST_SLOTS");
  EXPECT_EQ(cli.Get("slots"), "0");
  EXPECT_EQ(cli.Help().find("[$"), std::string::npos);
}

}  // namespace
}  // namespace braintune

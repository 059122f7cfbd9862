// The coordinator's private directories and files: made 0700 / 0600 whatever the umask; an
// operator's existing directory is left alone but a warning names it when others can enter it.
#include "common/files.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "testing/process.h"

namespace braintune {
namespace {

namespace fs = std::filesystem;

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 01000000;
}

TEST(CreatePrivateDirectoryTest, NewDirectoriesAre0700UnderUmask022) {
  testing::TempDir dir;
  const mode_t old = ::umask(022);
  absl::Status made = CreatePrivateDirectory(dir.File("state/logs"), "log directory");
  ::umask(old);
  ASSERT_TRUE(made.ok()) << made;
  EXPECT_EQ(ModeOf(dir.File("state")), 0700u);
  EXPECT_EQ(ModeOf(dir.File("state/logs")), 0700u);
}

TEST(CreatePrivateDirectoryTest, AnOperatorsOpenDirectoryIsKeptButNamedInAWarning) {
  testing::TempDir dir;
  fs::create_directory(dir.File("shared"));
  ::chmod(dir.File("shared").c_str(), 0755);
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(CreatePrivateDirectory(dir.File("shared"), "log directory").ok());
  const std::string warning = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(ModeOf(dir.File("shared")), 0755u) << "the operator's directory was changed";
  EXPECT_NE(warning.find(dir.File("shared")), std::string::npos) << warning;
  EXPECT_NE(warning.find("0755"), std::string::npos) << warning;

  ::chmod(dir.File("shared").c_str(), 0700);
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(CreatePrivateDirectory(dir.File("shared"), "log directory").ok());
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "") << "no warning for a private directory";
}

TEST(CreatePrivateDirectoryTest, AFileInTheWayIsAnErrorNamingIt) {
  testing::TempDir dir;
  std::ofstream(dir.File("logs")) << "not a directory";
  absl::Status made = CreatePrivateDirectory(dir.File("logs"), "log directory");
  EXPECT_FALSE(made.ok());
  EXPECT_NE(std::string(made.message()).find(dir.File("logs") + ": cannot create the log directory"),
            std::string::npos)
      << made;
}

TEST(RestrictToOwnerTest, TakesAwayGroupAndOthersAndAcceptsAMissingFile) {
  testing::TempDir dir;
  std::ofstream(dir.File("jobs.db")) << "x";
  ::chmod(dir.File("jobs.db").c_str(), 0664);
  ASSERT_TRUE(RestrictToOwner(dir.File("jobs.db")).ok());
  EXPECT_EQ(ModeOf(dir.File("jobs.db")), 0600u);
  EXPECT_TRUE(RestrictToOwner(dir.File("jobs.db-wal")).ok());
}

}  // namespace
}  // namespace braintune

namespace braintune {
namespace {

// Every size is bounded: a file over the limit, or a device that never ends, is refused naming
// the path, not read into memory; a file within it is read whole, and a missing one is NotFound.
TEST(ReadWholeFileTest, ReadsWithinTheLimitAndRefusesMore) {
  testing::TempDir dir;
  std::ofstream(dir.File("spec.yaml")) << std::string(100, 'x');
  auto whole = ReadWholeFile(dir.File("spec.yaml"), "job spec");
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->size(), 100u);
  EXPECT_TRUE(ReadWholeFile(dir.File("spec.yaml"), "job spec", 100).ok());
  auto over = ReadWholeFile(dir.File("spec.yaml"), "job spec", 99);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().message(), dir.File("spec.yaml") + ": job spec is larger than 99 bytes");
  auto endless = ReadWholeFile("/dev/zero", "model config");
  ASSERT_FALSE(endless.ok());
  EXPECT_EQ(endless.status().message(), "/dev/zero: model config is larger than 67108864 bytes");
  auto missing = ReadWholeFile(dir.File("nope.yaml"), "job spec");
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
}

}  // namespace
}  // namespace braintune

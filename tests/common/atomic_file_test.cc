// Atomic writes in a directory other users can write to: no symlink planted there, under any
// name, can redirect a write onto another file (issue 17, reproduction 4), and the files made
// are private (0600) unless the caller asks for a mode.
#include "common/atomic_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/process.h"

namespace braintune {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Sets the process umask for the test's duration.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

// Both entry points, the callback one written by name as its callers do (std::ofstream).
using Writer = std::function<absl::Status(const std::string& path, const std::string& contents)>;
const Writer kWriteString = [](const std::string& path, const std::string& contents) {
  return WriteFileAtomically(path, contents);
};
const Writer kWriteByName = [](const std::string& path, const std::string& contents) {
  return WriteAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << contents;
    if (!out.flush()) throw std::runtime_error("write failed");
  });
};

class AtomicFileTest : public ::testing::TestWithParam<Writer> {
 protected:
  void SetUp() override {
    fs::create_directory(dir_.File("out"));
    std::ofstream(victim_) << "precious";
    std::ofstream(target_) << "old result";
  }

  testing::TempDir dir_;
  const std::string victim_ = dir_.File("victim.txt");
  const std::string target_ = dir_.File("out/result.json");
};

TEST_P(AtomicFileTest, SymlinkSprayCannotRedirectTheWrite) {
  // Every name a temporary file is commonly given (the old "<path>.tmp<pid>" for pids around
  // ours, mkstemp templates, editor and download names) and thousands of random ones.
  std::vector<std::string> names = {"result.json.tmp", "result.json~", ".result.json.swp", "result.json.new",
                                    "result.json.part", ".result.json.tmp", "result.json.tmp.XXXXXX",
                                    "result.json.tmp.XXXXXXXXXXXX"};
  for (int pid = std::max(1, ::getpid() - 2000); pid <= ::getpid() + 2000; ++pid) {
    names.push_back(absl::StrCat("result.json.tmp", pid));
    names.push_back(absl::StrCat("result.json.tmp.", pid));
  }
  std::mt19937 random(17);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  for (int i = 0; i < 3000; ++i) {
    std::string suffix;
    for (int c = 0; c < (i % 2 ? 6 : 12); ++c) suffix += alphabet[random() % alphabet.size()];
    names.push_back("result.json.tmp." + suffix);
    names.push_back("result.json." + suffix);
  }
  for (const std::string& name : names) {
    std::error_code ec;
    fs::create_symlink(victim_, dir_.File("out/" + name), ec);
  }

  ASSERT_TRUE(GetParam()(target_, "new result").ok());

  EXPECT_EQ(Slurp(victim_), "precious") << "a symlink in the output directory redirected the write";
  EXPECT_FALSE(fs::is_symlink(target_)) << "a symlink was renamed over the target";
  EXPECT_EQ(Slurp(target_), "new result");
  size_t entries = 0, links = 0;
  for (const auto& e : fs::directory_iterator(dir_.File("out"))) {
    ++entries;
    links += e.is_symlink() && fs::read_symlink(e.path()) == victim_;
  }
  EXPECT_EQ(links, entries - 1) << "the spray is untouched and no temporary file is left behind";
}

TEST_P(AtomicFileTest, ASymlinkAtTheTargetIsReplacedNotFollowed) {
  fs::remove(target_);
  fs::create_symlink(victim_, target_);
  ASSERT_TRUE(GetParam()(target_, "new result").ok());
  EXPECT_EQ(Slurp(victim_), "precious");
  EXPECT_FALSE(fs::is_symlink(target_));
  EXPECT_EQ(Slurp(target_), "new result");
}

TEST_P(AtomicFileTest, FilesArePrivateWhateverTheUmask) {
  ScopedUmask umask(022);
  ASSERT_TRUE(GetParam()(target_, "new result").ok());
  EXPECT_EQ(fs::status(target_).permissions(), fs::perms::owner_read | fs::perms::owner_write)
      << "a umask of 022 left the file readable by others";
}

INSTANTIATE_TEST_SUITE_P(BothWriters, AtomicFileTest, ::testing::Values(kWriteString, kWriteByName),
                         [](const auto& info) { return info.index == 0 ? "FromString" : "ByName"; });

TEST(AtomicFileByNameTest, TheTemporaryFileIsANewPrivateFileBesideTheTarget) {
  testing::TempDir dir;
  const std::string target = dir.File("result.json");
  std::string seen;
  ASSERT_TRUE(WriteAtomically(target, [&](const std::string& tmp) {
                seen = tmp;
                struct stat st {};
                ASSERT_EQ(::lstat(tmp.c_str(), &st), 0) << "it exists before the caller writes it";
                EXPECT_TRUE(S_ISREG(st.st_mode)) << tmp << " is not a regular file";
                EXPECT_EQ(st.st_mode & 07777, 0600u);
                EXPECT_EQ(st.st_size, 0);
                std::ofstream(tmp) << "x";
              }).ok());
  EXPECT_EQ(fs::path(seen).parent_path(), fs::path(target).parent_path());
  EXPECT_NE(seen, absl::StrCat(target, ".tmp", ::getpid())) << "a predictable name";
  EXPECT_FALSE(fs::exists(seen));
}

TEST(AtomicFileByNameTest, ASymlinkSwappedInAtTheTemporaryPathIsNeverFollowedOrRenamedIntoPlace) {
  // Someone replaces the temporary file with a symlink while it is being written.
  testing::TempDir dir;
  const std::string target = dir.File("result.json");
  const std::string victim = dir.File("victim.txt");
  std::ofstream(victim) << "precious";
  std::ofstream(target) << "old result";
  absl::Status status = WriteAtomically(target, [&](const std::string& tmp) {
    std::ofstream(tmp) << "new result";
    fs::remove(tmp);
    fs::create_symlink(victim, tmp);
  });
  EXPECT_FALSE(status.ok()) << "renamed a file that is not the one it wrote";
  EXPECT_NE(std::string(status.message()).find(target), std::string::npos) << status;
  EXPECT_EQ(Slurp(victim), "precious");
  EXPECT_FALSE(fs::is_symlink(target));
  EXPECT_EQ(Slurp(target), "old result");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 2)
      << "the temporary name is cleaned up";
}

TEST(AtomicFileByNameTest, TheCallersModeIsSetExactlyAndAFailedWriteLeavesNothing) {
  testing::TempDir dir;
  const std::string target = dir.File("model.safetensors");
  {
    ScopedUmask umask(077);
    ASSERT_TRUE(WriteFileAtomically(target, "weights", 0644).ok());
  }
  EXPECT_EQ(fs::status(target).permissions(),
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  absl::Status failed = WriteAtomically(target, [](const std::string& tmp) {
    std::ofstream(tmp) << "half";
    throw std::runtime_error("disk full");
  });
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(std::string(failed.message()).find(target), std::string::npos) << failed;
  EXPECT_EQ(Slurp(target), "weights");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

}  // namespace
}  // namespace braintune

// The dataset fingerprint a step checkpoint records (data/fingerprint.h): what resume compares
// to refuse a checkpoint trained on a dataset regenerated at the same path.
#include "data/fingerprint.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "data/synthetic.h"
#include "testing/process.h"

namespace braintune::data {
namespace {

SynthOptions Small(uint64_t seed) {
  SynthOptions synth;
  synth.participants = 2;
  synth.stories = 2;
  synth.story_seconds = 30;
  synth.targets = 4;
  synth.seed = seed;
  return synth;
}

// Sets the file's modification time to `ns` since the epoch.
void SetMtime(const std::string& path, int64_t ns) {
  const struct timespec times[2] = {{0, UTIME_OMIT}, {static_cast<time_t>(ns / 1000000000), ns % 1000000000}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

TEST(FingerprintTest, TheSameFileGivesTheSameFingerprint) {
  testing::TempDir dir;
  const std::string path = dir.File("d.h5");
  ASSERT_TRUE(WriteSyntheticDataset(path, Small(1)).ok());
  auto a = FingerprintDataset(path), b = FingerprintDataset(path);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_TRUE(a->SameFileAs(*b));
  EXPECT_EQ(a->size_bytes, static_cast<int64_t>(std::filesystem::file_size(path)));
  EXPECT_EQ(a->sha256.size(), 64u) << a->sha256;
  SetMtime(path, 1796533201123456789);  // 2026-12-06 05:00:01.123456789 UTC
  auto c = FingerprintDataset(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ToString(), path + " (" + std::to_string(a->size_bytes) +
                               " bytes, modified 2026-12-06 05:00:01.123456789 UTC, content sha256 " +
                               a->sha256.substr(0, 16) + "..)");
}

// Regenerated with another seed, the file has the same objects, shapes and size; only its
// numbers differ, and the sampled blocks see them. The time alone also tells a rewrite.
TEST(FingerprintTest, ARegeneratedDatasetDiffers) {
  testing::TempDir dir;
  const std::string path = dir.File("d.h5");
  ASSERT_TRUE(WriteSyntheticDataset(path, Small(1)).ok());
  SetMtime(path, 1000000000000000000);
  auto before = FingerprintDataset(path);
  ASSERT_TRUE(WriteSyntheticDataset(path, Small(2)).ok());
  SetMtime(path, 1000000000000000000);  // the same time: the content must tell
  auto after = FingerprintDataset(path);
  ASSERT_TRUE(before.ok() && after.ok()) << before.status() << after.status();
  EXPECT_NE(before->sha256, after->sha256);
  EXPECT_FALSE(before->SameFileAs(*after));

  // The same content again, written in a later second (HDF5 stamps objects with the second they
  // were written unless told not to: this once failed when the clock ticked between the writes).
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_TRUE(WriteSyntheticDataset(path, Small(1)).ok());
  SetMtime(path, 1000000000000000001);
  auto again = FingerprintDataset(path);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(before->sha256, again->sha256) << "the hash must not depend on anything but the file";
  EXPECT_FALSE(before->SameFileAs(*again)) << "a rewritten file counts as another (its time differs)";
}

TEST(FingerprintTest, ErrorsNameThePath) {
  testing::TempDir dir;
  auto missing = FingerprintDataset(dir.File("none.h5"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(dir.File("none.h5")), std::string::npos) << missing.status();
  std::ofstream(dir.File("text.h5")) << "not HDF5";
  auto text = FingerprintDataset(dir.File("text.h5"));
  EXPECT_EQ(text.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(text.status().message().find(dir.File("text.h5")), std::string::npos) << text.status();
}

}  // namespace
}  // namespace braintune::data

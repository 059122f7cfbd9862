// The feature cache's directory: per user by default, never a shared /tmp path, made private
// (0700), and written atomically (no temporary left behind).
#include "eval/features.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "testing/process.h"

namespace braintune::eval {
namespace {

// Sets (or, with nullopt, unsets) an environment variable for the scope, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? ::setenv(name, value->c_str(), 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(FeatureCacheTest, TheDefaultIsPerUserAndNeverShared) {
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/home/a/.xdg-cache"), home("HOME", "/home/a");
    EXPECT_EQ(DefaultCacheDir(), "/home/a/.xdg-cache/braintune/features");
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "relative"), home("HOME", "/home/a");  // ignored, as XDG says
    EXPECT_EQ(DefaultCacheDir(), "/home/a/.cache/braintune/features");
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", std::nullopt), home("HOME", std::nullopt);
    EXPECT_EQ(DefaultCacheDir(), "") << "no per-user directory: never a shared /tmp path";
  }
}

class FeatureExtractorTest : public ::testing::Test {
 protected:
  FeatureExtractorTest() {
    model::Wav2Vec2Config c = *model::NamedConfig("tiny");
    c.conv_dim.assign(c.conv_dim.size(), 16);
    c.hidden_size = 32;
    c.num_hidden_layers = 1;
    c.num_attention_heads = 2;
    c.intermediate_size = 64;
    encoder_ = model::Wav2Vec2Model(c);
    story_.name = "s1";
    story_.sample_rate = 16000;
    story_.audio.assign(16000, 0.1f);
    story_.n_samples = 16000;
  }

  FeatureExtractor Extractor(const std::string& cache_dir) {
    FeatureOptions o;
    o.context_seconds = 0.5;
    o.stride_seconds = 0.25;
    o.cache_dir = cache_dir;
    return FeatureExtractor(encoder_, "key", {0, 1}, o);
  }

  testing::TempDir dir_;
  model::Wav2Vec2Model encoder_{nullptr};
  data::Story story_;
};

TEST_F(FeatureExtractorTest, NoCacheDirectoryIsAnErrorAskingForOne) {
  FeatureExtractor extractor = Extractor("");
  const absl::Status prepared = extractor.Prepare(story_);
  EXPECT_EQ(prepared.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(prepared.message().find("set evaluation.cache_dir"), std::string::npos) << prepared;
  EXPECT_EQ(extractor.Get(story_, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FeatureExtractorTest, TheCacheIsPrivateAndWrittenAtomically) {
  const std::string cache = dir_.File("cache/braintune/features");
  FeatureExtractor extractor = Extractor(cache);
  ASSERT_TRUE(extractor.Prepare(story_).ok());
  for (const std::string& d : {dir_.File("cache"), dir_.File("cache/braintune"), cache}) {
    struct stat st {};
    ASSERT_EQ(::stat(d.c_str(), &st), 0) << d;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << d;
  }
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(cache)) {
    ++files;
    EXPECT_EQ(e.path().extension(), ".pt") << e.path() << ": a temporary left behind";
  }
  EXPECT_EQ(files, 2) << "one file per layer";
  FeatureExtractor again = Extractor(cache);
  ASSERT_TRUE(again.Prepare(story_).ok());
  EXPECT_EQ(again.cache_hits(), 1);
  auto features = again.Get(story_, 1);
  ASSERT_TRUE(features.ok()) << features.status();
  EXPECT_EQ(features->values.size(0), 4);  // one vector every 0.25 s of 1 s
}

}  // namespace
}  // namespace braintune::eval

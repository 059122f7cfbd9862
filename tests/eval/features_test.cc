// The feature cache's directory: per user by default, never a shared /tmp path, made private
// (0700), and written atomically (no temporary left behind).
#include "eval/features.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
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

  // Features of 1 s windows, mean-pooled, for a model that hears 16 kHz, normalised.
  FeatureOptions SixteenKhz(double stride_seconds) {
    FeatureOptions o;
    o.context_seconds = 1;
    o.stride_seconds = stride_seconds;
    o.pooling = "mean";
    o.cache_dir = dir_.File("cache");
    o.input = model::NoContract();
    o.input.sampling_rate = 16000;
    o.input.do_normalize = true;
    o.input.source = "a 16 kHz model";
    return o;
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

// A 6 s sound made at `rate`: two partials sweeping from 300 Hz to 3 kHz under a slow
// envelope, the same sound at any rate above 7 kHz (no energy near either Nyquist).
data::Story Sweep(const std::string& name, double rate) {
  data::Story s;
  s.name = name;
  s.sample_rate = rate;
  s.n_samples = static_cast<int64_t>(6 * rate);
  for (int64_t i = 0; i < s.n_samples; ++i) {
    const double t = i / rate, phase = 2 * M_PI * (300 * t + 225 * t * t);  // 300 Hz + 450 Hz/s
    s.audio.push_back(static_cast<float>((0.6 + 0.4 * std::sin(2 * M_PI * 0.7 * t)) *
                                         (0.3 * std::sin(phase) + 0.1 * std::sin(2 * phase + 1))));
  }
  return s;
}

// Pearson r of two feature matrices, each column's mean over time removed first (a constant
// offset per dimension would otherwise make any two feature sets look alike).
double CenteredCorrelation(torch::Tensor a, torch::Tensor b) {
  a = a - a.mean(0, true);
  b = b - b.mean(0, true);
  return ((a * b).sum() / (a.norm() * b.norm())).item<double>();
}

// Issue 23: a 16 kHz model's features of a sound recorded at 22.05 kHz correlate above 0.99
// with its features of the same sound made at 16 kHz; fed as recorded (what braintune did before
// input contracts), they do not. With resampling off, the mismatch is an error.
TEST_F(FeatureExtractorTest, AStoryRecordedAt22kHzIsHeardAsAt16kHz) {
  FeatureOptions o = SixteenKhz(0.1);
  const data::Story at16 = Sweep("at16", 16000), at22 = Sweep("at22", 22050);
  FeatureExtractor sixteen(encoder_, "key", {1}, o);
  auto reference = sixteen.Get(at16, 1);
  auto resampled = sixteen.Get(at22, 1);
  ASSERT_TRUE(reference.ok()) << reference.status();
  ASSERT_TRUE(resampled.ok()) << resampled.status();
  ASSERT_EQ(reference->values.sizes(), resampled->values.sizes());
  EXPECT_TRUE(torch::allclose(reference->times, resampled->times));

  FeatureOptions raw = o;  // no rate of its own: the 22.05 kHz samples go in as they are
  raw.input.sampling_rate = 0;
  FeatureExtractor as_recorded(encoder_, "key", {1}, raw);
  auto unresampled = as_recorded.Get(at22, 1);
  ASSERT_TRUE(unresampled.ok()) << unresampled.status();
  ASSERT_EQ(reference->values.sizes(), unresampled->values.sizes());

  const double r_resampled = CenteredCorrelation(reference->values, resampled->values);
  const double r_raw = CenteredCorrelation(reference->values, unresampled->values);
  std::cout << "features vs the 16 kHz sound's: resampled r " << r_resampled << ", as recorded r " << r_raw << "\n";
  EXPECT_GT(r_resampled, 0.99);
  EXPECT_LT(r_raw, 0.99);

  FeatureOptions off = o;
  off.resample = false;
  FeatureExtractor refusing(encoder_, "key", {1}, off);
  auto refused = refusing.Get(at22, 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("recorded at 22050 Hz, but the model hears 16000 Hz"), std::string::npos)
      << refused.status();
}

// A contract with an attention mask (the LayerNorm-feature-extractor models): a window that
// reaches before the story is encoded at its unpadded length, so its features are those of its
// audio alone, normalised over that audio; without a mask its padding is heard as silence.
TEST_F(FeatureExtractorTest, PaddedWindowsUnderAnAttentionMaskAreEncodedUnpadded) {
  const data::Story story = Sweep("sweep", 16000);
  FeatureOptions o = SixteenKhz(0.25);
  o.input.return_attention_mask = true;
  FeatureExtractor masked(encoder_, "masked", {1}, o);
  auto features = masked.Get(story, 1);
  ASSERT_TRUE(features.ok()) << features.status();
  // Window 1 ends at 0.5 s: half a second of audio, then (before it) half a second of padding.
  std::vector<float> alone(story.audio.begin(), story.audio.begin() + 8000);
  model::PrepareWindow(o.input, alone.data(), 8000, 0, 8000);
  torch::NoGradGuard no_grad;
  const torch::Tensor expected =
      encoder_->Layers(torch::from_blob(alone.data(), {1, 8000}).clone()).at(1).mean(1)[0];
  EXPECT_TRUE(torch::allclose(features->values[1], expected, 1e-4, 1e-5));
  // Window 5 (1.5 s) lies inside the story: the batch's ordinary path.
  std::vector<float> full(story.audio.begin() + 8000, story.audio.begin() + 24000);
  model::PrepareWindow(o.input, full.data(), 16000, 0, 16000);
  EXPECT_TRUE(torch::allclose(features->values[5],
                              encoder_->Layers(torch::from_blob(full.data(), {1, 16000}).clone()).at(1).mean(1)[0],
                              1e-4, 1e-5));
  o.input.return_attention_mask = false;  // no mask: the padded window differs
  FeatureExtractor unmasked(encoder_, "unmasked", {1}, o);
  auto silent = unmasked.Get(story, 1);
  ASSERT_TRUE(silent.ok()) << silent.status();
  EXPECT_FALSE(torch::allclose(silent->values[1], expected, 1e-3, 1e-3));
  EXPECT_TRUE(torch::allclose(silent->values[5], features->values[5], 1e-4, 1e-5));
}

}  // namespace
}  // namespace braintune::eval

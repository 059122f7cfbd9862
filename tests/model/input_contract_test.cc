// The input contract (model/input_contract.h): preprocessor_config.json read and written as
// Hugging Face's feature extractor does, the published defaults, and the per-window
// normalisation checked against a straightforward NumPy implementation
// (tests/reference/input_contract_reference.py).
#include "model/input_contract.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "testing/process.h"

namespace braintune::model {
namespace {

// facebook/wav2vec2-base's preprocessor_config.json, as published.
constexpr char kWav2vec2Base[] = R"({
  "do_normalize": true,
  "feature_extractor_type": "Wav2Vec2FeatureExtractor",
  "feature_size": 1,
  "padding_side": "right",
  "padding_value": 0.0,
  "return_attention_mask": false,
  "sampling_rate": 16000
})";

TEST(InputContractTest, ReadsThePublishedFile) {
  auto c = ParsePreprocessorConfig(kWav2vec2Base, "base/preprocessor_config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sampling_rate, 16000);
  EXPECT_TRUE(c->do_normalize);
  EXPECT_FALSE(c->return_attention_mask);
  EXPECT_EQ(c->padding_value, 0);
  EXPECT_EQ(c->Describe(), "16000 Hz, normalised per window, padding 0, padding heard as silence "
                           "(base/preprocessor_config.json)");
}

TEST(InputContractTest, BadFilesAreErrorsNamingTheFileAndField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"feature_extractor_type": "WhisperFeatureExtractor"})", "feature_extractor_type: 'WhisperFeatureExtractor'"},
      {R"({"feature_size": 80})", "feature_size: 80"},
      {R"({"sampling_rate": 50})", "sampling_rate: 50 is outside"},
      {R"({"sampling_rate": "fast"})", "sampling_rate: expected"},
      {R"({"do_normalize": "sometimes"})", "do_normalize: expected"},
      {R"([1, 2])", "expected a JSON object"},
      {R"({"sampling_rate": )", "not valid JSON"},
  };
  for (const auto& [text, expected] : cases) {
    auto c = ParsePreprocessorConfig(text, "m/preprocessor_config.json");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_NE(c.status().message().find("m/preprocessor_config.json"), std::string::npos) << c.status();
    EXPECT_NE(c.status().message().find(expected), std::string::npos) << c.status();
  }
}

TEST(InputContractTest, WithoutAFileThePublishedDefaultsApplyAndSaySo) {
  testing::TempDir dir;
  auto base = ReadInputContract(dir.path(), *NamedConfig("base"));
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(base->sampling_rate, 16000);
  EXPECT_TRUE(base->do_normalize);
  EXPECT_FALSE(base->return_attention_mask);
  EXPECT_NE(base->Describe().find("published defaults for wav2vec2"), std::string::npos) << base->Describe();
  auto large = ReadInputContract(dir.path(), *NamedConfig("large"));  // LayerNorm feature extractor
  ASSERT_TRUE(large.ok());
  EXPECT_TRUE(large->return_attention_mask);
  std::ofstream(dir.File("preprocessor_config.json")) << R"({"sampling_rate": 8000, "do_normalize": false})";
  auto file = ReadInputContract(dir.path(), *NamedConfig("base"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->sampling_rate, 8000);
  EXPECT_FALSE(file->do_normalize);
  EXPECT_EQ(file->source, dir.File("preprocessor_config.json"));
}

TEST(InputContractTest, TheWrittenFileReadsBackAsTheSameContract) {
  for (bool normalize : {false, true}) {
    InputContract c;
    c.sampling_rate = 22050;
    c.do_normalize = normalize;
    c.padding_value = -0.25;
    c.return_attention_mask = !normalize;
    auto back = ParsePreprocessorConfig(PreprocessorConfigJson(c), "export");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(back->SameAs(c)) << PreprocessorConfigJson(c);
  }
}

TEST(InputContractTest, HeardRateResamplesOnlyWhenAllowed) {
  InputContract sixteen = PublishedDefaults(*NamedConfig("base"));
  EXPECT_EQ(*HeardRate(sixteen, 22050, true, "s"), 16000);
  EXPECT_EQ(*HeardRate(sixteen, 16000, false, "s"), 16000);
  EXPECT_EQ(*HeardRate(NoContract(), 22050, false, "s"), 22050) << "no rate of its own: the dataset's";
  auto refused = HeardRate(sixteen, 22050, false, "d.h5: /stimuli/a/audio");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("d.h5: /stimuli/a/audio: recorded at 22050 Hz, but the model hears 16000 Hz"),
            std::string::npos)
      << refused.status();
}

// Runs the NumPy reference on `window` with [begin, end) audio; its output.
std::vector<float> NumpyPrepared(const testing::TempDir& dir, const std::vector<float>& window, int begin, int end,
                                 double padding) {
  {
    std::ofstream out(dir.File("in.txt"));
    out.precision(9);
    for (float v : window) out << v << "\n";
  }
  auto r = testing::RunCommand(std::string("/usr/bin/python3 ") + BRAINTUNE_SOURCE_DIR +
                               "/tests/reference/input_contract_reference.py normalize " + dir.File("in.txt") + " " +
                               dir.File("out.txt") + " " + std::to_string(begin) + " " + std::to_string(end) + " " +
                               std::to_string(padding));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(dir.File("out.txt"));
  std::vector<float> out;
  for (float v; in >> v;) out.push_back(v);
  return out;
}

TEST(InputContractTest, NormalisationIsHuggingFacesPerWindowWithPaddingLeftOut) {
  testing::TempDir dir;
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.2f, 0.05f);  // an offset and a small scale, as quiet recordings have
  std::vector<float> window(4000);
  for (auto& v : window) v = noise(rng);
  for (auto [begin, end] : {std::pair{0, 4000}, std::pair{1500, 4000}, std::pair{0, 3100}}) {
    SCOPED_TRACE(::testing::Message() << "audio in [" << begin << ", " << end << ")");
    InputContract c = NoContract();
    c.do_normalize = true;
    c.padding_value = 0.5;
    std::vector<float> ours = window;
    PrepareWindow(c, ours.data(), 4000, begin, end);
    const std::vector<float> numpy = NumpyPrepared(dir, window, begin, end, 0.5);
    ASSERT_EQ(numpy.size(), ours.size());
    double worst = 0, sum = 0, sq = 0;
    for (size_t i = 0; i < ours.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(ours[i]) - numpy[i]));
    for (int i = begin; i < end; ++i) sum += ours[i], sq += ours[i] * ours[i];
    EXPECT_LT(worst, 1e-4);
    EXPECT_NEAR(sum / (end - begin), 0, 1e-4);
    EXPECT_NEAR(sq / (end - begin), 1, 1e-3);
    if (begin > 0) {
      EXPECT_EQ(ours[0], 0.5f) << "padding takes padding_value";
    }

    c.do_normalize = false;  // off: the audio as recorded, padding still padding_value
    ours = window;
    PrepareWindow(c, ours.data(), 4000, begin, end);
    for (int i = begin; i < end; ++i) ASSERT_EQ(ours[i], window[i]);
    for (int i = 0; i < begin; ++i) ASSERT_EQ(ours[i], 0.5f);
  }
}

}  // namespace
}  // namespace braintune::model

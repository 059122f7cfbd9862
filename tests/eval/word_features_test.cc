// Word-level features of GPT-2 and BERT (eval/word_features.h): the contexts of the Huth lab's
// scheme and the sliding one, and every word's state against the plain-PyTorch reference, which
// runs each word's context on its own (bench/reference/text_reference.py word-features).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "eval/word_features.h"
#include "model/safetensors.h"
#include "testing/process.h"

namespace braintune::eval {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Reference() { return absl::StrCat("/usr/bin/python3 ", BRAINTUNE_SOURCE_DIR, "/bench/reference/text_reference.py "); }

TEST(WordFeaturesTest, HuthContextsGrowThenRestartFromTheirLastHalf) {
  EXPECT_THAT(WordContextStarts(10, {.context_words = 4, .mode = "huth"}), ElementsAre(0, 0, 0, 0, 3, 3, 3, 6, 6, 6));
  EXPECT_THAT(WordContextStarts(10, {.context_words = 4, .mode = "sliding"}), ElementsAre(0, 0, 0, 0, 1, 2, 3, 4, 5, 6));
  EXPECT_THAT(WordContextStarts(3, {.context_words = 1, .mode = "huth"}), ElementsAre(0, 1, 2));
  // Every word past the first context_words has between half and all of them.
  const auto starts = WordContextStarts(1000, {.context_words = 256, .mode = "huth"});
  for (int64_t i = 256; i < 1000; ++i) {
    EXPECT_GE(i + 1 - starts[i], 128) << i;
    EXPECT_LE(i + 1 - starts[i], 256) << i;
  }
}

class WordStatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.File("train.txt")) << "the quick brown fox jumped over the lazy dog; she said hello to the world, "
                                             "twice. Dogs and foxes, worlds and words: the end of the story again.\n";
    auto r = testing::RunCommand(Reference() + "make-tokenizers --merges 40 --text " + dir_.File("train.txt") +
                                 " --out " + dir_.path());
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  // A tiny model of `type` with `positions` positions (16: long contexts are cut; 512: GPT-2 reads
  // all words of one Huth context off one pass), exported beside its tokenizer; its word states
  // for `words` compared with the reference's.
  void ExpectMatchesReference(const std::string& type, const std::string& mode, int positions = 16) {
    SCOPED_TRACE(absl::StrCat(type, " ", mode, " ", positions));
    auto tok = model::ReadTokenizer(dir_.File(type), type);
    ASSERT_TRUE(tok.ok()) << tok.status();
    model::TextModelConfig c = *model::NamedTextConfig(type, "tiny");
    c.vocab_size = (*tok)->vocab_size();
    c.max_position_embeddings = positions;
    torch::manual_seed(7);
    auto enc = model::MakeTextEncoder(c);
    enc->eval();
    const std::string model_dir = dir_.File(type + "-model");
    ASSERT_TRUE(model::ExportTextHf(*enc, model_dir).ok());
    const std::vector<std::string> words = {"The", "quick", "brown", "fox,", "jumped", "over", "the", "lazy",
                                            "dog;", "\x01", "she", "said", "hello", "to", "the", "world,",
                                            "twice.", "Dogs", "and", "foxes"};
    auto states = WordStates(*enc, **tok, words, {0, 1, 2}, {.context_words = 6, .mode = mode, .batch_size = 4}, "story s");
    ASSERT_TRUE(states.ok()) << states.status();
    ASSERT_EQ(states->size(), 3u);
    EXPECT_EQ((*states)[2].sizes(), (std::vector<int64_t>{20, 64}));
    std::vector<std::string> quoted;
    for (const std::string& w : words) quoted.push_back(w == "\x01" ? "\"\\u0001\"" : absl::StrCat("\"", w, "\""));
    std::ofstream(dir_.File("words.json")) << "[" << absl::StrJoin(quoted, ", ") << "]";
    ASSERT_TRUE(model::WriteSafetensors(dir_.File("states.safetensors"),
                                        {{"layer.0", (*states)[0]}, {"layer.1", (*states)[1]}, {"layer.2", (*states)[2]}})
                    .ok());
    auto r = testing::RunCommand(absl::StrCat(Reference(), "word-features --model ", model_dir, " --tokenizer ",
                                              dir_.File(type), " --words ", dir_.File("words.json"),
                                              " --context-words 6 --mode ", mode, " --expected ",
                                              dir_.File("states.safetensors")));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("ok: 20 words, 3 layers")) << r.output;
  }

  testing::TempDir dir_;
};

TEST_F(WordStatesTest, Gpt2HuthMatchesTheReference) {
  ExpectMatchesReference("gpt2", "huth", 16);
  ExpectMatchesReference("gpt2", "huth", 512);
}
TEST_F(WordStatesTest, Gpt2SlidingMatchesTheReference) { ExpectMatchesReference("gpt2", "sliding"); }
TEST_F(WordStatesTest, BertHuthMatchesTheReference) { ExpectMatchesReference("bert", "huth"); }
TEST_F(WordStatesTest, BertSlidingMatchesTheReference) { ExpectMatchesReference("bert", "sliding"); }

TEST_F(WordStatesTest, MismatchesAndHostileWordsAreNamed) {
  auto tok = model::ReadTokenizer(dir_.File("gpt2"), "gpt2");
  ASSERT_TRUE(tok.ok());
  model::TextModelConfig c = *model::NamedTextConfig("gpt2", "tiny");
  c.vocab_size = 100;  // smaller than the tokenizer's
  auto enc = model::MakeTextEncoder(c);
  auto r = WordStates(*enc, **tok, {"hello", "world"}, {1}, {}, "story s1");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("story s1: the tokenizer gives id"));
  EXPECT_THAT(r.status().message(), HasSubstr("vocab_size 100"));
  c.vocab_size = (*tok)->vocab_size();
  enc = model::MakeTextEncoder(c);
  r = WordStates(*enc, **tok, {"hello"}, {3}, {}, "story s2");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("story s2: layer 3 is not in [0, 2]"));
  r = WordStates(*enc, **tok, {"hello", "w\xC3"}, {1}, {}, "story s3");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("story s3 word 1: not valid UTF-8 at byte 1"));
  // A story without word timings cannot give word-level features: named, before any forward.
  auto source = MakeWordFeatureSource(enc, std::shared_ptr<const model::Tokenizer>(std::move(*tok)), {});
  data::Story silent;
  silent.name = "story_07";
  const absl::Status usable = source->CheckUsable(silent);
  ASSERT_FALSE(usable.ok());
  EXPECT_THAT(usable.message(), HasSubstr("story story_07: a text model needs /stimuli/story_07/words"));
  silent.words = {{0.0, 0.4, "hello"}};
  EXPECT_TRUE(source->CheckUsable(silent).ok());
}

}  // namespace
}  // namespace braintune::eval

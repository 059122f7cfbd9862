// GPT-2's byte-level BPE and BERT's WordPiece against the plain-Python reference
// (bench/reference/text_reference.py, run by Debian's python3) on text made to find the
// differences: punctuation, digits, apostrophes, accents, CJK, emoji, controls and whitespace
// runs; and the errors a broken tokenizer file or hostile text must give.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/tokenizer.h"
#include "model/unicode_text.h"
#include "testing/process.h"

namespace braintune::model {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const char* kTrainingText =
    "The quick brown fox, it said, jumped over the lazy dog's back. She'll say 42 things; they're 3.14 wrong!\n"
    "Hello world, hello again. Café naïve résumé Über straße. 東京 is big and the world is wide.\n"
    "We'd known they've gone; I'm sure you'll see. Numbers: 1999, 2026, 100000 and 7.\n"
    "the the the then there these those thin think thing things hello hello world world\n";

// The texts both tokenizers must cut exactly as the reference does.
const std::vector<std::string>& HardTexts() {
  static const std::vector<std::string> texts = {
      "Hello world",
      "Hello   world  ",
      "  leading spaces and\ttabs\n\nnewlines\r\n",
      "they're, we'd; I'm: you'll... she's 'quoted' '' ''s",
      "don't DON'T Don't",
      "3.14159 and 1,000,000 or 2026-12-07",
      "Café naïve résumé Über straße ÉCOLE",
      "東京タワー is 333 m; 北京!",
      "emoji 🙂🙂 and symbols $5 + 3^2 = 14 % ~ | @ # &",
      "zero\u200bwidth and non\u00a0breaking and en\u2002space",
      "control\x01chars\x7f and bell\x07",
      "[SEP] [CLS] <|endoftext|> [UNK]",
      "a",
      "",
      "   ",
      "x\u0301 combining acute, ﬁ ligature, Ångström, İstanbul",
      "word\u3000ideographic space",
      std::string(150, 'a') + " long",
  };
  return texts;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Tokenizers trained by the reference on kTrainingText, in dir/gpt2 and dir/bert.
void MakeTokenizers(const testing::TempDir& dir) {
  WriteFile(dir.File("train.txt"), kTrainingText);
  auto r = testing::RunCommand(std::string("/usr/bin/python3 ") + BRAINTUNE_SOURCE_DIR +
                               "/bench/reference/text_reference.py make-tokenizers --merges 80 --text " +
                               dir.File("train.txt") + " --out " + dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

void ExpectAgreesWithReference(const std::string& kind) {
  testing::TempDir dir;
  MakeTokenizers(dir);
  auto tok = ReadTokenizer(dir.File(kind), kind);
  ASSERT_TRUE(tok.ok()) << tok.status();
  std::vector<std::string> texts, ids;
  size_t tokens = 0;
  for (const std::string& text : HardTexts()) {
    auto encoded = (*tok)->Encode(text, "test text");
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    tokens += encoded->size();
    texts.push_back(JsonString(text));
    ids.push_back(absl::StrCat("[", absl::StrJoin(*encoded, ","), "]"));
  }
  EXPECT_GT(tokens, 200u);
  WriteFile(dir.File("texts.json"), absl::StrCat("[", absl::StrJoin(texts, ",\n"), "]"));
  WriteFile(dir.File("ids.json"), absl::StrCat("[", absl::StrJoin(ids, ",\n"), "]"));
  auto r = testing::RunCommand(absl::StrCat("/usr/bin/python3 ", BRAINTUNE_SOURCE_DIR,
                                            "/bench/reference/text_reference.py tokenize --kind ", kind, " --model ",
                                            dir.File(kind), " --texts ", dir.File("texts.json"), " --expected ",
                                            dir.File("ids.json")));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("ok: ")) << r.output;
}

TEST(TokenizerTest, Gpt2BpeAgreesWithTheReference) { ExpectAgreesWithReference("gpt2"); }
TEST(TokenizerTest, BertWordPieceAgreesWithTheReference) { ExpectAgreesWithReference("bert"); }

// Byte-level BPE loses nothing: the tokens' characters map back to the text's bytes.
TEST(TokenizerTest, Gpt2TokensSpellTheTextBack) {
  testing::TempDir dir;
  MakeTokenizers(dir);
  auto tok = ReadBpeTokenizer(dir.File("gpt2"));
  ASSERT_TRUE(tok.ok()) << tok.status();
  std::map<char32_t, char> byte_of;  // the inverse of the byte-to-unicode table
  for (int b = 0, next = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    byte_of[printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++)] = static_cast<char>(b);
  }
  for (const std::string& text : HardTexts()) {
    auto ids = (*tok)->Encode(text, "text");
    ASSERT_TRUE(ids.ok()) << ids.status();
    std::string back;
    for (int64_t id : *ids) {
      auto cps = DecodeUtf8((*tok)->TokenText(id), "token");
      ASSERT_TRUE(cps.ok());
      for (char32_t c : *cps) back.push_back(byte_of.at(c));
    }
    EXPECT_EQ(back, text);
  }
  // GPT-2's pattern keeps a space with the word after it and a contraction apart: no token
  // crosses "the|Ġdog|'s".
  auto ids = (*tok)->Encode("the dog's", "text");
  ASSERT_TRUE(ids.ok());
  std::string joined;
  std::vector<size_t> boundaries;
  for (int64_t id : *ids) {
    joined += (*tok)->TokenText(id);
    boundaries.push_back(joined.size());
  }
  EXPECT_EQ(joined, "the\xC4\xA0""dog's");
  EXPECT_THAT(boundaries, ::testing::Contains(3u));
  EXPECT_THAT(boundaries, ::testing::Contains(8u));
}

TEST(TokenizerTest, BertLowerCasesStripsAccentsAndSplitsPunctuation) {
  testing::TempDir dir;
  MakeTokenizers(dir);
  auto tok = ReadWordPieceTokenizer(dir.File("bert"));
  ASSERT_TRUE(tok.ok()) << tok.status();
  auto ids = (*tok)->Encode("HÉLLO,  World!", "text");
  ASSERT_TRUE(ids.ok());
  std::vector<std::string> tokens;
  for (int64_t id : *ids) tokens.push_back((*tok)->TokenText(id));
  EXPECT_THAT(tokens, ElementsAre("hello", ",", "world", "!"));
  // A word longer than 100 characters is one [UNK].
  auto unk = (*tok)->Encode(std::string(101, 'a'), "text");
  ASSERT_TRUE(unk.ok());
  EXPECT_THAT(*unk, ElementsAre((*tok)->Encode("\xE2\x98\x83", "snowman").value().at(0)));
}

// A story's text never becomes a special token.
TEST(TokenizerTest, SpecialTokensInTextStayText) {
  testing::TempDir dir;
  MakeTokenizers(dir);
  auto bert = ReadWordPieceTokenizer(dir.File("bert"));
  ASSERT_TRUE(bert.ok());
  auto ids = (*bert)->Encode("[SEP] [CLS]", "text");
  ASSERT_TRUE(ids.ok());
  for (int64_t id : *ids) {
    EXPECT_NE(id, (*bert)->sep_id());
    EXPECT_NE(id, (*bert)->cls_id());
  }
  auto gpt2 = ReadBpeTokenizer(dir.File("gpt2"));
  ASSERT_TRUE(gpt2.ok());
  auto g = (*gpt2)->Encode("<|endoftext|>", "text");
  ASSERT_TRUE(g.ok());
  EXPECT_GT(g->size(), 1u);
}

TEST(TokenizerTest, WordsOfAStoryKeepTheirBoundaries) {
  testing::TempDir dir;
  MakeTokenizers(dir);
  for (const std::string kind : {"gpt2", "bert"}) {
    auto tok = ReadTokenizer(dir.File(kind), kind);
    ASSERT_TRUE(tok.ok());
    const std::vector<std::string> words = {"Hello", "world,", "they're", "\x01", "naïve"};
    auto wt = (*tok)->EncodeWords(words, "story s1");
    ASSERT_TRUE(wt.ok()) << wt.status();
    ASSERT_EQ(wt->ends.size(), words.size());
    EXPECT_EQ(wt->ends.back(), static_cast<int64_t>(wt->ids.size()));
    // Joined with spaces, the words are the same tokens as the running text.
    auto joined = (*tok)->Encode("Hello world, they're \x01 naïve", "text");
    ASSERT_TRUE(joined.ok());
    EXPECT_EQ(wt->ids, *joined);
    if (kind == "bert") {
      EXPECT_EQ(wt->ends[3], wt->ends[2]) << "a control character is no token";
    } else {
      EXPECT_EQ((*tok)->TokenText(wt->ids[wt->ends[0]]).rfind("\xC4\xA0", 0), 0u) << "a space before the second word";
    }
  }
}

TEST(TokenizerTest, HostileTextIsRefusedNamingWhere) {
  testing::TempDir dir;
  MakeTokenizers(dir);
  for (const std::string kind : {"gpt2", "bert"}) {
    auto tok = ReadTokenizer(dir.File(kind), kind);
    ASSERT_TRUE(tok.ok());
    for (const std::string& bad : {std::string("ok \xC3"), std::string("\xC0\xAF"), std::string("a\xED\xA0\x80"),
                                   std::string("\xF4\x90\x80\x80"), std::string("ab\xFF")}) {
      auto r = (*tok)->Encode(bad, "story s1");
      ASSERT_FALSE(r.ok()) << kind;
      EXPECT_THAT(r.status().message(), HasSubstr("story s1: not valid UTF-8 at byte"));
    }
    auto words = (*tok)->EncodeWords({"fine", "bad\xFF"}, "story s2");
    ASSERT_FALSE(words.ok());
    EXPECT_THAT(words.status().message(), HasSubstr("story s2 word 1: not valid UTF-8 at byte 3"));
    auto big = (*tok)->Encode(std::string(kMaxTokenizerTextBytes + 1, 'a'), "story s3");
    ASSERT_FALSE(big.ok());
    EXPECT_THAT(big.status().message(), HasSubstr("story s3"));
    // A megabyte without a break: refused by BPE (whose merging is quadratic in it) in bounded
    // time; WordPiece makes it one [UNK].
    auto run = (*tok)->Encode(std::string(kMaxTokenizerTextBytes, 'a'), "story s4");
    if (kind == "gpt2") {
      ASSERT_FALSE(run.ok());
      EXPECT_THAT(run.status().message(), HasSubstr("story s4: a run of 1048576 bytes without a break"));
    } else {
      ASSERT_TRUE(run.ok());
      EXPECT_EQ(run->size(), 1u);
    }
  }
}

TEST(TokenizerTest, BrokenFilesAreNamed) {
  testing::TempDir dir;
  MakeTokenizers(dir);
  struct Case {
    std::string kind, file, content, error;
  };
  const std::vector<Case> cases = {
      {"gpt2", "vocab.json", "{\"a\": 0,", "vocab.json:"},
      {"gpt2", "vocab.json", "[1, 2]", "vocab.json: expected a JSON object"},
      {"gpt2", "vocab.json", "{\"a\": 0, \"b\": 0}", "id 0 used twice"},
      {"gpt2", "vocab.json", "{\"a\": -4}", "id -4 out of range"},
      {"gpt2", "vocab.json", "{\"a\": 16777215}", "id 16777215 out of range"},
      {"gpt2", "vocab.json", "{\"a\": 0}", "lacks a token for one of the 256 bytes"},
      {"gpt2", "merges.txt", "#version: 0.2\nh e\nnot-a-pair\n", "merges.txt:3: expected two tokens"},
      {"gpt2", "merges.txt", "#version: 0.2\nq q\n", "merges.txt:2: the merged token is not in vocab.json"},
      {"bert", "vocab.txt", "[CLS]\n[SEP]\na\n", "vocab.txt: has no [UNK] token"},
      {"bert", "tokenizer_config.json", "{\"do_lower_case\": \"maybe\"}", "do_lower_case"},
      {"bert", "tokenizer_config.json", "{\"tokenize_chinese_chars\": false}", "tokenize_chinese_chars: false is not supported"},
  };
  for (const Case& c : cases) {
    testing::TempDir copy;
    ASSERT_EQ(testing::RunCommand(absl::StrCat("cp -r ", dir.File(c.kind), " ", copy.File("t"))).exit_code, 0);
    WriteFile(copy.File("t/" + c.file), c.content);
    auto tok = ReadTokenizer(copy.File("t"), c.kind);
    ASSERT_FALSE(tok.ok()) << c.content;
    EXPECT_THAT(tok.status().message(), HasSubstr(c.error)) << c.content;
    EXPECT_THAT(tok.status().message(), HasSubstr(copy.File("t"))) << c.content;
  }
  EXPECT_FALSE(ReadBpeTokenizer(dir.File("nowhere")).ok());
  auto wrong = ReadTokenizer(dir.File("gpt2"), "t5");
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("t5"));
}

}  // namespace
}  // namespace braintune::model

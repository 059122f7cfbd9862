// BERT's WordPiece (model/tokenizer.h), as transformers' BasicTokenizer + WordpieceTokenizer.
#include <filesystem>
#include <optional>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "config/yaml_reader.h"
#include "model/tokenizer.h"
#include "model/unicode_text.h"

namespace braintune::model {

namespace {

constexpr size_t kMaxCharsPerWord = 100;

struct WordPieceOptions {
  bool lower_case = true;
  bool strip_accents = true;  // follows lower_case unless tokenizer_config.json says otherwise
};

class WordPieceTokenizer final : public Tokenizer {
 public:
  WordPieceTokenizer(std::unordered_map<std::string, int64_t> vocab, std::vector<std::string> tokens,
                     WordPieceOptions options)
      : vocab_(std::move(vocab)), tokens_(std::move(tokens)), options_(options) {}

  absl::StatusOr<std::vector<int64_t>> Encode(std::string_view text, const std::string& what) const override {
    if (text.size() > kMaxTokenizerTextBytes) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", text.size(), " bytes of text, more than ", kMaxTokenizerTextBytes));
    }
    ASSIGN_OR_RETURN(std::u32string raw, DecodeUtf8(text, what));
    // Clean: drop NUL, U+FFFD and controls; every whitespace character becomes a space; spaces
    // around CJK ideographs (each is a word).
    std::u32string clean;
    for (char32_t c : raw) {
      const bool space = c == U' ' || c == U'\t' || c == U'\n' || c == U'\r' || IsSpaceSeparator(c);
      if (c == 0 || c == 0xFFFD || (IsControl(c) && !space)) continue;
      if (space) {
        clean.push_back(U' ');
      } else if (IsCjkIdeograph(c)) {
        clean.append({U' ', c, U' '});
      } else {
        clean.push_back(c);
      }
    }
    clean = Nfc(clean);
    std::vector<int64_t> ids;
    for (std::u32string word : SplitOnSpace(clean)) {
      if (options_.lower_case) word = Lower(word);
      if (options_.strip_accents) {
        std::u32string kept;
        for (char32_t c : Nfd(word)) {
          if (!IsNonSpacingMark(c)) kept.push_back(c);
        }
        word = std::move(kept);
      }
      // Each punctuation character is a word of its own.
      std::u32string piece;
      auto flush = [&] {
        if (!piece.empty()) WordPieces(piece, &ids);
        piece.clear();
      };
      for (char32_t c : word) {
        if (IsBertPunctuation(c)) {
          flush();
          piece.push_back(c);
          flush();
        } else {
          piece.push_back(c);
        }
      }
      flush();
    }
    return ids;
  }

  std::string TokenText(int64_t id) const override {
    return id >= 0 && id < static_cast<int64_t>(tokens_.size()) ? tokens_[id] : "";
  }
  int64_t vocab_size() const override { return static_cast<int64_t>(tokens_.size()); }
  int64_t cls_id() const override { return Find("[CLS]"); }
  int64_t sep_id() const override { return Find("[SEP]"); }

 protected:
  bool space_before_words() const override { return false; }

 private:
  // ASCII symbols count as punctuation too ($, +, ^ ... are not category P).
  static bool IsBertPunctuation(char32_t c) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126) ||
           IsPunctuation(c);
  }

  // Python's str.split(): runs of whitespace separate words.
  static std::vector<std::u32string> SplitOnSpace(const std::u32string& text) {
    std::vector<std::u32string> words;
    std::u32string current;
    for (char32_t c : text) {
      if (IsPythonSpace(c)) {
        if (!current.empty()) words.push_back(std::move(current));
        current.clear();
      } else {
        current.push_back(c);
      }
    }
    if (!current.empty()) words.push_back(std::move(current));
    return words;
  }

  int64_t Find(const std::string& token) const {
    auto it = vocab_.find(token);
    return it == vocab_.end() ? -1 : it->second;
  }

  // Greedy longest-match-first: the longest prefix in the vocabulary, then the longest "##"
  // continuation, and so on; one unmatched position makes the whole word [UNK].
  void WordPieces(const std::u32string& word, std::vector<int64_t>* ids) const {
    const int64_t unk = Find("[UNK]");
    if (word.size() > kMaxCharsPerWord) {
      ids->push_back(unk);
      return;
    }
    std::vector<int64_t> pieces;
    for (size_t start = 0; start < word.size();) {
      int64_t found = -1;
      size_t end = word.size();
      for (; end > start; --end) {
        const std::string sub = absl::StrCat(start > 0 ? "##" : "", EncodeUtf8(word.substr(start, end - start)));
        found = Find(sub);
        if (found >= 0) break;
      }
      if (found < 0) {
        ids->push_back(unk);
        return;
      }
      pieces.push_back(found);
      start = end;
    }
    ids->insert(ids->end(), pieces.begin(), pieces.end());
  }

  // Constant after construction.
  const std::unordered_map<std::string, int64_t> vocab_;
  const std::vector<std::string> tokens_;
  const WordPieceOptions options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> ReadWordPieceTokenizer(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string vocab_path = (fs::path(dir) / "vocab.txt").string();
  ASSIGN_OR_RETURN(std::string text, ReadTokenizerFile(vocab_path));
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<std::string> tokens;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.size() > (size_t{1} << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(vocab_path, ": ", lines.size(), " tokens, more than ", size_t{1} << 20));
  }
  for (absl::string_view line : lines) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // transformers' load_vocab: a repeated token keeps its last line's id.
    vocab[std::string(line)] = static_cast<int64_t>(tokens.size());
    tokens.emplace_back(line);
  }
  for (const char* special : {"[UNK]", "[CLS]", "[SEP]"}) {
    if (!vocab.count(special)) return absl::InvalidArgumentError(absl::StrCat(vocab_path, ": has no ", special, " token"));
  }
  WordPieceOptions options;
  const std::string config_path = (fs::path(dir) / "tokenizer_config.json").string();
  if (fs::exists(config_path)) {
    ASSIGN_OR_RETURN(std::string config_text, ReadTokenizerFile(config_path));
    ASSIGN_OR_RETURN(YAML::Node root, config::LoadYaml(config_text, config_path, "JSON"));
    if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(config_path, ": expected a JSON object"));
    config::MapReader r(root, "", config_path);
    std::optional<bool> strip;
    bool strip_value = true;
    RETURN_IF_ERROR(config::GuardYaml(config_path, [&]() -> absl::Status {
      RETURN_IF_ERROR(r.Read("do_lower_case", &options.lower_case));
      if (root["strip_accents"].IsDefined() && !root["strip_accents"].IsNull()) {
        RETURN_IF_ERROR(r.Read("strip_accents", &strip_value));
        strip = strip_value;
      }
      bool chinese = true;
      RETURN_IF_ERROR(r.Read("tokenize_chinese_chars", &chinese));
      if (!chinese) {
        return absl::InvalidArgumentError(absl::StrCat(config_path, ": tokenize_chinese_chars: false is not supported"));
      }
      return absl::OkStatus();
    }));
    options.strip_accents = strip.value_or(options.lower_case);
  }
  return std::unique_ptr<Tokenizer>(new WordPieceTokenizer(std::move(vocab), std::move(tokens), options));
}

}  // namespace braintune::model

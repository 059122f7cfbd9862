// Both Praat text formats are parsed by one token-level parser: the short format is the long
// one with the labels ("xmin =", "item [1]:") left out, so the parser checks the labels only in
// long mode, which is also what lets its errors say which label it expected on which line.
#include "data/textgrid.h"

#include "data/file_util.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace braintune::data {
namespace {

// Praat saves a TextGrid as UTF-16 (with a byte order mark) as soon as one label is not ASCII.
// Unpaired surrogates become U+FFFD rather than errors: a label is not worth failing an import.
std::string Utf16ToUtf8(absl::string_view bytes, bool big_endian) {
  std::string out;
  out.reserve(bytes.size() / 2);
  auto unit = [&](size_t i) -> char32_t {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    const auto b1 = static_cast<unsigned char>(bytes[i + 1]);
    return big_endian ? (b0 << 8 | b1) : (b1 << 8 | b0);
  };
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    char32_t c = unit(i);
    if (c >= 0xD800 && c < 0xDC00 && i + 3 < bytes.size()) {
      const char32_t low = unit(i + 2);
      if (low >= 0xDC00 && low < 0xE000) {
        c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
        i += 2;
      } else {
        c = 0xFFFD;
      }
    } else if (c >= 0xD800 && c < 0xE000) {
      c = 0xFFFD;
    }
    AppendUtf8(c, &out);
  }
  return out;
}

struct Token {
  enum Kind { kNumber, kString, kWord };
  Kind kind = kWord;
  std::string text;  // the string's contents without quotes, or the word as written
  double number = 0;
  int line = 0;
};

absl::Status Malformed(const std::string& file, int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ": ", what));
}

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view text, const std::string& file,
                                            int* last_line) {
  std::vector<Token> tokens;
  int line = 1;
  size_t i = 0;
  auto newline = [&](size_t at) {  // at text[at] == '\r' or '\n'; returns the index after it
    ++line;
    return text[at] == '\r' && at + 1 < text.size() && text[at + 1] == '\n' ? at + 2 : at + 1;
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n' || c == '\r') {
      i = newline(i);
    } else if (c == ' ' || c == '\t' || c == '\f' || c == '\v') {
      ++i;
    } else if (c == '!') {  // Praat's comment, to the end of the line
      while (i < text.size() && text[i] != '\n' && text[i] != '\r') ++i;
    } else if (c == '"') {
      Token t{Token::kString, "", 0, line};
      for (++i;; ) {
        if (i >= text.size()) return Malformed(file, t.line, "unterminated string");
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {  // "" is an escaped quote
            t.text.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (text[i] == '\n' || text[i] == '\r') {
          const size_t next = newline(i);
          t.text.push_back('\n');
          i = next;
          continue;
        }
        t.text.push_back(text[i++]);
      }
      tokens.push_back(std::move(t));
    } else {
      const size_t start = i;
      while (i < text.size() && !absl::ascii_isspace(static_cast<unsigned char>(text[i])) &&
             text[i] != '"') {
        ++i;
      }
      Token t{Token::kWord, std::string(text.substr(start, i - start)), 0, line};
      double value = 0;
      if (absl::SimpleAtod(t.text, &value) &&
          (absl::ascii_isdigit(static_cast<unsigned char>(t.text[0])) || t.text[0] == '-' ||
           t.text[0] == '+' || t.text[0] == '.')) {
        t.kind = Token::kNumber;
        t.number = value;
      }
      tokens.push_back(std::move(t));
    }
  }
  *last_line = line;
  return tokens;
}

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Token::kString:
      return absl::StrCat("\"", t.text, "\"");
    default:
      return absl::StrCat("'", t.text, "'");
  }
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& file, int last_line)
      : tokens_(std::move(tokens)), file_(file), last_line_(last_line) {}

  absl::StatusOr<TextGrid> Parse() {
    RETURN_IF_ERROR(Header());
    // Long files label every value, so their first value after the header is a word.
    long_ = Peek() != nullptr && Peek()->kind == Token::kWord;
    TextGrid grid;
    ASSIGN_OR_RETURN(grid.xmin, Number("xmin"));
    ASSIGN_OR_RETURN(grid.xmax, Number("xmax"));
    if (long_) RETURN_IF_ERROR(Words("tiers?"));
    const Token* exists = Next();
    if (exists == nullptr || exists->kind != Token::kWord ||
        (exists->text != "<exists>" && exists->text != "<absent>")) {
      return Expected(exists, "'<exists>' or '<absent>'");
    }
    if (exists->text == "<absent>") return grid;
    ASSIGN_OR_RETURN(const int64_t n_tiers, Count("size"));
    if (long_) RETURN_IF_ERROR(Words("item []:"));
    for (int64_t k = 0; k < n_tiers; ++k) {
      if (long_) RETURN_IF_ERROR(Indexed("item"));
      TextGridTier tier;
      const Token* class_token = Peek();
      ASSIGN_OR_RETURN(const std::string tier_class, String("class"));
      ASSIGN_OR_RETURN(tier.name, String("name"));
      RETURN_IF_ERROR(Number("xmin").status());
      RETURN_IF_ERROR(Number("xmax").status());
      if (tier_class == "IntervalTier") {
        ASSIGN_OR_RETURN(const int64_t n, Count("intervals: size"));
        for (int64_t i = 0; i < n; ++i) {
          if (long_) RETURN_IF_ERROR(Indexed("intervals"));
          TextGridInterval interval;
          ASSIGN_OR_RETURN(interval.xmin, Number("xmin"));
          const int line = Peek() != nullptr ? Peek()->line : last_line_;
          ASSIGN_OR_RETURN(interval.xmax, Number("xmax"));
          if (interval.xmax < interval.xmin) {
            return Malformed(file_, line,
                             absl::StrCat("interval ", i + 1, " of tier '", tier.name, "' ends (",
                                          interval.xmax, ") before it starts (", interval.xmin,
                                          ")"));
          }
          ASSIGN_OR_RETURN(interval.text, String("text"));
          tier.intervals.push_back(std::move(interval));
        }
      } else if (tier_class == "TextTier") {
        tier.is_interval_tier = false;
        ASSIGN_OR_RETURN(const int64_t n, Count("points: size"));
        for (int64_t i = 0; i < n; ++i) {
          if (long_) RETURN_IF_ERROR(Indexed("points"));
          TextGridInterval point;
          // Praat writes "number = "; some older tools wrote "time = ".
          ASSIGN_OR_RETURN(point.xmin, Number(Peek() != nullptr && Peek()->text == "time"
                                                  ? "time"
                                                  : "number"));
          point.xmax = point.xmin;
          ASSIGN_OR_RETURN(point.text, String("mark"));
          tier.intervals.push_back(std::move(point));
        }
      } else {
        return Malformed(file_, class_token->line,
                         absl::StrCat("unknown tier class \"", tier_class,
                                      "\" (expected \"IntervalTier\" or \"TextTier\")"));
      }
      grid.tiers.push_back(std::move(tier));
    }
    return grid;
  }

 private:
  const Token* Peek() const { return pos_ < tokens_.size() ? &tokens_[pos_] : nullptr; }
  const Token* Next() { return pos_ < tokens_.size() ? &tokens_[pos_++] : nullptr; }

  absl::Status Expected(const Token* got, absl::string_view what) const {
    if (got == nullptr) {
      return Malformed(file_, last_line_, absl::StrCat("unexpected end of file, expected ", what));
    }
    return Malformed(file_, got->line, absl::StrCat("expected ", what, ", got ", Describe(*got)));
  }

  // `File type = "ooTextFile"` and `Object class = "TextGrid"`, the same in both formats.
  absl::Status Header() {
    const Token* first = Peek();
    RETURN_IF_ERROR(Words("File type ="));
    const Token* type = Next();
    if (type == nullptr || type->kind != Token::kString ||
        type->text.rfind("ooTextFile", 0) != 0) {
      return Expected(type == nullptr ? first : type, "\"ooTextFile\" (not a Praat text file?)");
    }
    RETURN_IF_ERROR(Words("Object class ="));
    const Token* object = Next();
    if (object == nullptr || object->kind != Token::kString ||
        object->text.rfind("TextGrid", 0) != 0) {
      return Expected(object, "\"TextGrid\"");
    }
    return absl::OkStatus();
  }

  // A sequence of label words such as "intervals: size =", compared without case because
  // hand-edited files vary in it.
  absl::Status Words(absl::string_view label) {
    for (absl::string_view word : absl::StrSplit(label, ' ', absl::SkipEmpty())) {
      const Token* t = Next();
      if (t == nullptr || t->kind == Token::kString || !absl::EqualsIgnoreCase(t->text, word)) {
        return Expected(t, absl::StrCat("'", label, " '"));
      }
    }
    return absl::OkStatus();
  }

  // "item [3]:" and the like; the index itself is not checked, the count before it is.
  absl::Status Indexed(absl::string_view word) {
    const Token* t = Next();
    const Token* index = t != nullptr && absl::EqualsIgnoreCase(t->text, word) ? Next() : nullptr;
    if (index == nullptr || index->kind != Token::kWord || index->text.empty() ||
        index->text[0] != '[') {
      return Expected(index == nullptr ? t : index, absl::StrCat("'", word, " [n]:'"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<double> Number(absl::string_view key) {
    if (long_) RETURN_IF_ERROR(Words(absl::StrCat(key, " =")));
    const Token* t = Next();
    if (t == nullptr || t->kind != Token::kNumber || !std::isfinite(t->number)) {
      return Expected(t, long_ ? absl::StrCat("a number after '", key, " = '")
                               : absl::StrCat("a number (", key, ")"));
    }
    return t->number;
  }

  absl::StatusOr<int64_t> Count(absl::string_view key) {
    const Token* at = Peek();
    ASSIGN_OR_RETURN(const double n, Number(key));
    // Each element takes at least 3 tokens, which bounds what a corrupt count can allocate.
    if (n < 0 || n != std::floor(n) || n > static_cast<double>(tokens_.size())) {
      return Malformed(file_, at->line,
                       absl::StrCat("'", key, "': expected a count, got ", n));
    }
    return static_cast<int64_t>(n);
  }

  absl::StatusOr<std::string> String(absl::string_view key) {
    if (long_) RETURN_IF_ERROR(Words(absl::StrCat(key, " =")));
    const Token* t = Next();
    if (t == nullptr || t->kind != Token::kString) {
      return Expected(t, long_ ? absl::StrCat("a quoted string after '", key, " = '")
                               : absl::StrCat("a quoted string (", key, ")"));
    }
    return t->text;
  }

  const std::vector<Token> tokens_;
  const std::string& file_;
  const int last_line_;
  size_t pos_ = 0;
  bool long_ = true;
};

}  // namespace

absl::StatusOr<TextGrid> ParseTextGrid(absl::string_view contents, const std::string& file) {
  std::string converted;
  if (contents.size() >= 2 && (contents.substr(0, 2) == "\xFF\xFE" ||
                               contents.substr(0, 2) == "\xFE\xFF")) {
    converted = Utf16ToUtf8(contents.substr(2), contents[0] == '\xFE');
    contents = converted;
  } else if (contents.substr(0, 3) == "\xEF\xBB\xBF") {
    contents.remove_prefix(3);
  }
  int last_line = 1;
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(contents, file, &last_line));
  return Parser(std::move(tokens), file, last_line).Parse();
}

absl::StatusOr<TextGrid> ReadTextGrid(const std::string& path) {
  absl::StatusOr<std::string> contents = internal::ReadFileBytes(path);
  if (!contents.ok()) return contents.status();
  return ParseTextGrid(*contents, path);
}

bool IsSilence(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}') {
    text = absl::StripAsciiWhitespace(text.substr(1, text.size() - 2));
  }
  return text.empty() || absl::EqualsIgnoreCase(text, "sp") || absl::EqualsIgnoreCase(text, "sil");
}

std::vector<TextGridInterval> SpokenIntervals(const TextGridTier& tier) {
  std::vector<TextGridInterval> spoken;
  for (const TextGridInterval& interval : tier.intervals) {
    if (IsSilence(interval.text)) continue;
    spoken.push_back(interval);
    spoken.back().text = std::string(absl::StripAsciiWhitespace(interval.text));
  }
  return spoken;
}

}  // namespace braintune::data

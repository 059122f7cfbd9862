// GPT-2's byte-level BPE (model/tokenizer.h).
#include <filesystem>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "config/yaml_reader.h"
#include "model/tokenizer.h"
#include "model/unicode_text.h"

namespace braintune::model {

namespace {

constexpr int64_t kMaxVocabulary = int64_t{1} << 20;  // ids; the largest published vocabularies have ~250k

// GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for themselves, the others for
// U+0100 upwards in byte order, so that every byte is a visible character of the vocabulary.
std::vector<std::string> ByteSymbols() {
  std::vector<std::string> table(256);
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    AppendUtf8(printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++), &table[b]);
  }
  return table;
}

// The pieces GPT-2's pattern cuts `text` into (see tokenizer.h), as [begin, end) code points.
std::vector<std::pair<size_t, size_t>> PreTokenize(const std::u32string& t) {
  std::vector<std::pair<size_t, size_t>> pieces;
  const size_t n = t.size();
  size_t i = 0;
  auto run = [&](size_t j, bool (*in)(char32_t)) {
    while (j < n && in(t[j])) ++j;
    return j;
  };
  auto other = [](char32_t c) { return !IsRegexSpace(c) && !IsLetter(c) && !IsNumber(c); };
  while (i < n) {
    // 's 't 're 've 'm 'll 'd
    if (t[i] == U'\'' && i + 1 < n) {
      size_t len = 0;
      const char32_t a = t[i + 1], b = i + 2 < n ? t[i + 2] : 0;
      if (a == U's' || a == U't' || a == U'm' || a == U'd') {
        len = 2;
      } else if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l')) {
        len = 3;
      }
      if (len > 0) {
        pieces.emplace_back(i, i + len);
        i += len;
        continue;
      }
    }
    // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
    const size_t j = t[i] == U' ' && i + 1 < n ? i + 1 : i;
    size_t end = i;
    if (IsLetter(t[j])) {
      end = run(j, IsLetter);
    } else if (IsNumber(t[j])) {
      end = run(j, IsNumber);
    } else if (other(t[j])) {
      end = j;
      while (end < n && other(t[end])) ++end;
    }
    if (end > i) {
      pieces.emplace_back(i, end);
      i = end;
      continue;
    }
    // '\s+(?!\S)' then '\s+': a run of whitespace leaves its last character to the next word.
    size_t k = run(i, IsRegexSpace);
    if (k < n && k - i > 1) --k;
    pieces.emplace_back(i, k);
    i = k;
  }
  return pieces;
}

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(std::unordered_map<std::string, int64_t> vocab, std::unordered_map<std::string, int> ranks,
               std::string source)
      : vocab_(std::move(vocab)), ranks_(std::move(ranks)), source_(std::move(source)), bytes_(ByteSymbols()) {
    id_to_token_.resize(vocab_.size());
    for (const auto& [token, id] : vocab_) {
      if (id >= static_cast<int64_t>(id_to_token_.size())) id_to_token_.resize(id + 1);
      id_to_token_[id] = token;
    }
  }

  absl::StatusOr<std::vector<int64_t>> Encode(std::string_view text, const std::string& what) const override {
    if (text.size() > kMaxTokenizerTextBytes) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", text.size(), " bytes of text, more than ", kMaxTokenizerTextBytes));
    }
    ASSIGN_OR_RETURN(std::u32string cps, DecodeUtf8(text, what));
    std::vector<int64_t> ids;
    for (const auto& [b, e] : PreTokenize(cps)) {
      const std::string piece = EncodeUtf8(std::u32string_view(cps).substr(b, e - b));
      if (piece.size() > kMaxBpePieceBytes) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": a run of ", piece.size(),
                                                       " bytes without a break (at most ", kMaxBpePieceBytes, ")"));
      }
      ASSIGN_OR_RETURN(std::vector<int64_t> piece_ids, Piece(piece));
      ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
    }
    return ids;
  }

  std::string TokenText(int64_t id) const override {
    return id >= 0 && id < static_cast<int64_t>(id_to_token_.size()) ? id_to_token_[id] : "";
  }
  int64_t vocab_size() const override { return static_cast<int64_t>(id_to_token_.size()); }

 protected:
  bool space_before_words() const override { return true; }

 private:
  // The ids of one pre-token, from the cache or by merging its bytes' symbols (a copy: another
  // thread may clear the cache once the lock is released).
  absl::StatusOr<std::vector<int64_t>> Piece(const std::string& piece) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cache_.find(piece); it != cache_.end()) return it->second;
    std::vector<std::string> symbols;
    for (unsigned char c : piece) symbols.push_back(bytes_[c]);
    while (symbols.size() > 1) {
      int best = std::numeric_limits<int>::max();
      size_t at = 0;
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        auto it = ranks_.find(absl::StrCat(symbols[i], " ", symbols[i + 1]));
        if (it != ranks_.end() && it->second < best) best = it->second, at = i;
      }
      if (best == std::numeric_limits<int>::max()) break;
      const std::string first = symbols[at], second = symbols[at + 1];
      std::vector<std::string> merged;
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == first && symbols[i + 1] == second) {
          merged.push_back(first + second);
          ++i;
        } else {
          merged.push_back(symbols[i]);
        }
      }
      symbols = std::move(merged);
    }
    std::vector<int64_t> ids;
    for (const std::string& s : symbols) {
      auto it = vocab_.find(s);
      if (it == vocab_.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source_, ": a token the merges produce is not in vocab.json (the files do not belong together)"));
      }
      ids.push_back(it->second);
    }
    if (piece.size() <= 256) {  // bounded: a story has far fewer distinct words
      if (cache_.size() > 100000) cache_.clear();
      cache_.emplace(piece, ids);
    }
    return ids;
  }

  // Constant after construction.
  const std::unordered_map<std::string, int64_t> vocab_;
  const std::unordered_map<std::string, int> ranks_;  // "a b" -> rank (line order of merges.txt)
  const std::string source_;
  const std::vector<std::string> bytes_;
  std::vector<std::string> id_to_token_;

  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;  // guarded by mu_
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> ReadBpeTokenizer(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string vocab_path = (fs::path(dir) / "vocab.json").string();
  const std::string merges_path = (fs::path(dir) / "merges.txt").string();
  ASSIGN_OR_RETURN(std::string vocab_text, ReadTokenizerFile(vocab_path));
  ASSIGN_OR_RETURN(std::string merges_text, ReadTokenizerFile(merges_path));
  ASSIGN_OR_RETURN(YAML::Node root, config::LoadYaml(vocab_text, vocab_path, "JSON"));
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(vocab_path, ": expected a JSON object of token: id"));
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<bool> seen;
  RETURN_IF_ERROR(config::GuardYaml(vocab_path, [&]() -> absl::Status {
    for (const auto& kv : root) {
      const int64_t id = kv.second.as<int64_t>();
      if (id < 0 || id >= kMaxVocabulary) {
        return absl::InvalidArgumentError(absl::StrCat(vocab_path, ":", kv.second.Mark().line + 1, ": id ", id, " out of range"));
      }
      if (static_cast<size_t>(id) >= seen.size()) seen.resize(id + 1);
      if (seen[id]) return absl::InvalidArgumentError(absl::StrCat(vocab_path, ":", kv.second.Mark().line + 1, ": id ", id, " used twice"));
      seen[id] = true;
      vocab.emplace(kv.first.as<std::string>(), id);
    }
    return absl::OkStatus();
  }));
  // Every byte must have a token, or some text could not be encoded at all.
  for (const std::string& symbol : ByteSymbols()) {
    if (!vocab.count(symbol)) {
      return absl::InvalidArgumentError(absl::StrCat(vocab_path, ": lacks a token for one of the 256 bytes (not a byte-level BPE vocabulary)"));
    }
  }
  // As GPT-2's own code (dict(zip(merges, range(...)))): a repeated merge keeps its last rank.
  std::unordered_map<std::string, int> ranks;
  int line_no = 0, rank = 0;
  for (absl::string_view line : absl::StrSplit(merges_text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && absl::StartsWith(line, "#version"))) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(merges_path, ":", line_no, ": expected two tokens separated by one space"));
    }
    if (!vocab.count(absl::StrCat(parts[0], parts[1]))) {
      return absl::InvalidArgumentError(absl::StrCat(merges_path, ":", line_no, ": the merged token is not in vocab.json"));
    }
    ranks[std::string(line)] = rank++;
  }
  return std::unique_ptr<Tokenizer>(new BpeTokenizer(std::move(vocab), std::move(ranks), dir));
}

}  // namespace braintune::model

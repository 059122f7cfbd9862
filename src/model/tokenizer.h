// Tokenizers read from the files a Hugging Face checkpoint ships, as its model was trained with:
//
//   GPT-2: byte-level BPE (vocab.json + merges.txt). The text is cut by GPT-2's pattern
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     each piece's UTF-8 bytes become printable characters (the byte-to-unicode table), and the
//     merges are applied lowest rank first.
//   BERT: WordPiece (vocab.txt; tokenizer_config.json's do_lower_case and strip_accents when
//     present). Control characters dropped, whitespace to spaces, spaces around CJK ideographs,
//     NFC; split on whitespace; lower-cased and accents stripped (NFD, marks dropped); split
//     around punctuation; then greedy longest-match-first pieces ("##" after the first), a word
//     of more than 100 characters or with no match being [UNK].
//
// bench/reference/text_reference.py does the same in plain Python; tests/model compares them.
// Special tokens are added by the model's input code, never read from the text: a story's
// "[SEP]" or "<|endoftext|>" is text. Torch-free. Encode may be called from any thread.
#ifndef BRAINTUNE_MODEL_TOKENIZER_H_
#define BRAINTUNE_MODEL_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace braintune::model {

// The longest text Encode takes (a story's words are encoded one at a time).
inline constexpr size_t kMaxTokenizerTextBytes = 1 << 20;
// The longest run of letters, digits or symbols BPE merges (its merging is quadratic in the
// run's length; no word of any language comes near it).
inline constexpr size_t kMaxBpePieceBytes = 1024;

// Tokens of a sequence of words: word i's tokens are ids[ends[i - 1] .. ends[i]) (ends[-1] = 0).
// A word may have no tokens (BERT drops a word of control characters), then ends repeats.
struct WordTokens {
  std::vector<int64_t> ids;
  std::vector<int64_t> ends;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of `text`, without special tokens. InvalidArgument naming `what` for text that is
  // not UTF-8, longer than kMaxTokenizerTextBytes, or (BPE) with a run longer than kMaxBpePieceBytes.
  virtual absl::StatusOr<std::vector<int64_t>> Encode(std::string_view text, const std::string& what) const = 0;
  // The words of a running text: GPT-2 reads " word" after the first word (a word inside a
  // sentence), WordPiece each word alone (the same as the joined text: it splits on spaces).
  absl::StatusOr<WordTokens> EncodeWords(const std::vector<std::string>& words, const std::string& what) const;
  // The vocabulary's string for `id` ("" when out of range).
  virtual std::string TokenText(int64_t id) const = 0;
  virtual int64_t vocab_size() const = 0;
  // [CLS] and [SEP] for WordPiece (their ids in vocab.txt), -1 for GPT-2, which has none.
  virtual int64_t cls_id() const { return -1; }
  virtual int64_t sep_id() const { return -1; }

 protected:
  virtual bool space_before_words() const = 0;
};

// vocab.json + merges.txt in `dir`. Errors name the file and line.
absl::StatusOr<std::unique_ptr<Tokenizer>> ReadBpeTokenizer(const std::string& dir);
// vocab.txt (+ tokenizer_config.json, optional) in `dir`. Errors name the file and line.
absl::StatusOr<std::unique_ptr<Tokenizer>> ReadWordPieceTokenizer(const std::string& dir);
// The tokenizer of `model_type` ("gpt2": BPE, "bert": WordPiece).
absl::StatusOr<std::unique_ptr<Tokenizer>> ReadTokenizer(const std::string& dir, const std::string& model_type);

// A tokenizer file read whole, refused above 64 MiB (GPT-2's vocab.json is 1 MB); errors name it.
absl::StatusOr<std::string> ReadTokenizerFile(const std::string& path);

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_TOKENIZER_H_

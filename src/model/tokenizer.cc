#include "model/tokenizer.h"

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "model/unicode_text.h"

namespace braintune::model {

absl::StatusOr<WordTokens> Tokenizer::EncodeWords(const std::vector<std::string>& words, const std::string& what) const {
  WordTokens out;
  out.ends.reserve(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string where = absl::StrCat(what, " word ", i);
    const std::string text = space_before_words() && i > 0 ? absl::StrCat(" ", words[i]) : words[i];
    absl::StatusOr<std::vector<int64_t>> ids = Encode(text, where);
    if (!ids.ok()) {
      // Invalid UTF-8 is reported at its byte offset within the word, not within " " + word.
      RETURN_IF_ERROR(DecodeUtf8(words[i], where).status());
      return ids.status();
    }
    out.ids.insert(out.ids.end(), ids->begin(), ids->end());
    out.ends.push_back(static_cast<int64_t>(out.ids.size()));
  }
  return out;
}

absl::StatusOr<std::string> ReadTokenizerFile(const std::string& path) {
  return ReadWholeFile(path, "tokenizer file");  // at most kMaxWholeFileBytes (64 MiB)
}

absl::StatusOr<std::unique_ptr<Tokenizer>> ReadTokenizer(const std::string& dir, const std::string& model_type) {
  if (model_type == "gpt2") return ReadBpeTokenizer(dir);
  if (model_type == "bert") return ReadWordPieceTokenizer(dir);
  return absl::InvalidArgumentError(absl::StrCat(dir, ": no tokenizer for model_type '", model_type, "' (gpt2 or bert)"));
}

}  // namespace braintune::model

// Unicode for the tokenizers: strict UTF-8 decoding and the character classes and normalisations
// that Hugging Face's tokenizers (and Python's str) define, answered by ICU so that they follow
// the Unicode database rather than the C locale. Torch-free; stateless, so any thread may call.
#ifndef BRAINTUNE_MODEL_UNICODE_TEXT_H_
#define BRAINTUNE_MODEL_UNICODE_TEXT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace braintune::model {

// Code points of `utf8`. InvalidArgument "<what>: not valid UTF-8 at byte N" for a truncated or
// overlong sequence, a surrogate or a value above U+10FFFF (never the bytes themselves).
absl::StatusOr<std::u32string> DecodeUtf8(std::string_view utf8, const std::string& what);
std::string EncodeUtf8(std::u32string_view text);

bool IsLetter(char32_t c);          // general category L*  (regex \p{L})
bool IsNumber(char32_t c);          // general category N*  (regex \p{N})
bool IsRegexSpace(char32_t c);      // the White_Space property (regex \s)
bool IsPythonSpace(char32_t c);     // Python's str.isspace(): category Zs or bidi class WS, B, S
bool IsSpaceSeparator(char32_t c);  // general category Zs
bool IsControl(char32_t c);         // general category C* (unassigned included)
bool IsPunctuation(char32_t c);     // general category P*
bool IsNonSpacingMark(char32_t c);  // general category Mn
bool IsCjkIdeograph(char32_t c);    // the CJK Unified Ideographs blocks BERT splits around

// Full Unicode lower-casing (as Python's str.lower()), and the NFC and NFD forms.
std::u32string Lower(std::u32string_view text);
std::u32string Nfc(std::u32string_view text);
std::u32string Nfd(std::u32string_view text);

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_UNICODE_TEXT_H_

#include "model/unicode_text.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"

namespace braintune::model {

namespace {

icu::UnicodeString ToIcu(std::u32string_view text) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(text.data()), static_cast<int32_t>(text.size()));
}

std::u32string FromIcu(const icu::UnicodeString& s) {
  std::u32string out;
  for (int32_t i = 0; i < s.length();) {
    const UChar32 c = s.char32At(i);
    out.push_back(static_cast<char32_t>(c));
    i += U16_LENGTH(c);
  }
  return out;
}

std::u32string Normalize(std::u32string_view text, bool compose) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = compose ? icu::Normalizer2::getNFCInstance(err) : icu::Normalizer2::getNFDInstance(err);
  if (U_FAILURE(err)) return std::u32string(text);  // ICU's data is missing: leave the text as it is
  icu::UnicodeString out = n->normalize(ToIcu(text), err);
  return U_FAILURE(err) ? std::u32string(text) : FromIcu(out);
}

bool CategoryIn(char32_t c, uint32_t mask) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & mask) != 0; }

}  // namespace

absl::StatusOr<std::u32string> DecodeUtf8(std::string_view s, const std::string& what) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    int len = 0;
    char32_t c = 0, min = 0;
    if (b < 0x80) {
      len = 1, c = b;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2, c = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, c = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, c = b & 0x07, min = 0x10000;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const unsigned char cont = static_cast<unsigned char>(s[i + k]);
      ok = (cont & 0xC0) == 0x80;
      c = (c << 6) | (cont & 0x3F);
    }
    ok = ok && c >= min && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
    if (!ok) return absl::InvalidArgumentError(absl::StrCat(what, ": not valid UTF-8 at byte ", i));
    out.push_back(c);
    i += len;
  }
  return out;
}

std::string EncodeUtf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) AppendUtf8(c, &out);
  return out;
}

bool IsLetter(char32_t c) { return CategoryIn(c, U_GC_L_MASK); }
bool IsNumber(char32_t c) { return CategoryIn(c, U_GC_N_MASK); }
bool IsRegexSpace(char32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)); }
bool IsPythonSpace(char32_t c) {
  const UCharDirection d = u_charDirection(static_cast<UChar32>(c));
  return CategoryIn(c, U_GC_ZS_MASK) || d == U_WHITE_SPACE_NEUTRAL || d == U_BLOCK_SEPARATOR ||
         d == U_SEGMENT_SEPARATOR;
}
bool IsSpaceSeparator(char32_t c) { return CategoryIn(c, U_GC_ZS_MASK); }
bool IsControl(char32_t c) { return CategoryIn(c, U_GC_C_MASK); }
bool IsPunctuation(char32_t c) { return CategoryIn(c, U_GC_P_MASK); }
bool IsNonSpacingMark(char32_t c) { return CategoryIn(c, U_GC_MN_MASK); }

bool IsCjkIdeograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::u32string Lower(std::u32string_view text) {
  icu::UnicodeString s = ToIcu(text);
  s.toLower(icu::Locale::getRoot());
  return FromIcu(s);
}

std::u32string Nfc(std::u32string_view text) { return Normalize(text, /*compose=*/true); }
std::u32string Nfd(std::u32string_view text) { return Normalize(text, /*compose=*/false); }

}  // namespace braintune::model

#include "eval/html_text.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace braintune::eval {

std::string Escape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

size_t CodePoints(absl::string_view s) {
  return std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; });
}

std::string Shorten(absl::string_view s, size_t max_chars) {
  if (CodePoints(s) <= max_chars) return std::string(s);
  size_t kept = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((s[i] & 0xC0) != 0x80 && ++kept == max_chars) break;
  }
  return absl::StrCat(s.substr(0, i), "…");
}

std::string Num(double v, int decimals) {
  if (!std::isfinite(v)) return std::string(kMissing);
  std::string s = absl::StrFormat("%.*f", decimals, v);
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

std::string PlusMinus(double mean, double sem) {
  std::string s = Num(mean);
  if (std::isfinite(mean) && std::isfinite(sem) && sem > 0) absl::StrAppend(&s, " ± ", Num(sem));
  return s;
}

std::string PValue(double p) {
  if (!std::isfinite(p)) return std::string(kMissing);
  return p < 0.001 ? absl::StrFormat("%.1e", p) : absl::StrFormat("%.3f", p);
}

std::string Percent(double fraction) { return absl::StrFormat("%g%%", fraction * 100); }

std::string Duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return std::string(kMissing);
  if (seconds < 60) return absl::StrFormat("%.1f s", seconds);
  const long total = std::lround(seconds);
  if (total < 3600) return absl::StrFormat("%d min %02d s", total / 60, total % 60);
  return absl::StrFormat("%d h %02d min", total / 3600, (total % 3600) / 60);
}

}  // namespace braintune::eval

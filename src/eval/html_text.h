// Text for the HTML report and its charts: escaping, shortening, and the number formats shared by
// tables, tooltips and axis labels, so that a value reads the same wherever it appears.
#ifndef BRAINTUNE_EVAL_HTML_TEXT_H_
#define BRAINTUNE_EVAL_HTML_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace braintune::eval {

// Shown for a missing or non-finite number: an en dash.
inline constexpr absl::string_view kMissing = "–";

// `s` with & < > " ' replaced by character references; safe in text and in quoted attributes.
std::string Escape(absl::string_view s);

// The number of UTF-8 code points in `s`.
size_t CodePoints(absl::string_view s);

// `s` cut to at most `max_chars` code points, with an ellipsis when cut. Not escaped.
std::string Shorten(absl::string_view s, size_t max_chars);

// `v` with `decimals` decimals; kMissing when not finite; never "-0.000".
std::string Num(double v, int decimals = 3);

// "0.412 ± 0.013": `mean` with " ± sem" when `sem` is finite and positive; kMissing when `mean`
// is not finite.
std::string PlusMinus(double mean, double sem);

// A p-value: 3 decimals, or "1.2e-04" below 0.001; kMissing when not finite.
std::string PValue(double p);

// `fraction` as a percentage, "25%".
std::string Percent(double fraction);

// "12.3 s", "12 min 34 s" or "2 h 05 min"; kMissing when negative or not finite.
std::string Duration(double seconds);

}  // namespace braintune::eval

#endif  // BRAINTUNE_EVAL_HTML_TEXT_H_

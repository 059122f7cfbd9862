// Praat TextGrid files (the word and phone alignments of LeBel et al. 2023 and most
// forced aligners): both of Praat's text formats, "long" (`xmin = 0`, `item [1]:`, ...) and
// "short" (one value per line), in UTF-8 or UTF-16 (Praat writes UTF-16 when a label needs it).
#ifndef BRAINTUNE_DATA_TEXTGRID_H_
#define BRAINTUNE_DATA_TEXTGRID_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace braintune::data {

// One interval of an interval tier, or one point of a point tier (then xmin == xmax).
struct TextGridInterval {
  double xmin = 0;  // seconds
  double xmax = 0;  // seconds, >= xmin
  std::string text;
};

struct TextGridTier {
  std::string name;
  bool is_interval_tier = true;  // false for a point tier ("TextTier")
  std::vector<TextGridInterval> intervals;  // in file order
};

struct TextGrid {
  double xmin = 0;
  double xmax = 0;
  std::vector<TextGridTier> tiers;  // in file order
};

// Parses the contents of a TextGrid file. `file` only names the file in errors, which read
// "<file>:<line>: expected 'xmax = ', got 'foo'". Accepts a UTF-8 or UTF-16 byte order mark
// and any of \n, \r\n, \r line ends; label strings may span lines and use Praat's "" escape.
absl::StatusOr<TextGrid> ParseTextGrid(absl::string_view contents, const std::string& file);

// Reads and parses a TextGrid file; errors name `path`.
absl::StatusOr<TextGrid> ReadTextGrid(const std::string& path);

// True for the labels aligners use for silence: empty or blank, "sp", "sil" (any case,
// optionally in braces, e.g. "{SP}").
bool IsSilence(absl::string_view text);

// The intervals of `tier` that are not silences (IsSilence), with texts trimmed of blanks.
std::vector<TextGridInterval> SpokenIntervals(const TextGridTier& tier);

}  // namespace braintune::data

#endif  // BRAINTUNE_DATA_TEXTGRID_H_

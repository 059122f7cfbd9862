// Terminal output for the CLI: aligned tables, a progress bar line, durations.
#ifndef BRAINTUNE_CLI_FORMAT_H_
#define BRAINTUNE_CLI_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace braintune::cli {

// Left-aligned columns separated by two spaces; the first row is the header.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

// "[##########----------]  50%" of `width` cells.
std::string ProgressBar(int64_t done, int64_t total, int width = 30);

// The values as a line of `width` block characters (U+2581..U+2588), low to high; each cell the
// mean of the values that fall in it; a cell of no finite value is a space. Empty for no values.
std::string Sparkline(const std::vector<double>& values, int width = 40);

// 75 -> "1m15s", 3725 -> "1h02m".
std::string FormatDuration(double seconds);

}  // namespace braintune::cli

#endif  // BRAINTUNE_CLI_FORMAT_H_

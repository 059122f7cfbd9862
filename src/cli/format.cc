#include "cli/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace braintune::cli {

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      std::string cell = row[i];
      if (i + 1 < row.size()) cell.resize(width[i] + 2, ' ');
      line += cell;
    }
    out += line + "\n";
  }
  return out;
}

std::string ProgressBar(int64_t done, int64_t total, int width) {
  double frac = total > 0 ? std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0) : 0.0;
  int filled = static_cast<int>(frac * width + 0.5);
  return absl::StrFormat("[%s%s] %3d%%", std::string(filled, '#'), std::string(width - filled, '-'),
                         static_cast<int>(frac * 100 + 0.5));
}

std::string Sparkline(const std::vector<double>& values, int width) {
  if (values.empty() || width <= 0) return "";
  static const char* const kBlocks[] = {"\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};
  const size_t cells = std::min(values.size(), static_cast<size_t>(width));
  std::vector<double> mean(cells, 0);
  std::vector<int> n(cells, 0);
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    const size_t c = i * cells / values.size();
    mean[c] += values[i];
    ++n[c];
  }
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (size_t c = 0; c < cells; ++c) {
    if (n[c] == 0) continue;
    mean[c] /= n[c];
    lo = std::min(lo, mean[c]);
    hi = std::max(hi, mean[c]);
  }
  std::string out;
  for (size_t c = 0; c < cells; ++c) {
    if (n[c] == 0) {
      out += ' ';
      continue;
    }
    const int level = hi > lo ? static_cast<int>(std::lround((mean[c] - lo) / (hi - lo) * 7)) : 3;
    out += kBlocks[std::clamp(level, 0, 7)];
  }
  return out;
}

std::string FormatDuration(double seconds) {
  if (seconds < 0) seconds = 0;
  int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

}  // namespace braintune::cli

// The charts of the HTML report (report.h), each returned as one self-contained <svg> element:
// grouped bars, lines with SEM bands, and a paired per-participant plot. They know numbers,
// names and colours, not evaluation summaries; every string they are given is escaped here.
// Pure functions; safe to call from any thread.
#ifndef BRAINTUNE_EVAL_SVG_CHART_H_
#define BRAINTUNE_EVAL_SVG_CHART_H_

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace braintune::eval::svg {

// Colour `i` (mod 10) of the Tableau 10 palette, "#4e79a7" first.
std::string PaletteColour(int i);

// Category labels longer than this many characters are shortened (the full name is a tooltip).
inline constexpr size_t kMaxLabelChars = 22;

// A data range along one axis.
struct Range {
  double lo = 0, hi = 1;
  bool log = false;  // log10 axis; values <= 0 are not drawn
};

// Running minimum and maximum of the finite values added.
struct Extent {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void Add(double v);
  void AddMeanSem(double mean, double sem);
  bool empty() const { return lo > hi; }
  // The range grown by `fraction` of its span at both ends, so that dots on the extremes are not
  // drawn on the axis.
  Range Padded(double fraction) const;
};

// Pixel margins around the plot area, and the whole size; the SVG scales down with the page.
struct Frame {
  double width = 640, height = 320;
  double left = 66, right = 18, top = 14, bottom = 48;
};

struct BarStyle {
  std::string fill;
  double opacity = 1;
};

// One bar: its height, error bar and how the value reads in the tooltip. A non-finite mean draws
// a "–" instead of a bar; a non-finite or zero sem draws no error bar.
struct BarValue {
  double mean = std::numeric_limits<double>::quiet_NaN();
  double sem = 0;
  std::string text;  // e.g. "0.412 ± 0.013 (n=8)"
};

struct BarSeries {
  std::string name;
  BarStyle style;
  std::vector<BarValue> values;  // one per category
  std::string attrs;             // extra attributes on each of its bars
};

// Bars grouped by category (one per series, tooltip "series — category: text"), SEM error bars,
// and a dashed level per category for each finite mean of `reference` (e.g. the noise ceiling),
// named `reference_name` in its tooltip. `kind` becomes a CSS class of the <svg>, `aria` its
// accessible name.
std::string GroupedBarChart(const std::vector<std::string>& categories, const std::vector<BarSeries>& series,
                            const std::vector<BarValue>& reference, absl::string_view reference_name,
                            absl::string_view y_label, absl::string_view kind, absl::string_view aria);

struct Point {
  double x, mean, sem;
  std::string tooltip;
};

struct LineSeries {
  std::string name;
  std::string colour;
  std::vector<Point> points;                                   // any order; drawn by ascending x
  double marked_x = std::numeric_limits<double>::quiet_NaN();  // the point here is ringed
};

enum class XScale {
  kIntegers,  // whole-number ticks, half a step of room at both ends (layers)
  kFractions  // ticks in percent; log10 when the largest is 5 or more times the smallest
};

// One line per series with an SEM band and a dot per point; an empty string when no series
// has a finite point.
std::string LineChart(std::vector<LineSeries> series, XScale scale, Frame frame, absl::string_view x_label,
                      absl::string_view y_label, absl::string_view kind, absl::string_view aria);

// Paired scores: a[i] and b[i] belong to the same participant, labels[i] (or "#i+1").
struct PairedSeries {
  std::string name_a, name_b;
  std::vector<double> a, b;
  std::vector<std::string> labels;
};

// Each pair's score under A and under B joined by a line (red where B is lower), and the two
// means as ticks beside the dots. Plots meant to be compared should share `y`.
std::string PairedPlot(const PairedSeries& pairs, Range y, absl::string_view colour_a,
                       absl::string_view colour_b, absl::string_view y_label);

}  // namespace braintune::eval::svg

#endif  // BRAINTUNE_EVAL_SVG_CHART_H_

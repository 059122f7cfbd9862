#include "eval/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "eval/html_text.h"

namespace braintune::eval::svg {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Tableau 10.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
// Labels are 12 px text; this is a generous average advance per character, so that estimated
// widths err on the side of rotating or thinning labels rather than overlapping them.
constexpr double kCharWidth = 6.8;
// Category labels too wide for their slot are rotated by this many degrees.
constexpr int kLabelAngle = 35;
constexpr double kSinLabelAngle = 0.5736;  // sin(35 degrees)

double TextWidth(absl::string_view s) { return kCharWidth * CodePoints(s); }

// Every chart is an SvgChart (axes, bars, lines, bands, dots) built by one of GroupedBarChart,
// LineChart and PairedPlot below.

struct Tick {
  double value;
  std::string label;
};

double MapToPixels(const Range& r, double p0, double p1, double v) {
  double lo = r.lo, hi = r.hi;
  if (r.log) {
    if (!(v > 0) || !(lo > 0)) return kNaN;
    v = std::log10(v), lo = std::log10(lo), hi = std::log10(hi);
  }
  if (!(hi > lo)) return (p0 + p1) / 2;
  return p0 + (v - lo) / (hi - lo) * (p1 - p0);
}

// 1, 2, 2.5 or 5 times a power of ten, near span / intervals.
double NiceStep(double span, double intervals) {
  const double raw = span / std::max(1.0, intervals);
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * magnitude;
}

int DecimalsOf(double step) {
  for (int d = 0; d < 8; ++d) {
    const double scaled = step * std::pow(10, d);
    if (std::abs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, scaled)) return d;
  }
  return 8;
}

// Widens `range` to whole multiples of a nice step (about `intervals` of them) and returns the
// ticks. An empty or single-valued range is widened around its value first.
std::vector<Tick> NiceTicks(Range* range, int intervals) {
  double lo = range->lo, hi = range->hi;
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) lo = 0, hi = 1;
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    if (lo != 0) lo -= pad;
    hi += pad;
  }
  const double step = NiceStep(hi - lo, intervals);
  lo = std::floor(lo / step + 1e-9) * step;
  hi = std::ceil(hi / step - 1e-9) * step;
  const int decimals = DecimalsOf(step);
  std::vector<Tick> ticks;
  for (int i = 0; lo + i * step <= hi + step * 1e-6; ++i) {
    double v = lo + i * step;
    if (std::abs(v) < step * 1e-9) v = 0;
    ticks.push_back({v, Num(v, decimals)});
  }
  range->lo = lo;
  range->hi = hi;
  return ticks;
}

std::string P(double px) { return absl::StrFormat("%.1f", px); }

// Category labels along x: rotated (and the bottom margin grown) when the widest one does not fit
// its slot.
struct CategoryLayout {
  bool rotate = false;
  double bottom = 34;
};

CategoryLayout LayoutCategories(const std::vector<std::string>& names, double slot_px) {
  double widest = 0;
  for (const std::string& n : names) widest = std::max(widest, TextWidth(Shorten(n, kMaxLabelChars)));
  CategoryLayout layout;
  if (widest > slot_px * 0.92) {
    layout.rotate = true;
    layout.bottom = 22 + widest * kSinLabelAngle + 8;
  }
  return layout;
}

class SvgChart {
 public:
  SvgChart(const Frame& frame, const Range& x, const Range& y) : frame_(frame), x_(x), y_(y) {}

  double Left() const { return frame_.left; }
  double Right() const { return frame_.width - frame_.right; }
  double Top() const { return frame_.top; }
  double Bottom() const { return frame_.height - frame_.bottom; }
  double X(double v) const { return MapToPixels(x_, Left(), Right(), v); }
  double Y(double v) const { return MapToPixels(y_, Bottom(), Top(), v); }

  // Horizontal grid lines with labels at `ticks` (the zero line darker) and a rotated title.
  void YAxis(const std::vector<Tick>& ticks, absl::string_view title) {
    for (const Tick& t : ticks) {
      const double y = Y(t.value);
      absl::StrAppend(&body_, "<line x1=\"", P(Left()), "\" x2=\"", P(Right()), "\" y1=\"", P(y), "\" y2=\"",
                      P(y), "\" stroke=\"", t.value == 0 ? "#9a9a9a" : "#e6e6e6", "\"/>");
      Text(Left() - 7, y + 4, t.label, "end");
    }
    const double mid = (Top() + Bottom()) / 2;
    absl::StrAppend(&body_, "<text class=\"axis-title\" transform=\"translate(15,", P(mid),
                    ") rotate(-90)\" text-anchor=\"middle\">", Escape(title), "</text>");
  }

  // The x axis line, tick marks and labels at X(tick), and a title below them.
  void XAxis(const std::vector<Tick>& ticks, absl::string_view title) {
    BaseLine();
    for (const Tick& t : ticks) {
      const double x = X(t.value);
      if (!std::isfinite(x)) continue;
      absl::StrAppend(&body_, "<line x1=\"", P(x), "\" x2=\"", P(x), "\" y1=\"", P(Bottom()), "\" y2=\"",
                      P(Bottom() + 4), "\" stroke=\"#777\"/>");
      Text(x, Bottom() + 17, t.label, "middle");
    }
    absl::StrAppend(&body_, "<text class=\"axis-title\" x=\"", P((Left() + Right()) / 2), "\" y=\"",
                    P(Bottom() + 36), "\" text-anchor=\"middle\">", Escape(title), "</text>");
  }

  // The x axis line and category i's name centred on X(i + 0.5).
  void XCategories(const std::vector<std::string>& names, const CategoryLayout& layout) {
    BaseLine();
    for (size_t i = 0; i < names.size(); ++i) {
      const double x = X(i + 0.5), y = Bottom() + 17;
      const std::string label = Escape(Shorten(names[i], kMaxLabelChars));
      if (layout.rotate) {
        absl::StrAppend(&body_, "<text class=\"category\" transform=\"translate(", P(x + 4), ",", P(y - 4),
                        ") rotate(-", kLabelAngle, ")\" text-anchor=\"end\"><title>", Escape(names[i]),
                        "</title>", label, "</text>");
      } else {
        absl::StrAppend(&body_, "<text class=\"category\" x=\"", P(x), "\" y=\"", P(y),
                        "\" text-anchor=\"middle\"><title>", Escape(names[i]), "</title>", label, "</text>");
      }
    }
  }

  // A bar from 0 to `mean` between pixels x0 and x1, with an error bar of +- `sem`; a "–" at
  // the baseline when `mean` is not finite.
  void Bar(double x0, double x1, double mean, double sem, const BarStyle& style, absl::string_view tooltip,
           absl::string_view attrs) {
    const double base = Y(std::clamp(0.0, y_.lo, y_.hi));
    if (!std::isfinite(mean)) {
      absl::StrAppend(&body_, "<text class=\"missing\" x=\"", P((x0 + x1) / 2), "\" y=\"", P(base - 4),
                      "\" text-anchor=\"middle\"><title>", Escape(tooltip), "</title>", kMissing, "</text>");
      return;
    }
    const double top = Y(std::clamp(mean, y_.lo, y_.hi));
    absl::StrAppend(&body_, "<rect class=\"bar\" ", attrs, " x=\"", P(x0), "\" y=\"", P(std::min(base, top)),
                    "\" width=\"", P(std::max(x1 - x0, 1.0)), "\" height=\"",
                    P(std::max(std::abs(base - top), 1.0)), "\" fill=\"", style.fill, "\" fill-opacity=\"",
                    absl::StrFormat("%.2f", style.opacity), "\" stroke=\"", style.fill, "\"><title>",
                    Escape(tooltip), "</title></rect>");
    if (std::isfinite(sem) && sem > 0) {
      ErrorBar((x0 + x1) / 2, mean - sem, mean + sem, std::min(5.0, (x1 - x0) / 3));
    }
  }

  void ErrorBar(double x, double lo, double hi, double half_cap) {
    const double y0 = Y(lo), y1 = Y(hi);
    absl::StrAppend(&body_, "<path class=\"sem\" d=\"M", P(x), " ", P(y0), "V", P(y1), "M", P(x - half_cap),
                    " ", P(y0), "H", P(x + half_cap), "M", P(x - half_cap), " ", P(y1), "H", P(x + half_cap),
                    "\" stroke=\"#333\" stroke-width=\"1.2\" fill=\"none\"/>");
  }

  // A polyline through the points' means, broken where a mean is missing.
  void Line(const std::vector<Point>& points, absl::string_view colour, double width,
            absl::string_view tooltip = "") {
    std::string d;
    bool pen_down = false;
    for (const Point& p : points) {
      const double x = X(p.x), y = Y(p.mean);
      if (!std::isfinite(x) || !std::isfinite(y)) {
        pen_down = false;
        continue;
      }
      absl::StrAppend(&d, pen_down ? "L" : "M", P(x), " ", P(y));
      pen_down = true;
    }
    if (d.empty()) return;
    absl::StrAppend(&body_, "<path class=\"line\" d=\"", d, "\" fill=\"none\" stroke=\"", colour,
                    "\" stroke-width=\"", P(width), "\" stroke-linejoin=\"round\">");
    if (!tooltip.empty()) absl::StrAppend(&body_, "<title>", Escape(tooltip), "</title>");
    absl::StrAppend(&body_, "</path>");
  }

  // A translucent band of mean +- sem over each run of consecutive points that have both.
  void Band(const std::vector<Point>& points, absl::string_view colour) {
    std::vector<std::pair<double, double>> upper, lower;
    auto flush = [&] {
      if (upper.size() >= 2) {
        std::string d;
        for (const auto& [x, y] : upper) absl::StrAppend(&d, d.empty() ? "M" : "L", P(x), " ", P(y));
        for (auto it = lower.rbegin(); it != lower.rend(); ++it) {
          absl::StrAppend(&d, "L", P(it->first), " ", P(it->second));
        }
        absl::StrAppend(&body_, "<path class=\"band\" d=\"", d, "Z\" fill=\"", colour,
                        "\" fill-opacity=\"0.16\" stroke=\"none\"/>");
      }
      upper.clear();
      lower.clear();
    };
    for (const Point& p : points) {
      const double x = X(p.x);
      if (!std::isfinite(x) || !std::isfinite(p.mean) || !std::isfinite(p.sem)) {
        flush();
        continue;
      }
      upper.emplace_back(x, Y(p.mean + p.sem));
      lower.emplace_back(x, Y(p.mean - p.sem));
    }
    flush();
  }

  // A dot at pixel (x, y); `ring` draws a larger hollow circle around it.
  void Dot(double x, double y, double radius, absl::string_view colour, bool ring,
           absl::string_view tooltip) {
    if (!std::isfinite(x) || !std::isfinite(y)) return;
    if (ring) {
      absl::StrAppend(&body_, "<circle class=\"best\" cx=\"", P(x), "\" cy=\"", P(y), "\" r=\"",
                      P(radius + 4), "\" fill=\"none\" stroke=\"", colour, "\" stroke-width=\"2\"/>");
    }
    absl::StrAppend(&body_, "<circle class=\"dot\" cx=\"", P(x), "\" cy=\"", P(y), "\" r=\"", P(radius),
                    "\" fill=\"", colour, "\" stroke=\"#fff\" stroke-width=\"1\"><title>", Escape(tooltip),
                    "</title></circle>");
  }

  // A horizontal segment at data value `y` between pixels x0 and x1.
  void Segment(double x0, double x1, double y, absl::string_view colour, double width, bool dashed,
               absl::string_view tooltip) {
    if (!std::isfinite(Y(y))) return;
    absl::StrAppend(&body_, "<path class=\"ref\" d=\"M", P(x0), " ", P(Y(y)), "H", P(x1), "\" stroke=\"",
                    colour, "\" stroke-width=\"", P(width), "\"", dashed ? " stroke-dasharray=\"5 3\"" : "",
                    "><title>", Escape(tooltip), "</title></path>");
  }

  void Text(double x, double y, absl::string_view text, absl::string_view anchor) {
    absl::StrAppend(&body_, "<text x=\"", P(x), "\" y=\"", P(y), "\" text-anchor=\"", anchor, "\">",
                    Escape(text), "</text>");
  }

  // The finished <svg>: `kind` becomes a CSS class, `label` its accessible name.
  std::string Svg(absl::string_view kind, absl::string_view label) const {
    return absl::StrCat("<svg class=\"chart ", kind, "\" viewBox=\"0 0 ", P(frame_.width), " ",
                        P(frame_.height), "\" width=\"", P(frame_.width), "\" height=\"", P(frame_.height),
                        "\" role=\"img\" aria-label=\"", Escape(label), "\">", body_, "</svg>");
  }

 private:
  void BaseLine() {
    absl::StrAppend(&body_, "<line x1=\"", P(Left()), "\" x2=\"", P(Right()), "\" y1=\"", P(Bottom()),
                    "\" y2=\"", P(Bottom()), "\" stroke=\"#777\"/>");
  }

  const Frame frame_;
  const Range x_, y_;
  std::string body_;
};

}  // namespace

std::string PaletteColour(int i) { return kPalette[i % 10]; }

void Extent::Add(double v) {
  if (!std::isfinite(v)) return;
  lo = std::min(lo, v);
  hi = std::max(hi, v);
}

void Extent::AddMeanSem(double mean, double sem) {
  Add(mean);
  if (std::isfinite(mean) && std::isfinite(sem)) {
    Add(mean - sem);
    Add(mean + sem);
  }
}

Range Extent::Padded(double fraction) const {
  const double pad = (hi - lo) * fraction;
  return Range{lo - pad, hi + pad};
}

std::string GroupedBarChart(const std::vector<std::string>& categories, const std::vector<BarSeries>& series,
                            const std::vector<BarValue>& reference, absl::string_view reference_name,
                            absl::string_view y_label, absl::string_view kind, absl::string_view aria) {
  const double n = categories.size(), k = series.size();
  Frame frame;
  frame.width = std::clamp(frame.left + frame.right + n * std::max(90.0, 16 * k + 32), 520.0, 1060.0);
  const double plot_height = 250;
  const CategoryLayout layout =
      LayoutCategories(categories, (frame.width - frame.left - frame.right) / std::max(1.0, n));
  frame.bottom = layout.bottom;
  frame.height = frame.top + plot_height + frame.bottom;

  Extent extent;
  extent.Add(0);
  for (const BarSeries& s : series) {
    for (const BarValue& v : s.values) extent.AddMeanSem(v.mean, v.sem);
  }
  for (const BarValue& v : reference) extent.Add(v.mean);
  Range y{extent.lo, extent.hi};
  const std::vector<Tick> ticks = NiceTicks(&y, 5);

  SvgChart chart(frame, Range{0, std::max(1.0, n)}, y);
  chart.YAxis(ticks, y_label);
  const double slot = 0.8 / std::max(1.0, k), inset = std::min(0.1 * slot, 0.03);
  for (size_t i = 0; i < categories.size(); ++i) {
    for (size_t j = 0; j < series.size(); ++j) {
      const BarValue& v = series[j].values[i];
      const double x0 = i + 0.1 + j * slot;
      chart.Bar(chart.X(x0 + inset), chart.X(x0 + slot - inset), v.mean, v.sem, series[j].style,
                absl::StrCat(series[j].name, " — ", categories[i], ": ", v.text), series[j].attrs);
    }
    if (i < reference.size() && std::isfinite(reference[i].mean)) {
      chart.Segment(chart.X(i + 0.04), chart.X(i + 0.96), reference[i].mean, "#333", 1.5, true,
                    absl::StrCat(reference_name, " — ", categories[i], ": ", reference[i].text));
    }
  }
  chart.XCategories(categories, layout);
  return chart.Svg(kind, aria);
}

std::string LineChart(std::vector<LineSeries> series, XScale scale, Frame frame, absl::string_view x_label,
                      absl::string_view y_label, absl::string_view kind, absl::string_view aria) {
  for (LineSeries& s : series) {
    std::stable_sort(s.points.begin(), s.points.end(),
                     [](const Point& a, const Point& b) { return a.x < b.x; });
  }
  Extent xs, ys;
  std::vector<double> xs_seen;
  for (const LineSeries& s : series) {
    for (const Point& p : s.points) {
      if (!std::isfinite(p.mean) || (scale == XScale::kFractions && !(p.x > 0))) continue;
      xs.Add(p.x);
      ys.AddMeanSem(p.mean, p.sem);
      xs_seen.push_back(p.x);
    }
  }
  if (xs.empty()) return "";
  std::sort(xs_seen.begin(), xs_seen.end());
  xs_seen.erase(std::unique(xs_seen.begin(), xs_seen.end()), xs_seen.end());

  const double plot_width = frame.width - frame.left - frame.right;
  Range x;
  std::vector<Tick> x_ticks;
  if (scale == XScale::kIntegers) {
    x = Range{xs.lo - 0.5, xs.hi + 0.5};
    const double step = std::max(1.0, std::ceil(NiceStep(xs.hi - xs.lo + 1, plot_width / 36)));
    for (double v = std::ceil(xs.lo / step) * step; v <= xs.hi; v += step) {
      x_ticks.push_back({v, absl::StrCat(static_cast<int>(v))});
    }
  } else if (xs.hi / xs.lo >= 5) {
    // Log axis, ticked at the fractions measured; from the right, drop labels that would touch.
    x = Range{xs.lo / 1.25, xs.hi * 1.25, true};
    double last_px = std::numeric_limits<double>::infinity();
    for (auto it = xs_seen.rbegin(); it != xs_seen.rend(); ++it) {
      const double px = MapToPixels(x, 0, plot_width, *it);
      const std::string label = Percent(*it);
      if (last_px - px < TextWidth(label) + 8) continue;
      x_ticks.insert(x_ticks.begin(), {*it, label});
      last_px = px;
    }
  } else {
    x = Range{0, xs.hi};
    x_ticks = NiceTicks(&x, 5);
    for (Tick& t : x_ticks) t.label = Percent(t.value);
  }
  Range y = ys.Padded(0.04);
  const std::vector<Tick> y_ticks = NiceTicks(&y, 6);

  SvgChart chart(frame, x, y);
  chart.YAxis(y_ticks, y_label);
  chart.XAxis(x_ticks, x_label);
  for (const LineSeries& s : series) chart.Band(s.points, s.colour);
  for (const LineSeries& s : series) chart.Line(s.points, s.colour, 2, s.name);
  for (const LineSeries& s : series) {
    const double radius = s.points.size() > 12 ? 2 : 3;
    for (const Point& p : s.points) {
      const bool marked = std::isfinite(s.marked_x) && p.x == s.marked_x;
      chart.Dot(chart.X(p.x), chart.Y(p.mean), marked ? radius + 1 : radius, s.colour, marked, p.tooltip);
    }
  }
  return chart.Svg(kind, aria);
}

std::string PairedPlot(const PairedSeries& pairs, Range y, absl::string_view colour_a,
                       absl::string_view colour_b, absl::string_view y_label) {
  const std::vector<std::string> names = {pairs.name_a, pairs.name_b};
  Frame frame;
  frame.width = 340;
  const CategoryLayout layout = LayoutCategories(names, (frame.width - frame.left - frame.right) / 2);
  frame.bottom = layout.bottom;
  frame.height = frame.top + 220 + frame.bottom;

  const size_t n = std::min(pairs.a.size(), pairs.b.size());
  double sum_a = 0, sum_b = 0;
  int finite = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(pairs.a[i]) && std::isfinite(pairs.b[i])) {
      sum_a += pairs.a[i], sum_b += pairs.b[i], ++finite;
    }
  }
  const std::vector<Tick> ticks = NiceTicks(&y, 5);
  SvgChart chart(frame, Range{0, 2}, y);
  chart.YAxis(ticks, y_label);
  const double xa = chart.X(0.5), xb = chart.X(1.5);
  for (size_t i = 0; i < n; ++i) {
    const std::string who = i < pairs.labels.size() ? pairs.labels[i] : absl::StrCat("#", i + 1);
    const double a = pairs.a[i], b = pairs.b[i];
    const std::string tip = absl::StrCat(who, ": ", Num(a), " → ", Num(b));
    if (std::isfinite(a) && std::isfinite(b)) {
      chart.Line({{0.5, a, 0, ""}, {1.5, b, 0, ""}}, b >= a ? "#8a8a8a" : "#c44e52", 1.2, tip);
    }
    chart.Dot(xa, chart.Y(a), 3.5, colour_a, false, tip);
    chart.Dot(xb, chart.Y(b), 3.5, colour_b, false, tip);
  }
  if (finite > 0) {  // the means as ticks beside the dots, outside the lines
    chart.Segment(xa - 30, xa - 9, sum_a / finite, "#222", 3, false,
                  absl::StrCat(pairs.name_a, ": mean ", Num(sum_a / finite)));
    chart.Segment(xb + 9, xb + 30, sum_b / finite, "#222", 3, false,
                  absl::StrCat(pairs.name_b, ": mean ", Num(sum_b / finite)));
  }
  chart.XCategories(names, layout);
  return chart.Svg("paired", absl::StrCat(pairs.name_b, " vs ", pairs.name_a, " per participant"));
}

}  // namespace braintune::eval::svg

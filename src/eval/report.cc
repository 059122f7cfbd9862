#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace braintune::eval {
namespace {

using RoiScores = google::protobuf::RepeatedPtrField<v1::RoiScore>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr absl::string_view kMissing = "–";  // en dash: a missing or non-finite number
constexpr absl::string_view kAll = "all";
// Tableau 10; model i is colour i (mod 10) in every chart and legend.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
// Labels are 12 px text; this is a generous average advance per character, so that estimated
// widths err on the side of rotating or thinning labels rather than overlapping them.
constexpr double kCharWidth = 6.8;
constexpr size_t kMaxLabelChars = 22;
// Category labels too wide for their slot are rotated by this many degrees.
constexpr int kLabelAngle = 35;
constexpr double kSinLabelAngle = 0.5736;  // sin(35 degrees)

std::string Colour(int model) { return kPalette[model % 10]; }

// ---------------------------------------------------------------------------------------------
// Text

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

// `s` cut to at most `max_chars` code points, with an ellipsis when cut. Not escaped.
std::string Shorten(absl::string_view s, size_t max_chars) {
  if (CodePoints(s) <= max_chars) return std::string(s);
  size_t kept = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((s[i] & 0xC0) != 0x80 && ++kept == max_chars) break;
  }
  return absl::StrCat(s.substr(0, i), "…");
}

double TextWidth(absl::string_view s) { return kCharWidth * CodePoints(s); }

// A number with `decimals` decimals; "–" when not finite; never "-0.000".
std::string Num(double v, int decimals = 3) {
  if (!std::isfinite(v)) return std::string(kMissing);
  std::string s = absl::StrFormat("%.*f", decimals, v);
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
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

bool HasMean(const v1::MeanSem* m) { return m != nullptr && std::isfinite(m->mean()); }
double MeanOf(const v1::MeanSem* m) { return HasMean(m) ? m->mean() : kNaN; }
double SemOf(const v1::MeanSem* m) { return m != nullptr && std::isfinite(m->sem()) ? m->sem() : 0; }

// "0.412 ± 0.013", plus " (n=8)" when `with_n`; "–" when missing. HTML.
std::string MeanSemHtml(const v1::MeanSem* m, bool with_n) {
  if (!HasMean(m)) return std::string(kMissing);
  std::string s = Num(m->mean());
  if (SemOf(m) > 0) absl::StrAppend(&s, " ± ", Num(m->sem()));
  if (with_n) absl::StrAppend(&s, " <span class=\"n\">(n=", m->n(), ")</span>");
  return s;
}

std::string MeanSemText(const v1::MeanSem* m) {
  if (!HasMean(m)) return std::string(kMissing);
  std::string s = Num(m->mean());
  if (SemOf(m) > 0) absl::StrAppend(&s, " ± ", Num(m->sem()));
  return absl::StrCat(s, " (n=", m->n(), ")");
}

std::string Swatch(absl::string_view colour, double opacity = 1) {
  return absl::StrFormat("<i class=\"swatch\" style=\"background:%s;opacity:%.2f;border:1px solid %s\"></i>",
                         colour, opacity, colour);
}

// ---------------------------------------------------------------------------------------------
// Summary lookups

const v1::MeanSem* FindRoi(const RoiScores& rois, absl::string_view roi) {
  for (const v1::RoiScore& r : rois) {
    if (r.roi() == roi) return r.has_score() ? &r.score() : nullptr;
  }
  return nullptr;
}

const v1::LayerScores* BestLayer(const v1::ModelScores& model) {
  for (const v1::LayerScores& l : model.layers()) {
    if (l.layer() == model.best_layer()) return &l;
  }
  return nullptr;
}

// Appends the ROIs of `rois` not yet in `order`.
void AddRois(const RoiScores& rois, std::vector<std::string>* order) {
  for (const v1::RoiScore& r : rois) {
    if (std::find(order->begin(), order->end(), r.roi()) == order->end()) order->push_back(r.roi());
  }
}

// "all" first, the rest in order of first appearance.
std::vector<std::string> AllFirst(std::vector<std::string> rois) {
  std::stable_partition(rois.begin(), rois.end(), [](const std::string& r) { return r == kAll; });
  return rois;
}

int ModelIndex(const v1::EvaluationSummary& summary, absl::string_view name) {
  for (int i = 0; i < summary.models_size(); ++i) {
    if (summary.models(i).name() == name) return i;
  }
  return -1;
}

std::string ModelColour(const v1::EvaluationSummary& summary, absl::string_view name) {
  const int i = ModelIndex(summary, name);
  return i < 0 ? "#888888" : Colour(i);
}

std::string ScoreLabel(const v1::EvaluationSummary& summary) {
  return summary.score() == "normalized" ? "score (r / noise ceiling)" : "Pearson r";
}

// ---------------------------------------------------------------------------------------------
// SVG plotting: every chart is an SvgChart (axes, bars, lines, bands, dots) built by one of
// GroupedBarChart, LineChart and PairedPlot.

struct Range {
  double lo = 0, hi = 1;
  bool log = false;  // log10 axis; values <= 0 are not drawn
};

struct Tick {
  double value;
  std::string label;
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

struct Point {
  double x, mean, sem;
  std::string tooltip;
};

// Running minimum and maximum of the finite values added.
struct Extent {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void Add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  void AddMeanSem(double mean, double sem) {
    Add(mean);
    if (std::isfinite(mean) && std::isfinite(sem)) {
      Add(mean - sem);
      Add(mean + sem);
    }
  }
  bool empty() const { return lo > hi; }
  // The range grown by `fraction` of its span at both ends, so that dots on the extremes are not
  // drawn on the axis.
  Range Padded(double fraction) const {
    const double pad = (hi - lo) * fraction;
    return Range{lo - pad, hi + pad};
  }
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

struct BarSeries {
  std::string name;
  BarStyle style;
  std::vector<const v1::MeanSem*> values;  // one per category; nullptr: missing
  std::string attrs;                       // extra attributes on each of its bars
};

// Bars grouped by category (one per series), SEM error bars, and optionally a dashed reference
// level per category (e.g. the noise ceiling).
std::string GroupedBarChart(const std::vector<std::string>& categories, const std::vector<BarSeries>& series,
                            const std::vector<const v1::MeanSem*>& reference,
                            absl::string_view reference_name, absl::string_view y_label,
                            absl::string_view kind, absl::string_view aria) {
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
    for (const v1::MeanSem* m : s.values) extent.AddMeanSem(MeanOf(m), SemOf(m));
  }
  for (const v1::MeanSem* m : reference) extent.Add(MeanOf(m));
  Range y{extent.lo, extent.hi};
  const std::vector<Tick> ticks = NiceTicks(&y, 5);

  SvgChart chart(frame, Range{0, std::max(1.0, n)}, y);
  chart.YAxis(ticks, y_label);
  const double slot = 0.8 / std::max(1.0, k), inset = std::min(0.1 * slot, 0.03);
  for (size_t i = 0; i < categories.size(); ++i) {
    for (size_t j = 0; j < series.size(); ++j) {
      const v1::MeanSem* m = series[j].values[i];
      const double x0 = i + 0.1 + j * slot;
      chart.Bar(chart.X(x0 + inset), chart.X(x0 + slot - inset), MeanOf(m), SemOf(m), series[j].style,
                absl::StrCat(series[j].name, " — ", categories[i], ": ", MeanSemText(m)), series[j].attrs);
    }
    if (i < reference.size() && HasMean(reference[i])) {
      chart.Segment(chart.X(i + 0.04), chart.X(i + 0.96), MeanOf(reference[i]), "#333", 1.5, true,
                    absl::StrCat(reference_name, " — ", categories[i], ": ", MeanSemText(reference[i])));
    }
  }
  chart.XCategories(categories, layout);
  return chart.Svg(kind, aria);
}

struct LineSeries {
  std::string name;
  std::string colour;
  std::vector<Point> points;  // ascending x
  double marked_x = kNaN;     // ringed (the best layer)
};

enum class XScale { kLayer, kFraction };

// One line per series with an SEM band and a dot per point; an empty string when no series
// has a finite point.
std::string LineChart(const std::vector<LineSeries>& series, XScale scale, Frame frame,
                      absl::string_view x_label, absl::string_view y_label, absl::string_view kind,
                      absl::string_view aria) {
  Extent xs, ys;
  std::vector<double> xs_seen;
  for (const LineSeries& s : series) {
    for (const Point& p : s.points) {
      if (!std::isfinite(p.mean) || (scale == XScale::kFraction && !(p.x > 0))) continue;
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
  if (scale == XScale::kLayer) {
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
      const bool best = std::isfinite(s.marked_x) && p.x == s.marked_x;
      chart.Dot(chart.X(p.x), chart.Y(p.mean), best ? radius + 1 : radius, s.colour, best,
                best ? absl::StrCat(p.tooltip, " (best layer)") : p.tooltip);
    }
  }
  return chart.Svg(kind, aria);
}

// Each participant's score under model A and model B joined by a line, and the two means.
// Every paired plot of a report shares `y` (from PairedRange), so that they compare at a glance.
std::string PairedPlot(const v1::PairedTest& test, Range y, absl::string_view colour_a,
                       absl::string_view colour_b, absl::string_view y_label) {
  const std::vector<std::string> names = {test.model_a(), test.model_b()};
  Frame frame;
  frame.width = 340;
  const CategoryLayout layout = LayoutCategories(names, (frame.width - frame.left - frame.right) / 2);
  frame.bottom = layout.bottom;
  frame.height = frame.top + 220 + frame.bottom;

  const int n = std::min(test.a_size(), test.b_size());
  double sum_a = 0, sum_b = 0;
  int finite = 0;
  for (int i = 0; i < n; ++i) {
    if (std::isfinite(test.a(i)) && std::isfinite(test.b(i))) {
      sum_a += test.a(i), sum_b += test.b(i), ++finite;
    }
  }
  const std::vector<Tick> ticks = NiceTicks(&y, 5);
  SvgChart chart(frame, Range{0, 2}, y);
  chart.YAxis(ticks, y_label);
  const double xa = chart.X(0.5), xb = chart.X(1.5);
  for (int i = 0; i < n; ++i) {
    const std::string who = i < test.participants_size() ? test.participants(i) : absl::StrCat("#", i + 1);
    const double a = test.a(i), b = test.b(i);
    const std::string tip = absl::StrCat(who, ": ", Num(a), " → ", Num(b));
    if (std::isfinite(a) && std::isfinite(b)) {
      chart.Line({{0.5, a, 0, ""}, {1.5, b, 0, ""}}, b >= a ? "#8a8a8a" : "#c44e52", 1.2, tip);
    }
    chart.Dot(xa, chart.Y(a), 3.5, colour_a, false, tip);
    chart.Dot(xb, chart.Y(b), 3.5, colour_b, false, tip);
  }
  if (finite > 0) {  // the means as ticks beside the dots, outside the lines
    chart.Segment(xa - 30, xa - 9, sum_a / finite, "#222", 3, false,
                  absl::StrCat(test.model_a(), ": mean ", Num(sum_a / finite)));
    chart.Segment(xb + 9, xb + 30, sum_b / finite, "#222", 3, false,
                  absl::StrCat(test.model_b(), ": mean ", Num(sum_b / finite)));
  }
  chart.XCategories(names, layout);
  return chart.Svg("paired", absl::StrCat(test.model_b(), " vs ", test.model_a(), " per participant"));
}

// The score range of the paired plots: every per-participant value of the tests on "all".
Range PairedRange(const v1::EvaluationSummary& summary) {
  Extent extent;
  for (const v1::PairedTest& t : summary.comparisons()) {
    if (t.roi() != kAll) continue;
    for (double v : t.a()) extent.Add(v);
    for (double v : t.b()) extent.Add(v);
  }
  return extent.Padded(0.06);
}

// ---------------------------------------------------------------------------------------------
// HTML pieces

struct LegendEntry {
  std::string label;
  std::string colour;
  double opacity = 1;
  bool dashed = false;
};

std::string Legend(const std::vector<LegendEntry>& entries) {
  std::string out = "<div class=\"legend\">";
  for (const LegendEntry& e : entries) {
    const std::string key = e.dashed
                                ? absl::StrCat("<i class=\"dash\" style=\"border-color:", e.colour, "\"></i>")
                                : Swatch(e.colour, e.opacity);
    absl::StrAppend(&out, "<span>", key, Escape(e.label), "</span>");
  }
  return absl::StrCat(out, "</div>");
}

std::vector<LegendEntry> ModelLegend(const v1::EvaluationSummary& summary) {
  std::vector<LegendEntry> entries;
  for (int i = 0; i < summary.models_size(); ++i) entries.push_back({summary.models(i).name(), Colour(i)});
  return entries;
}

std::string Figure(absl::string_view svg, absl::string_view caption_html) {
  return absl::StrCat("<figure>", svg, "<figcaption>", caption_html, "</figcaption></figure>");
}

std::string Empty(absl::string_view sentence) {
  return absl::StrCat("<p class=\"empty\">", sentence, "</p>");
}

std::string SectionStart(absl::string_view id, absl::string_view title) {
  return absl::StrCat("<section id=\"", id, "\"><h2>", title, "</h2>");
}

// A model's colour and name, kept on one line; names longer than `max_chars` are shortened, with
// the full name as a tooltip.
std::string ModelLabel(absl::string_view name, absl::string_view colour, size_t max_chars = 64) {
  return absl::StrCat("<span class=\"model\" title=\"", Escape(name), "\">", Swatch(colour),
                      Escape(Shorten(name, max_chars)), "</span>");
}

std::string ModelHeading(const v1::EvaluationSummary& summary, int model, absl::string_view extra) {
  return absl::StrCat("<h3>", ModelLabel(summary.models(model).name(), Colour(model)), extra, "</h3>");
}

std::string Td(absl::string_view html) { return absl::StrCat("<td class=\"num\">", html, "</td>"); }

// ---------------------------------------------------------------------------------------------
// Sections

std::string HeaderSection(const v1::EvaluationSummary& s) {
  auto text_or_missing = [](absl::string_view v) { return v.empty() ? std::string(kMissing) : Escape(v); };
  auto list = [&](const google::protobuf::RepeatedPtrField<std::string>& items) {
    if (items.empty()) return std::string(kMissing);
    std::string out = absl::StrCat(items.size(), ": ");
    for (int i = 0; i < items.size(); ++i) absl::StrAppend(&out, i ? ", " : "", Escape(items[i]));
    return out;
  };
  std::string score;
  if (s.score() == "normalized") {
    score =
        absl::StrCat("normalized: held-out Pearson r / noise ceiling per target; targets with a ceiling ≤ ",
                     Num(s.ceiling_threshold(), 2), " are masked");
  } else if (s.score() == "r") {
    score = "r: held-out Pearson r (no noise ceiling)";
  } else {
    score = text_or_missing(s.score());
  }
  const int lookups = s.feature_cache_hits() + s.feature_cache_misses();
  std::string cache = absl::StrCat(s.feature_cache_hits(), " hits, ", s.feature_cache_misses(), " misses");
  if (lookups > 0) {
    absl::StrAppend(&cache,
                    absl::StrFormat(" (%.0f%% from the cache)", 100.0 * s.feature_cache_hits() / lookups));
  }

  std::vector<std::pair<std::string, std::string>> rows = {
      {"Dataset", text_or_missing(s.dataset())},
      {"Modality", text_or_missing(s.modality())},
      {"Test stories", list(s.test_stories())},
      {"Score", score},
      {"Ceiling source", text_or_missing(s.ceiling_source())},
      {"Context / stride",
       absl::StrCat(Num(s.context_seconds(), 1), " s / ", Num(s.stride_seconds(), 1), " s")},
      {"Participants", list(s.participants())},
      {"Models", absl::StrCat(s.models_size())},
      {"Time taken", Duration(s.seconds())},
      {"Feature cache", cache},
  };
  if (!s.hdf5_path().empty()) rows.push_back({"Scores (HDF5)", Escape(s.hdf5_path())});
  if (!s.json_path().empty()) rows.push_back({"Summary (JSON)", Escape(s.json_path())});

  std::string out =
      absl::StrCat("<header><h1>", s.name().empty() ? "Brain-alignment evaluation" : Escape(s.name()),
                   "</h1><table class=\"meta\">");
  for (const auto& [key, value] : rows)
    absl::StrAppend(&out, "<tr><th>", key, "</th><td>", value, "</td></tr>");
  return absl::StrCat(out, "</table></header>");
}

std::string RoiSection(const v1::EvaluationSummary& s) {
  std::string out = SectionStart("roi", "Alignment per ROI");
  std::vector<std::string> rois;
  std::vector<const v1::LayerScores*> best;
  for (const v1::ModelScores& m : s.models()) {
    best.push_back(BestLayer(m));
    if (best.back() != nullptr) AddRois(best.back()->rois(), &rois);
  }
  if (rois.empty()) {
    return absl::StrCat(out, Empty("No model has ROI scores at its best layer."), "</section>");
  }
  AddRois(s.noise_ceiling(), &rois);
  rois = AllFirst(rois);

  std::vector<BarSeries> series;
  for (int i = 0; i < s.models_size(); ++i) {
    BarSeries b{s.models(i).name(), {Colour(i)}, {}, absl::StrCat("data-model=\"", i, "\"")};
    for (const std::string& roi : rois) b.values.push_back(best[i] ? FindRoi(best[i]->rois(), roi) : nullptr);
    series.push_back(std::move(b));
  }
  const bool normalized = s.score() == "normalized";
  std::vector<const v1::MeanSem*> ceiling;
  if (!normalized) {
    for (const std::string& roi : rois) ceiling.push_back(FindRoi(s.noise_ceiling(), roi));
  }
  const bool draw_ceiling = std::any_of(ceiling.begin(), ceiling.end(), HasMean);
  std::vector<LegendEntry> legend = ModelLegend(s);
  if (draw_ceiling) legend.push_back({"noise ceiling", "#333", 1, true});

  std::string note =
      "Each model at its best layer (highest score over all targets); bars: mean over "
      "participants, error bars: SEM over participants.";
  if (normalized) {
    absl::StrAppend(&note,
                    " Scores are r divided by the noise ceiling, so 1.0 would reach the ceiling; targets "
                    "with a ceiling ≤ ",
                    Num(s.ceiling_threshold(), 2), " are left out.");
  } else if (draw_ceiling) {
    absl::StrAppend(&note, " Dashed: the noise ceiling (r), mean over participants.");
  } else {
    absl::StrAppend(&note, " Raw Pearson r: no noise ceiling is known for this data.");
  }
  absl::StrAppend(&out, Legend(legend),
                  Figure(GroupedBarChart(rois, series, ceiling, "noise ceiling", ScoreLabel(s), "roi-bars",
                                         "Alignment per ROI"),
                         note));

  absl::StrAppend(&out,
                  "<div class=\"scroll\"><table class=\"scores\"><thead><tr><th>Model</th><th "
                  "class=\"num\">best layer</th>");
  for (const std::string& roi : rois) absl::StrAppend(&out, "<th class=\"num\">", Escape(roi), "</th>");
  absl::StrAppend(&out, "</tr></thead><tbody>");
  for (int i = 0; i < s.models_size(); ++i) {
    absl::StrAppend(&out, "<tr><td>", ModelLabel(s.models(i).name(), Colour(i)), "</td>",
                    Td(best[i] ? absl::StrCat(best[i]->layer()) : std::string(kMissing)));
    for (const v1::MeanSem* m : series[i].values) absl::StrAppend(&out, Td(MeanSemHtml(m, true)));
    absl::StrAppend(&out, "</tr>");
  }
  if (!s.noise_ceiling().empty()) {
    absl::StrAppend(&out, "<tr class=\"ceiling\"><td>noise ceiling (r)</td>", Td(""));
    for (const std::string& roi : rois)
      absl::StrAppend(&out, Td(MeanSemHtml(FindRoi(s.noise_ceiling(), roi), true)));
    absl::StrAppend(&out, "</tr>");
  }
  return absl::StrCat(out, "</tbody></table></div></section>");
}

std::string LayersSection(const v1::EvaluationSummary& s) {
  std::string out = SectionStart("layers", "Per-layer curves");
  std::vector<std::string> rois;
  for (const v1::ModelScores& m : s.models()) {
    for (const v1::LayerScores& l : m.layers()) AddRois(l.rois(), &rois);
  }
  rois = AllFirst(rois);
  auto series_for = [&](absl::string_view roi) {
    std::vector<LineSeries> series;
    for (int i = 0; i < s.models_size(); ++i) {
      const v1::ModelScores& m = s.models(i);
      LineSeries line{m.name(), Colour(i), {}, static_cast<double>(m.best_layer())};
      for (const v1::LayerScores& l : m.layers()) {
        const v1::MeanSem* score = FindRoi(l.rois(), roi);
        line.points.push_back({static_cast<double>(l.layer()), MeanOf(score), SemOf(score),
                               absl::StrCat(m.name(), ", layer ", l.layer(), ": ", MeanSemText(score))});
      }
      std::sort(line.points.begin(), line.points.end(),
                [](const Point& a, const Point& b) { return a.x < b.x; });
      series.push_back(std::move(line));
    }
    return series;
  };
  Frame big;
  big.width = 820;
  big.height = 330;
  const std::string all_chart = std::find(rois.begin(), rois.end(), kAll) == rois.end()
                                    ? ""
                                    : LineChart(series_for(kAll), XScale::kLayer, big, "layer", ScoreLabel(s),
                                                "layer-curve", "Score over all targets per layer");
  if (all_chart.empty()) {
    return absl::StrCat(out, Empty("No per-layer scores over all targets."), "</section>");
  }
  absl::StrAppend(&out, Legend(ModelLegend(s)),
                  Figure(all_chart,
                         "All targets: mean over participants, band: ± SEM. Rings mark each "
                         "model's best layer. Layer 0 is the transformer's input."));
  std::string small;
  Frame frame;
  frame.width = 440;
  frame.height = 250;
  for (const std::string& roi : rois) {
    if (roi == kAll) continue;
    const std::string chart = LineChart(series_for(roi), XScale::kLayer, frame, "layer", ScoreLabel(s),
                                        "layer-curve", absl::StrCat("Score per layer, ROI ", roi));
    if (!chart.empty()) absl::StrAppend(&small, Figure(chart, absl::StrCat("ROI <b>", Escape(roi), "</b>")));
  }
  if (!small.empty()) absl::StrAppend(&out, "<h3>Per ROI</h3><div class=\"grid\">", small, "</div>");
  return absl::StrCat(out, "</section>");
}

std::string EfficiencySection(const v1::EvaluationSummary& s) {
  std::string out = SectionStart("efficiency", "Data efficiency");
  std::vector<LineSeries> series;
  std::vector<std::pair<double, int64_t>> fractions;  // fraction, training samples
  for (int i = 0; i < s.models_size(); ++i) {
    const v1::ModelScores& m = s.models(i);
    LineSeries line{m.name(), Colour(i), {}, kNaN};
    for (const v1::SweepPoint& p : m.sweep()) {
      const v1::MeanSem* score = FindRoi(p.rois(), kAll);
      line.points.push_back({p.fraction(), MeanOf(score), SemOf(score),
                             absl::StrCat(m.name(), ", ", Percent(p.fraction()), " (", p.train_samples(),
                                          " samples): ", MeanSemText(score))});
      if (std::none_of(fractions.begin(), fractions.end(),
                       [&](const auto& f) { return f.first == p.fraction(); })) {
        fractions.emplace_back(p.fraction(), p.train_samples());
      }
    }
    std::sort(line.points.begin(), line.points.end(),
              [](const Point& a, const Point& b) { return a.x < b.x; });
    series.push_back(std::move(line));
  }
  Frame frame;
  frame.width = 820;
  frame.height = 330;
  const std::string chart = LineChart(series, XScale::kFraction, frame, "training data used", ScoreLabel(s),
                                      "efficiency", "Score over all targets against training data");
  if (chart.empty()) {
    return absl::StrCat(out, Empty("No model has data-efficiency sweep points, so there is no curve."),
                        "</section>");
  }
  absl::StrAppend(&out, Legend(ModelLegend(s)),
                  Figure(chart,
                         "Score over all targets when the encoding model is trained on the first "
                         "fraction of the training samples; band: ± SEM over participants."));
  std::sort(fractions.begin(), fractions.end());
  absl::StrAppend(
      &out,
      "<div class=\"scroll\"><table class=\"scores\"><thead><tr><th class=\"num\">training data</th>"
      "<th class=\"num\">samples</th>");
  for (int i = 0; i < s.models_size(); ++i) {
    absl::StrAppend(&out, "<th class=\"num\">", ModelLabel(s.models(i).name(), Colour(i), kMaxLabelChars),
                    "</th>");
  }
  absl::StrAppend(&out, "</tr></thead><tbody>");
  for (const auto& [fraction, samples] : fractions) {
    absl::StrAppend(&out, "<tr>", Td(Percent(fraction)), Td(absl::StrCat(samples)));
    for (const v1::ModelScores& m : s.models()) {
      const v1::MeanSem* score = nullptr;
      for (const v1::SweepPoint& p : m.sweep()) {
        if (p.fraction() == fraction) score = FindRoi(p.rois(), kAll);
      }
      absl::StrAppend(&out, Td(MeanSemHtml(score, false)));
    }
    absl::StrAppend(&out, "</tr>");
  }
  return absl::StrCat(out, "</tbody></table></div></section>");
}

std::string RemovalSection(const v1::EvaluationSummary& s) {
  std::string out = SectionStart("removal", "Feature-removal control");
  bool any = false;
  for (int i = 0; i < s.models_size(); ++i) {
    const v1::RemovalScores& r = s.models(i).removal();
    if (r.before().empty() && r.after().empty() && r.drop().empty()) continue;
    any = true;
    std::vector<std::string> rois;
    AddRois(r.before(), &rois);
    AddRois(r.after(), &rois);
    AddRois(r.drop(), &rois);
    rois = AllFirst(rois);
    std::string confounds;
    for (int c = 0; c < r.confounds_size(); ++c)
      absl::StrAppend(&confounds, c ? ", " : "", Escape(r.confounds(c)));
    if (confounds.empty()) confounds = std::string(kMissing);

    BarSeries before{
        "before", {Colour(i), 1}, {}, absl::StrCat("data-model=\"", i, "\" data-phase=\"before\"")};
    BarSeries after{
        "after removal", {Colour(i), 0.35}, {}, absl::StrCat("data-model=\"", i, "\" data-phase=\"after\"")};
    for (const std::string& roi : rois) {
      before.values.push_back(FindRoi(r.before(), roi));
      after.values.push_back(FindRoi(r.after(), roi));
    }
    absl::StrAppend(&out, ModelHeading(s, i, absl::StrCat(" <span class=\"n\">layer ", r.layer(), "</span>")),
                    "<p>Confounds regressed out of the features: ", confounds, "</p>",
                    Legend({{"before", Colour(i)}, {"after removal", Colour(i), 0.35}}));
    absl::StrAppend(&out, "<div class=\"side\">",
                    Figure(GroupedBarChart(rois, {before, after}, {}, "", ScoreLabel(s), "removal",
                                           absl::StrCat("Feature removal, ", s.models(i).name())),
                           "Mean over participants, error bars: SEM."));
    absl::StrAppend(
        &out,
        "<div class=\"scroll\"><table class=\"scores\"><thead><tr><th>ROI</th><th class=\"num\">before</th>"
        "<th class=\"num\">after</th><th class=\"num\">drop</th></tr></thead><tbody>");
    for (size_t j = 0; j < rois.size(); ++j) {
      absl::StrAppend(&out, "<tr><td>", Escape(rois[j]), "</td>", Td(MeanSemHtml(before.values[j], false)),
                      Td(MeanSemHtml(after.values[j], false)),
                      Td(MeanSemHtml(FindRoi(r.drop(), rois[j]), true)), "</tr>");
    }
    absl::StrAppend(&out, "</tbody></table></div></div>");
  }
  if (!any) absl::StrAppend(&out, Empty("No feature-removal control was run."));
  return absl::StrCat(out, "</section>");
}

std::string ComparisonsSection(const v1::EvaluationSummary& s) {
  std::string out = SectionStart("comparisons", "Comparisons");
  if (s.comparisons().empty()) {
    return absl::StrCat(out, Empty("No paired comparisons: they need at least two models."), "</section>");
  }
  absl::StrAppend(
      &out,
      "<p class=\"note\">Paired across participants, each model at its best layer: difference "
      "= model B − model A; p: two-sided sign-flip permutation test.</p>"
      "<div class=\"scroll\"><table class=\"scores\"><thead><tr><th>model B − model A</th><th>ROI</th>"
      "<th class=\"num\">mean difference ± SEM</th><th class=\"num\">t</th><th class=\"num\">p</th>"
      "<th class=\"num\">permutations</th><th class=\"num\">participants</th></tr></thead><tbody>");
  std::string plots;
  for (const v1::PairedTest& t : s.comparisons()) {
    std::string diff = Num(t.mean_difference());
    if (std::isfinite(t.mean_difference()) && std::isfinite(t.sem_difference()) && t.sem_difference() > 0) {
      absl::StrAppend(&diff, " ± ", Num(t.sem_difference()));
    }
    const int n = t.n();
    absl::StrAppend(&out, "<tr><td>", ModelLabel(t.model_b(), ModelColour(s, t.model_b())), " − ",
                    ModelLabel(t.model_a(), ModelColour(s, t.model_a())), "</td><td>", Escape(t.roi()),
                    "</td>", Td(diff), Td(Num(t.t(), 2)), Td(PValue(t.p_value())),
                    Td(absl::StrCat(t.permutations())), Td(absl::StrCat(n)), "</tr>");
    if (t.roi() == kAll && std::min(t.a_size(), t.b_size()) > 0) {
      absl::StrAppend(&plots,
                      Figure(PairedPlot(t, PairedRange(s), ModelColour(s, t.model_a()),
                                        ModelColour(s, t.model_b()), ScoreLabel(s)),
                             absl::StrCat(Escape(t.model_b()), " − ", Escape(t.model_a()),
                                          ", all targets: ", diff, ", p&nbsp;=&nbsp;", PValue(t.p_value()))));
    }
  }
  absl::StrAppend(&out, "</tbody></table></div>");
  if (!plots.empty()) {
    absl::StrAppend(
        &out,
        "<h3>Per participant, all targets</h3><p class=\"note\">One line per participant "
        "(red where B is lower); black ticks beside the dots: the means.</p><div class=\"grid small\">",
        plots, "</div>");
  }
  return absl::StrCat(out, "</section>");
}

std::string ParticipantsSection(const v1::EvaluationSummary& s) {
  std::string out = SectionStart("participants", "Participants");
  bool any = false;
  for (int i = 0; i < s.models_size(); ++i) {
    const v1::LayerScores* best = BestLayer(s.models(i));
    if (best == nullptr || best->participants().empty()) continue;
    any = true;
    std::vector<std::string> rois;
    for (const v1::ParticipantLayerScores& p : best->participants()) AddRois(p.rois(), &rois);
    rois = AllFirst(rois);
    absl::StrAppend(
        &out, ModelHeading(s, i, absl::StrCat(" <span class=\"n\">best layer ", best->layer(), "</span>")),
        "<div class=\"scroll\"><table class=\"scores\"><thead><tr><th>participant</th>");
    for (const std::string& roi : rois) absl::StrAppend(&out, "<th class=\"num\">", Escape(roi), "</th>");
    absl::StrAppend(&out, "<th class=\"num\">mean raw r</th></tr></thead><tbody>");
    for (const v1::ParticipantLayerScores& p : best->participants()) {
      absl::StrAppend(&out, "<tr><td>", Escape(p.participant()), "</td>");
      for (const std::string& roi : rois)
        absl::StrAppend(&out, Td(MeanSemHtml(FindRoi(p.rois(), roi), true)));
      absl::StrAppend(&out, Td(Num(p.mean_r())), "</tr>");
    }
    absl::StrAppend(&out, "</tbody></table></div>");
  }
  if (!any) absl::StrAppend(&out, Empty("No per-participant scores."));
  return absl::StrCat(out, "</section>");
}

constexpr absl::string_view kCss = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#222;margin:0;background:#fff}
main{max-width:1100px;margin:0 auto;padding:20px 32px 48px}
h1{font-size:24px;margin:0 0 10px}
h2{font-size:19px;margin:34px 0 8px;padding-bottom:4px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:20px 0 6px}
.scroll{overflow-x:auto;margin:8px 0 18px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:13px}
th,td{padding:4px 9px;border-bottom:1px solid #e6e6e6;text-align:left;vertical-align:top}
th{background:#f5f5f5;font-weight:600}
.num{text-align:right;white-space:nowrap}
.model{white-space:nowrap}
table.meta{margin:8px 0 18px;font-size:14px}
table.meta th{background:none;width:150px}
.n{color:#777;font-size:12px;font-weight:normal}
.note,figcaption{color:#555;font-size:13px}
.empty{color:#666;font-style:italic}
figure{margin:6px 0 14px}
svg.chart{display:block;max-width:100%;height:auto;font-size:12px}
svg.chart text{fill:#333}
svg.chart text.axis-title{fill:#555}
svg.chart text.missing{fill:#999;font-size:14px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:4px 24px}
.grid.small{grid-template-columns:repeat(auto-fill,minmax(320px,1fr))}
.side{display:flex;flex-wrap:wrap;align-items:flex-start;gap:0 28px}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;margin:6px 0 2px;font-size:13px}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.dash{display:inline-block;width:16px;height:0;border-top:2px dashed;margin-right:6px;vertical-align:3px}
)css";

}  // namespace

std::string RenderHtmlReport(const v1::EvaluationSummary& summary) {
  std::string title = summary.name().empty() ? "Brain-alignment evaluation" : summary.name();
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>",
      Escape(title), " — braintune evaluation</title><style>", kCss, "</style></head><body><main>");
  absl::StrAppend(&out, HeaderSection(summary));
  if (summary.models().empty()) absl::StrAppend(&out, Empty("This evaluation has no models."));
  absl::StrAppend(&out, RoiSection(summary), LayersSection(summary), EfficiencySection(summary),
                  RemovalSection(summary), ComparisonsSection(summary), ParticipantsSection(summary),
                  "</main></body></html>\n");
  return out;
}

}  // namespace braintune::eval

#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "eval/html_text.h"
#include "eval/svg_chart.h"

namespace braintune::eval {
namespace {

using RoiScores = google::protobuf::RepeatedPtrField<v1::RoiScore>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr absl::string_view kAll = "all";

// Model i is colour i in every chart and legend.
std::string Colour(int model) { return svg::PaletteColour(model); }

// ---------------------------------------------------------------------------------------------
// Scores as text

bool HasMean(const v1::MeanSem* m) { return m != nullptr && std::isfinite(m->mean()); }
double MeanOf(const v1::MeanSem* m) { return HasMean(m) ? m->mean() : kNaN; }
double SemOf(const v1::MeanSem* m) { return m != nullptr && std::isfinite(m->sem()) ? m->sem() : 0; }

// "0.412 ± 0.013", plus " (n=8)" when `with_n`; "–" when missing. HTML.
std::string MeanSemHtml(const v1::MeanSem* m, bool with_n) {
  if (!HasMean(m)) return std::string(kMissing);
  std::string s = PlusMinus(m->mean(), SemOf(m));
  if (with_n) absl::StrAppend(&s, " <span class=\"n\">(n=", m->n(), ")</span>");
  return s;
}

// "0.412 ± 0.013 (n=8)"; "–" when missing. Plain text, for tooltips.
std::string MeanSemText(const v1::MeanSem* m) {
  if (!HasMean(m)) return std::string(kMissing);
  return absl::StrCat(PlusMinus(m->mean(), SemOf(m)), " (n=", m->n(), ")");
}

// One bar per score; a missing score draws a "–".
std::vector<svg::BarValue> BarValues(const std::vector<const v1::MeanSem*>& scores) {
  std::vector<svg::BarValue> values;
  for (const v1::MeanSem* m : scores) values.push_back({MeanOf(m), SemOf(m), MeanSemText(m)});
  return values;
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

// The score range of the paired plots: every per-participant value of the tests on "all", so that
// they compare at a glance.
svg::Range PairedRange(const v1::EvaluationSummary& summary) {
  svg::Extent extent;
  for (const v1::PairedTest& t : summary.comparisons()) {
    if (t.roi() != kAll) continue;
    for (double v : t.a()) extent.Add(v);
    for (double v : t.b()) extent.Add(v);
  }
  return extent.Padded(0.06);
}

// ---------------------------------------------------------------------------------------------
// HTML pieces

std::string Swatch(absl::string_view colour, double opacity = 1) {
  return absl::StrFormat("<i class=\"swatch\" style=\"background:%s;opacity:%.2f;border:1px solid %s\"></i>",
                         colour, opacity, colour);
}

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
      {"Participants", absl::StrCat(list(s.participants()), " (", text_or_missing(s.participant_split()), ")")},
      {"Tuned on", s.tuned_participants().empty() ? "–" : list(s.tuned_participants())},
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

  std::vector<std::vector<const v1::MeanSem*>> scores(s.models_size());  // [model][ROI]
  std::vector<svg::BarSeries> series;
  for (int i = 0; i < s.models_size(); ++i) {
    for (const std::string& roi : rois)
      scores[i].push_back(best[i] ? FindRoi(best[i]->rois(), roi) : nullptr);
    series.push_back(
        {s.models(i).name(), {Colour(i)}, BarValues(scores[i]), absl::StrCat("data-model=\"", i, "\"")});
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
                  Figure(svg::GroupedBarChart(rois, series, BarValues(ceiling), "noise ceiling",
                                              ScoreLabel(s), "roi-bars", "Alignment per ROI"),
                         note));

  absl::StrAppend(&out,
                  "<div class=\"scroll\"><table class=\"scores\"><thead><tr><th>Model</th><th "
                  "class=\"num\">best layer</th>");
  for (const std::string& roi : rois) absl::StrAppend(&out, "<th class=\"num\">", Escape(roi), "</th>");
  absl::StrAppend(&out, "</tr></thead><tbody>");
  for (int i = 0; i < s.models_size(); ++i) {
    absl::StrAppend(&out, "<tr><td>", ModelLabel(s.models(i).name(), Colour(i)), "</td>",
                    Td(best[i] ? absl::StrCat(best[i]->layer()) : std::string(kMissing)));
    for (const v1::MeanSem* m : scores[i]) absl::StrAppend(&out, Td(MeanSemHtml(m, true)));
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
    std::vector<svg::LineSeries> series;
    for (int i = 0; i < s.models_size(); ++i) {
      const v1::ModelScores& m = s.models(i);
      svg::LineSeries line{m.name(), Colour(i), {}, static_cast<double>(m.best_layer())};
      for (const v1::LayerScores& l : m.layers()) {
        const v1::MeanSem* score = FindRoi(l.rois(), roi);
        std::string tooltip = absl::StrCat(m.name(), ", layer ", l.layer(), ": ", MeanSemText(score));
        if (l.layer() == m.best_layer()) absl::StrAppend(&tooltip, " (best layer)");
        line.points.push_back({static_cast<double>(l.layer()), MeanOf(score), SemOf(score), tooltip});
      }
      series.push_back(std::move(line));
    }
    return series;
  };
  svg::Frame big;
  big.width = 820;
  big.height = 330;
  const std::string all_chart =
      std::find(rois.begin(), rois.end(), kAll) == rois.end()
          ? ""
          : svg::LineChart(series_for(kAll), svg::XScale::kIntegers, big, "layer", ScoreLabel(s),
                           "layer-curve", "Score over all targets per layer");
  if (all_chart.empty()) {
    return absl::StrCat(out, Empty("No per-layer scores over all targets."), "</section>");
  }
  absl::StrAppend(&out, Legend(ModelLegend(s)),
                  Figure(all_chart,
                         "All targets: mean over participants, band: ± SEM. Rings mark each "
                         "model's best layer. Layer 0 is the transformer's input."));
  std::string small;
  svg::Frame frame;
  frame.width = 440;
  frame.height = 250;
  for (const std::string& roi : rois) {
    if (roi == kAll) continue;
    const std::string chart =
        svg::LineChart(series_for(roi), svg::XScale::kIntegers, frame, "layer", ScoreLabel(s), "layer-curve",
                       absl::StrCat("Score per layer, ROI ", roi));
    if (!chart.empty()) absl::StrAppend(&small, Figure(chart, absl::StrCat("ROI <b>", Escape(roi), "</b>")));
  }
  if (!small.empty()) absl::StrAppend(&out, "<h3>Per ROI</h3><div class=\"grid\">", small, "</div>");
  return absl::StrCat(out, "</section>");
}

std::string EfficiencySection(const v1::EvaluationSummary& s) {
  std::string out = SectionStart("efficiency", "Data efficiency");
  std::vector<std::pair<double, int64_t>> fractions;  // fraction, training samples
  std::vector<std::string> rois;
  for (const v1::ModelScores& m : s.models()) {
    for (const v1::SweepPoint& p : m.sweep()) {
      AddRois(p.rois(), &rois);
      if (std::none_of(fractions.begin(), fractions.end(), [&](const auto& f) { return f.first == p.fraction(); })) {
        fractions.emplace_back(p.fraction(), p.train_samples());
      }
    }
  }
  rois = AllFirst(rois);
  // Each ROI's points are at the model's best layer for that ROI (the sweep's own choice).
  auto series_for = [&](absl::string_view roi) {
    std::vector<svg::LineSeries> series;
    for (int i = 0; i < s.models_size(); ++i) {
      const v1::ModelScores& m = s.models(i);
      svg::LineSeries line{m.name(), Colour(i), {}, kNaN};
      for (const v1::SweepPoint& p : m.sweep()) {
        const v1::MeanSem* score = FindRoi(p.rois(), roi);
        line.points.push_back({p.fraction(), MeanOf(score), SemOf(score),
                               absl::StrCat(m.name(), ", ", Percent(p.fraction()), " (", p.train_samples(),
                                            " samples): ", MeanSemText(score))});
      }
      series.push_back(std::move(line));
    }
    return series;
  };
  svg::Frame frame;
  frame.width = 820;
  frame.height = 330;
  const std::string chart =
      svg::LineChart(series_for(kAll), svg::XScale::kFractions, frame, "training data used", ScoreLabel(s),
                     "efficiency", "Score over all targets against training data");
  if (chart.empty()) {
    return absl::StrCat(out, Empty("No model has data-efficiency sweep points, so there is no curve."),
                        "</section>");
  }
  absl::StrAppend(&out, Legend(ModelLegend(s)),
                  Figure(chart,
                         "Score over all targets when the encoding model is trained on the first "
                         "fraction of the training samples; band: ± SEM over participants."));
  std::string small;
  svg::Frame roi_frame;
  roi_frame.width = 440;
  roi_frame.height = 250;
  for (const std::string& roi : rois) {
    if (roi == kAll) continue;
    const std::string roi_chart =
        svg::LineChart(series_for(roi), svg::XScale::kFractions, roi_frame, "training data used", ScoreLabel(s),
                       "efficiency", absl::StrCat("Score against training data, ROI ", roi));
    if (!roi_chart.empty()) {
      absl::StrAppend(&small, Figure(roi_chart, absl::StrCat("ROI <b>", Escape(roi), "</b>, each model at its best "
                                                             "layer for the ROI")));
    }
  }
  if (!small.empty()) absl::StrAppend(&out, "<h3>Per ROI</h3><div class=\"grid\">", small, "</div>");
  std::sort(fractions.begin(), fractions.end());
  absl::StrAppend(
      &out,
      "<div class=\"scroll\"><table class=\"scores\"><thead><tr><th class=\"num\">training data</th>"
      "<th class=\"num\">samples</th>");
  for (int i = 0; i < s.models_size(); ++i) {
    absl::StrAppend(&out, "<th class=\"num\">",
                    ModelLabel(s.models(i).name(), Colour(i), svg::kMaxLabelChars), "</th>");
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

// A control at each model's best layer (residualisation, erasure): per model, the scores before
// and after as bars and a table. `describe` says what the control removed.
template <typename Control>
std::string ControlSection(const v1::EvaluationSummary& s, const std::string& id, const std::string& title,
                           const std::string& after_label, const std::string& none,
                           const std::function<const Control&(const v1::ModelScores&)>& get,
                           const std::function<std::string(const Control&)>& describe) {
  std::string out = SectionStart(id, title);
  bool any = false;
  for (int i = 0; i < s.models_size(); ++i) {
    const Control& r = get(s.models(i));
    if (r.before().empty() && r.after().empty() && r.drop().empty()) continue;
    any = true;
    std::vector<std::string> rois;
    AddRois(r.before(), &rois);
    AddRois(r.after(), &rois);
    AddRois(r.drop(), &rois);
    rois = AllFirst(rois);
    std::vector<const v1::MeanSem*> before, after;
    for (const std::string& roi : rois) {
      before.push_back(FindRoi(r.before(), roi));
      after.push_back(FindRoi(r.after(), roi));
    }
    const std::string attrs = absl::StrCat("data-model=\"", i, "\" data-phase=");
    const std::vector<svg::BarSeries> bars = {
        {"before", {Colour(i), 1}, BarValues(before), attrs + "\"before\""},
        {after_label, {Colour(i), 0.35}, BarValues(after), attrs + "\"after\""}};
    absl::StrAppend(&out, ModelHeading(s, i, absl::StrCat(" <span class=\"n\">layer ", r.layer(), "</span>")),
                    describe(r), Legend({{"before", Colour(i)}, {after_label, Colour(i), 0.35}}));
    absl::StrAppend(&out, "<div class=\"side\">",
                    Figure(svg::GroupedBarChart(rois, bars, {}, "", ScoreLabel(s), id,
                                                absl::StrCat(title, ", ", s.models(i).name())),
                           "Mean over participants, error bars: SEM."));
    absl::StrAppend(
        &out,
        "<div class=\"scroll\"><table class=\"scores\"><thead><tr><th>ROI</th><th class=\"num\">before</th>"
        "<th class=\"num\">after</th><th class=\"num\">drop</th></tr></thead><tbody>");
    for (size_t j = 0; j < rois.size(); ++j) {
      absl::StrAppend(&out, "<tr><td>", Escape(rois[j]), "</td>", Td(MeanSemHtml(before[j], false)),
                      Td(MeanSemHtml(after[j], false)), Td(MeanSemHtml(FindRoi(r.drop(), rois[j]), true)),
                      "</tr>");
    }
    absl::StrAppend(&out, "</tbody></table></div></div>");
  }
  if (!any) absl::StrAppend(&out, Empty(none));
  return absl::StrCat(out, "</section>");
}

std::string RemovalSection(const v1::EvaluationSummary& s) {
  return ControlSection<v1::RemovalScores>(
      s, "removal", "Feature-removal control", "after removal", "No feature-removal control was run.",
      [](const v1::ModelScores& m) -> const v1::RemovalScores& { return m.removal(); },
      [](const v1::RemovalScores& r) {
        std::string confounds;
        for (int c = 0; c < r.confounds_size(); ++c) absl::StrAppend(&confounds, c ? ", " : "", Escape(r.confounds(c)));
        if (confounds.empty()) confounds = std::string(kMissing);
        return absl::StrCat("<p>Confounds regressed out of the features: ", confounds, "</p>");
      });
}

std::string ErasureSection(const v1::EvaluationSummary& s) {
  return ControlSection<v1::ErasureScores>(
      s, "erasure", "Concept erasure (LEACE)", "after erasure", "No concept-erasure control was run.",
      [](const v1::ModelScores& m) -> const v1::ErasureScores& { return m.erasure(); },
      [](const v1::ErasureScores& e) {
        return absl::StrFormat(
            "<p>Erased from the features: %s per word. A ridge probe of it on the test stories' %d words explains "
            "R<sup>2</sup> = %.3f before and %.3f after the erasure (fitted on %d training words); the erasure removes "
            "%.1f%% of the features' variance.</p>",
            Escape(e.concept()), e.test_words(), e.probe_r2_before(), e.probe_r2_after(), e.train_words(),
            100 * e.variance_removed()) +
               (e.complete() ? std::string()
                             : std::string("<p class=\"note\">The erasure is incomplete: the probe still explains more "
                                           "than R<sup>2</sup> = 0.01 of the concept on the test words, so the drop "
                                           "understates what the concept contributes.</p>")) +
               (e.next_token_tokens() == 0
                    ? std::string()
                    : absl::StrFormat("<p>Next-word loss on the test stories (%d tokens), with the erased layer patched "
                                      "back into the forward pass: %.3f nats per token before, %.3f after (%+.3f).</p>",
                                      e.next_token_tokens(), e.next_token_loss_before(), e.next_token_loss_after(),
                                      e.next_token_loss_after() - e.next_token_loss_before()));
      });
}

// Variance partitioning per model at its best layer: the three partitions per ROI as bars, and
// a table with the R^2 they come from.
std::string VariancePartitionSection(const v1::EvaluationSummary& s) {
  std::string out = SectionStart("variance-partitioning", "Variance partitioning");
  bool any = false;
  for (int i = 0; i < s.models_size(); ++i) {
    const v1::VariancePartitionScores& v = s.models(i).variance_partitioning();
    if (v.joint_r2().empty()) continue;
    if (!any) {
      absl::StrAppend(&out,
                      "<p class=\"note\">R<sup>2</sup> on the test stories of three encoding models at the model's "
                      "best layer: the model's features and the low-level features as two bands of a banded ridge "
                      "(one alpha per band and target, chosen on contiguous folds of the training stories), and each "
                      "alone. Unique = joint − the other alone; shared = model + low-level − joint; negative "
                      "estimates are set to 0 per target. Means over each ROI's targets, then over participants "
                      "(± SEM); not divided by the noise ceiling.</p>");
    }
    any = true;
    std::vector<std::string> rois;
    AddRois(v.joint_r2(), &rois);
    rois = AllFirst(rois);
    std::vector<const v1::MeanSem*> unique_model, shared, unique_low;
    for (const std::string& roi : rois) {
      unique_model.push_back(FindRoi(v.unique_model(), roi));
      shared.push_back(FindRoi(v.shared(), roi));
      unique_low.push_back(FindRoi(v.unique_lowlevel(), roi));
    }
    const std::string attrs = absl::StrCat("data-model="", i, "" data-part=");
    const std::string grey = "#777777";
    const std::vector<svg::BarSeries> bars = {
        {"unique to the model", {Colour(i), 1}, BarValues(unique_model), attrs + "\"unique-model\""},
        {"shared", {Colour(i), 0.35}, BarValues(shared), attrs + "\"shared\""},
        {"unique to the low-level features", {grey, 0.6}, BarValues(unique_low), attrs + "\"unique-lowlevel\""}};
    std::string confounds;
    for (int c = 0; c < v.confounds_size(); ++c) absl::StrAppend(&confounds, c ? ", " : "", Escape(v.confounds(c)));
    absl::StrAppend(&out, ModelHeading(s, i, absl::StrCat(" <span class=\"n\">layer ", v.layer(), "</span>")),
                    "<p>Low-level features: ", confounds.empty() ? std::string(kMissing) : confounds, "</p>",
                    Legend({{"unique to the model", Colour(i)},
                            {"shared", Colour(i), 0.35},
                            {"unique to the low-level features", grey, 0.6}}));
    absl::StrAppend(&out, "<div class=\"side\">",
                    Figure(svg::GroupedBarChart(rois, bars, {}, "", "R² (test stories)", "variance-partitioning",
                                                absl::StrCat("Variance partitioning, ", s.models(i).name())),
                           "Mean over participants, error bars: SEM."));
    absl::StrAppend(&out,
                    "<div class=\"scroll\"><table class=\"scores\"><thead><tr><th>ROI</th>"
                    "<th class=\"num\">R² joint</th><th class=\"num\">R² model</th><th class=\"num\">R² low-level</th>"
                    "<th class=\"num\">unique model</th><th class=\"num\">shared</th>"
                    "<th class=\"num\">unique low-level</th></tr></thead><tbody>");
    for (size_t j = 0; j < rois.size(); ++j) {
      absl::StrAppend(&out, "<tr><td>", Escape(rois[j]), "</td>", Td(MeanSemHtml(FindRoi(v.joint_r2(), rois[j]), false)),
                      Td(MeanSemHtml(FindRoi(v.model_r2(), rois[j]), false)),
                      Td(MeanSemHtml(FindRoi(v.lowlevel_r2(), rois[j]), false)), Td(MeanSemHtml(unique_model[j], false)),
                      Td(MeanSemHtml(shared[j], false)), Td(MeanSemHtml(unique_low[j], true)), "</tr>");
    }
    absl::StrAppend(&out, "</tbody></table></div></div>");
  }
  if (!any) absl::StrAppend(&out, Empty("No variance partitioning was run."));
  return absl::StrCat(out, "</section>");
}

// The permutation test: per model and ROI, the targets whose prediction beats block permutations
// of the test responses after the FDR correction.
std::string PermutationSection(const v1::EvaluationSummary& s) {
  std::string out = SectionStart("permutation", "Permutation test");
  std::string rows;
  const v1::PermutationScores* first = nullptr;
  for (int i = 0; i < s.models_size(); ++i) {
    const v1::PermutationScores& p = s.models(i).permutation();
    if (p.rois().empty()) continue;
    if (first == nullptr) first = &p;
    for (const v1::PermutationRoi& r : p.rois()) {
      absl::StrAppend(&rows, "<tr><td>", ModelLabel(s.models(i).name(), Colour(i)), "</td>",
                      Td(absl::StrCat(p.layer())), "<td>", Escape(r.roi()), "</td>",
                      Td(absl::StrCat(r.significant(), " / ", r.targets())),
                      Td(HasMean(&r.share()) ? PlusMinus(r.share().mean(), SemOf(&r.share())) : std::string(kMissing)),
                      Td(absl::StrCat(p.min_blocks())), "</tr>");
    }
  }
  if (first == nullptr) return absl::StrCat(out, Empty("No permutation test was run."), "</section>");
  absl::StrAppend(
      &out,
      absl::StrFormat(
          "<p class=\"note\">Per target, the Pearson r of the best layer's prediction with the test responses against "
          "%d shuffles of the responses in blocks of %d samples (within each test run); p = (1 + shuffles with r at "
          "least as high) / (1 + shuffles), one-sided. Significant: Benjamini-Hochberg at q = %s across all targets of "
          "a participant. Counts are summed over participants; the share is per participant, mean ± SEM.</p>",
          first->permutations(), first->block_trs(), Num(first->fdr_q(), 3)),
      "<div class=\"scroll\"><table class=\"scores\"><thead><tr><th>model</th><th class=\"num\">layer</th>"
      "<th>ROI</th><th class=\"num\">significant / targets</th><th class=\"num\">share</th>"
      "<th class=\"num\">blocks (fewest)</th></tr></thead><tbody>",
      rows, "</tbody></table></div>");
  return absl::StrCat(out, "</section>");
}

// Probe accuracy per model, probe and layer, with the chance level beside it.
std::string ProbesSection(const v1::EvaluationSummary& s) {
  std::string out = SectionStart("probes", "Linear probes");
  for (const std::string& note : s.probe_notes()) absl::StrAppend(&out, "<p class=\"note\">", Escape(note), "</p>");
  std::vector<int> layers;
  for (const auto& m : s.models()) {
    for (const auto& p : m.probes()) {
      if (std::find(layers.begin(), layers.end(), p.layer()) == layers.end()) layers.push_back(p.layer());
    }
  }
  std::sort(layers.begin(), layers.end());
  if (layers.empty()) return absl::StrCat(out, Empty("No probe was run."), "</section>");
  absl::StrAppend(&out,
                  "<p class=\"note\">Accuracy on the test stories of a linear classifier fitted on the training "
                  "stories, from each layer's feature vector just after each item (phoneme identity; word meaning "
                  "= the word's class). Chance: the most frequent training label.</p><div class=\"scroll\"><table "
                  "class=\"scores\"><thead><tr><th>model</th><th>probe</th>");
  for (int l : layers) absl::StrAppend(&out, "<th class=\"num\">layer ", l, "</th>");
  absl::StrAppend(&out, "<th class=\"num\">chance</th><th class=\"num\">test items</th></tr></thead><tbody>");
  for (int i = 0; i < s.models_size(); ++i) {
    std::vector<std::string> probes;
    for (const auto& p : s.models(i).probes()) {
      if (std::find(probes.begin(), probes.end(), p.probe()) == probes.end()) probes.push_back(p.probe());
    }
    for (const std::string& probe : probes) {
      absl::StrAppend(&out, "<tr><td>", ModelLabel(s.models(i).name(), Colour(i)), "</td><td>", Escape(probe), "</td>");
      double chance = std::nan("");
      int items = 0;
      for (int l : layers) {
        std::string cell(kMissing);
        for (const auto& p : s.models(i).probes()) {
          if (p.probe() != probe || p.layer() != l) continue;
          cell = Num(p.accuracy(), 3);
          chance = p.chance();
          items = p.test_items();
        }
        absl::StrAppend(&out, Td(cell));
      }
      absl::StrAppend(&out, Td(Num(chance, 3)), Td(absl::StrCat(items)), "</tr>");
    }
  }
  return absl::StrCat(out, "</tbody></table></div></section>");
}

std::string ComparisonsSection(const v1::EvaluationSummary& s) {
  std::string out = SectionStart("comparisons", "Comparisons");
  if (s.comparisons().empty()) {
    return absl::StrCat(out, Empty("No paired comparisons: they need at least two models."), "</section>");
  }
  absl::StrAppend(
      &out,
      "<p class=\"note\">Paired across participants, each model at its best layer for the ROI (chosen on the "
      "training stories): difference = model B − model A; p: two-sided sign-flip permutation test.</p>"
      "<div class=\"scroll\"><table class=\"scores\"><thead><tr><th>model B − model A</th><th>ROI</th>"
      "<th class=\"num\">layers (B / A)</th>"
      "<th class=\"num\">mean difference ± SEM</th><th class=\"num\">t</th><th class=\"num\">p</th>"
      "<th class=\"num\">permutations</th><th class=\"num\">participants</th></tr></thead><tbody>");
  std::string plots;
  for (const v1::PairedTest& t : s.comparisons()) {
    const std::string diff = PlusMinus(t.mean_difference(), t.sem_difference());
    const int n = t.n();
    absl::StrAppend(&out, "<tr><td>", ModelLabel(t.model_b(), ModelColour(s, t.model_b())), " − ",
                    ModelLabel(t.model_a(), ModelColour(s, t.model_a())), "</td><td>", Escape(t.roi()),
                    "</td>", Td(absl::StrCat(t.layer_b(), " / ", t.layer_a())), Td(diff), Td(Num(t.t(), 2)), Td(PValue(t.p_value())),
                    Td(absl::StrCat(t.permutations())), Td(absl::StrCat(n)), "</tr>");
    if (t.roi() == kAll && std::min(t.a_size(), t.b_size()) > 0) {
      const svg::PairedSeries pairs{t.model_a(),
                                    t.model_b(),
                                    {t.a().begin(), t.a().end()},
                                    {t.b().begin(), t.b().end()},
                                    {t.participants().begin(), t.participants().end()}};
      absl::StrAppend(&plots,
                      Figure(svg::PairedPlot(pairs, PairedRange(s), ModelColour(s, t.model_a()),
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
                  RemovalSection(summary), ErasureSection(summary), VariancePartitionSection(summary),
                  PermutationSection(summary), ProbesSection(summary), ComparisonsSection(summary), ParticipantsSection(summary),
                  "</main></body></html>\n");
  return out;
}

}  // namespace braintune::eval

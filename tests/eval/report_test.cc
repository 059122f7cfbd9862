// The HTML report: every section is there (or says why not), one SVG per chart, one bar per
// (ROI, model) with heights that follow the scores, escaped names, "–" for NaN, and nothing that
// needs the network or JavaScript. With REPORT_SAMPLE_PATH set, the sample report is written
// there to look at in a browser.
#include "eval/report.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace braintune::eval {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr char kNastyName[] = "<b>&\"x";
constexpr char kNastyEscaped[] = "&lt;b&gt;&amp;&quot;x";
const std::vector<std::string> kParticipants = {"UTS01", "UTS02", "UTS03"};

void AddRoi(google::protobuf::RepeatedPtrField<v1::RoiScore>* rois, const std::string& roi, double mean,
            double sem, int64_t n) {
  v1::RoiScore* r = rois->Add();
  r->set_roi(roi);
  r->mutable_score()->set_mean(mean);
  r->mutable_score()->set_sem(sem);
  r->mutable_score()->set_n(n);
}

// Scores per ROI; the summary lists "all" last, the report must still show it first.
void AddRois(google::protobuf::RepeatedPtrField<v1::RoiScore>* rois, double base, int64_t n) {
  AddRoi(rois, "AC", base + 0.10, 0.02, n);
  AddRoi(rois, "IFG", base - 0.05, 0.03, n);
  AddRoi(rois, "all", base, 0.01, n);
}

// Two models (the second named `<b>&"x`), layers 0..2, ROIs AC, IFG and all, a sweep, the
// feature-removal control and two paired comparisons. Participant UTS03's IFG score under the
// second model, and that model's IFG drop, are NaN.
v1::EvaluationSummary SampleSummary() {
  v1::EvaluationSummary s;
  s.set_name("speech-vs-brain-tuned");
  s.set_dataset("lebel2023");
  s.set_modality("fmri");
  s.add_test_stories("wheretheressmoke");
  s.add_test_stories("fromboyhoodtofatherhood");
  s.set_score("normalized");
  s.set_ceiling_threshold(0.4);
  s.set_ceiling_source("repeats");
  for (const std::string& p : kParticipants) s.add_participants(p);
  AddRois(s.mutable_noise_ceiling(), 0.7, 3);
  s.set_seconds(754.2);
  s.set_feature_cache_hits(10);
  s.set_feature_cache_misses(20);
  s.set_context_seconds(20);
  s.set_stride_seconds(0.5);
  s.set_hdf5_path("/runs/eval/evaluation.h5");
  s.set_json_path("/runs/eval/evaluation.json");

  const std::vector<std::string> names = {"whisper-base", kNastyName};
  const std::vector<std::vector<double>> per_layer = {{0.20, 0.30, 0.35}, {0.25, 0.45, 0.40}};
  for (int m = 0; m < 2; ++m) {
    v1::ModelScores* model = s.add_models();
    model->set_name(names[m]);
    model->set_checkpoint(m == 0 ? "" : "/runs/tune/final.pt");
    model->set_best_layer(m == 0 ? 2 : 1);
    for (int layer = 0; layer < 3; ++layer) {
      v1::LayerScores* l = model->add_layers();
      l->set_layer(layer);
      AddRois(l->mutable_rois(), per_layer[m][layer], 3);
      for (size_t p = 0; p < kParticipants.size(); ++p) {
        v1::ParticipantLayerScores* ps = l->add_participants();
        ps->set_participant(kParticipants[p]);
        AddRois(ps->mutable_rois(), per_layer[m][layer] + 0.01 * p, 400);
        ps->set_mean_r(0.1 + 0.01 * p);
        if (m == 1 && p == 2) ps->mutable_rois(1)->mutable_score()->set_mean(kNaN);
      }
    }
    for (double fraction : {0.1, 0.25, 0.5, 1.0}) {
      v1::SweepPoint* point = model->add_sweep();
      point->set_fraction(fraction);
      point->set_train_samples(static_cast<int64_t>(3000 * fraction));
      AddRois(point->mutable_rois(), per_layer[m][model->best_layer()] * std::sqrt(fraction), 3);
    }
    v1::RemovalScores* removal = model->mutable_removal();
    removal->set_layer(model->best_layer());
    removal->add_confounds("phoneme rate");
    removal->add_confounds("word rate");
    AddRois(removal->mutable_before(), per_layer[m][model->best_layer()], 3);
    AddRois(removal->mutable_after(), per_layer[m][model->best_layer()] - 0.15, 3);
    AddRois(removal->mutable_drop(), 0.15, 3);
    if (m == 1) removal->mutable_drop(1)->mutable_score()->set_mean(kNaN);
  }
  for (const std::string roi : {"all", "AC"}) {
    v1::PairedTest* t = s.add_comparisons();
    t->set_model_a(names[0]);
    t->set_model_b(names[1]);
    t->set_roi(roi);
    for (size_t p = 0; p < kParticipants.size(); ++p) {
      t->add_participants(kParticipants[p]);
      t->add_a(0.35 + 0.01 * p);
      t->add_b(0.45 + 0.02 * p);
    }
    t->set_mean_difference(0.11);
    t->set_sem_difference(0.006);
    t->set_t(18.33);
    t->set_p_value(0.25);
    t->set_permutations(8);
    t->set_n(3);
  }
  return s;
}

// The text of <section id="`id`"> ... </section>; empty when there is no such section.
std::string Section(const std::string& html, const std::string& id) {
  const size_t begin = html.find("<section id=\"" + id + "\"");
  if (begin == std::string::npos) return "";
  const size_t end = html.find("</section>", begin);
  return html.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size()))
    ++n;
  return n;
}

struct Bar {
  int model;
  double height;
};

// The bars of `html` in drawing order.
std::vector<Bar> Bars(const std::string& html) {
  static const std::regex kBar(R"re(<rect class="bar" data-model="(\d+)"[^>]* height="([0-9.]+)")re");
  std::vector<Bar> bars;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), kBar); it != std::sregex_iterator(); ++it) {
    bars.push_back({std::stoi((*it)[1]), std::stod((*it)[2])});
  }
  return bars;
}

std::vector<std::string> CategoryLabels(const std::string& html) {
  static const std::regex kLabel(R"re(<text class="category"[^>]*><title>[^<]*</title>([^<]*)</text>)re");
  std::vector<std::string> labels;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), kLabel); it != std::sregex_iterator(); ++it) {
    labels.push_back((*it)[1]);
  }
  return labels;
}

TEST(ReportTest, WritesSampleWhenAsked) {
  const char* path = std::getenv("REPORT_SAMPLE_PATH");
  if (path == nullptr) GTEST_SKIP() << "REPORT_SAMPLE_PATH not set";
  std::ofstream(path) << RenderHtmlReport(SampleSummary());
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
}

TEST(ReportTest, HasEverySectionInOrder) {
  const std::string html = RenderHtmlReport(SampleSummary());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  size_t previous = html.find("<h1>speech-vs-brain-tuned</h1>");
  ASSERT_NE(previous, std::string::npos);
  for (const std::string heading : {"Alignment per ROI", "Per-layer curves", "Data efficiency",
                                    "Feature-removal control", "Comparisons", "Participants"}) {
    const size_t at = html.find("<h2>" + heading + "</h2>");
    ASSERT_NE(at, std::string::npos) << heading;
    EXPECT_GT(at, previous) << heading << " out of order";
    previous = at;
  }
  EXPECT_THAT(html, HasSubstr("</html>"));
}

TEST(ReportTest, HeaderSaysWhatWasEvaluatedAndHow) {
  const std::string html = RenderHtmlReport(SampleSummary());
  const std::string header = html.substr(0, html.find("</header>"));
  EXPECT_THAT(header, HasSubstr("lebel2023"));
  EXPECT_THAT(header, HasSubstr("fmri"));
  EXPECT_THAT(header, HasSubstr("2: wheretheressmoke, fromboyhoodtofatherhood"));
  EXPECT_THAT(header, HasSubstr("noise ceiling per target; targets with a ceiling ≤ 0.40 are masked"));
  EXPECT_THAT(header, HasSubstr("repeats"));
  EXPECT_THAT(header, HasSubstr("20.0 s / 0.5 s"));
  EXPECT_THAT(header, HasSubstr("3: UTS01, UTS02, UTS03"));
  EXPECT_THAT(header, HasSubstr("12 min 34 s"));
  EXPECT_THAT(header, HasSubstr("10 hits, 20 misses"));

  v1::EvaluationSummary raw = SampleSummary();
  raw.set_score("r");
  EXPECT_THAT(RenderHtmlReport(raw), HasSubstr("held-out Pearson r (no noise ceiling)"));
}

TEST(ReportTest, OneSvgPerChart) {
  const std::string html = RenderHtmlReport(SampleSummary());
  EXPECT_EQ(Count(Section(html, "roi"), "<svg"), 1);
  EXPECT_EQ(Count(Section(html, "layers"), "<svg"), 3);  // all, AC, IFG
  EXPECT_EQ(Count(Section(html, "efficiency"), "<svg"), 3);  // all, AC, IFG
  EXPECT_EQ(Count(Section(html, "removal"), "<svg"), 2);      // one per model
  EXPECT_EQ(Count(Section(html, "comparisons"), "<svg"), 1);  // the "all" comparison only
  EXPECT_EQ(Count(Section(html, "participants"), "<svg"), 0);
  EXPECT_EQ(Count(html, "<svg"), 10);
  EXPECT_EQ(Count(html, "<svg"), Count(html, "</svg>"));
}

TEST(ReportTest, OneBarPerRoiAndModelAtItsBestLayer) {
  const std::string roi = Section(RenderHtmlReport(SampleSummary()), "roi");
  const std::vector<Bar> bars = Bars(roi);
  ASSERT_EQ(bars.size(), 6u);  // 3 ROIs x 2 models, grouped by ROI
  EXPECT_EQ(CategoryLabels(roi), (std::vector<std::string>{"all", "AC", "IFG"}));
  // Best layers: model 0 at layer 2 (all 0.35), model 1 at layer 1 (all 0.45); bars start at 0.
  const std::vector<double> expected = {0.35, 0.45, 0.45, 0.55, 0.30, 0.40};
  for (size_t i = 0; i < bars.size(); ++i) {
    EXPECT_EQ(bars[i].model, static_cast<int>(i % 2));
    EXPECT_NEAR(bars[i].height / bars[0].height, expected[i] / expected[0], 0.02) << "bar " << i;
  }
  EXPECT_GT(bars[0].height, 20);
  EXPECT_EQ(Count(roi, "class=\"sem\""), 6);
  // The table: mean +- SEM (n) and the best layer; the colours of the legend.
  EXPECT_THAT(roi, HasSubstr("0.450 ± 0.010 <span class=\"n\">(n=3)</span>"));
  EXPECT_THAT(roi, HasSubstr("noise ceiling (r)"));
  EXPECT_THAT(roi, HasSubstr("1.0 would reach the ceiling"));
  EXPECT_THAT(roi, HasSubstr("#4e79a7"));
  EXPECT_THAT(roi, HasSubstr("#f28e2b"));
}

TEST(ReportTest, ModelsKeepTheirColourInEveryChart) {
  const std::string html = RenderHtmlReport(SampleSummary());
  for (const std::string id : {"roi", "layers", "efficiency", "removal", "comparisons"}) {
    EXPECT_THAT(Section(html, id), HasSubstr("fill=\"#4e79a7\"")) << id;
    EXPECT_THAT(Section(html, id), HasSubstr("fill=\"#f28e2b\"")) << id;
  }
  // Ten models, ten colours.
  v1::EvaluationSummary many = SampleSummary();
  for (int i = 2; i < 10; ++i) *many.add_models() = many.models(0);
  const std::string roi = Section(RenderHtmlReport(many), "roi");
  EXPECT_EQ(Bars(roi).size(), 30u);
  for (const char* colour : {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                             "#ff9da7", "#9c755f", "#bab0ac"}) {
    EXPECT_THAT(roi, HasSubstr(std::string("fill=\"") + colour + "\"")) << colour;
  }
}

TEST(ReportTest, BestLayerIsMarked) {
  const std::string layers = Section(RenderHtmlReport(SampleSummary()), "layers");
  // One ring per model per chart (all, AC, IFG).
  EXPECT_EQ(Count(layers, "class=\"best\""), 6);
  EXPECT_THAT(layers, HasSubstr("whisper-base, layer 2: 0.350 ± 0.010 (n=3) (best layer)"));
  EXPECT_EQ(Count(layers, "class=\"band\""), 6);
}

TEST(ReportTest, DataEfficiencyIsLabelledInPercent) {
  const std::string efficiency = Section(RenderHtmlReport(SampleSummary()), "efficiency");
  for (const char* label : {">10%<", ">25%<", ">50%<", ">100%<"}) EXPECT_THAT(efficiency, HasSubstr(label));
  EXPECT_THAT(efficiency, HasSubstr("training data used"));
  EXPECT_EQ(Count(efficiency, "class=\"line\""), 6);  // two models, over all targets and per ROI
  EXPECT_THAT(efficiency, HasSubstr("ROI <b>AC</b>, each model at its best layer for the ROI"));
}

TEST(ReportTest, RemovalShowsBeforeAfterAndDrops) {
  const std::string removal = Section(RenderHtmlReport(SampleSummary()), "removal");
  EXPECT_THAT(removal, HasSubstr("phoneme rate, word rate"));
  EXPECT_EQ(Count(removal, "data-phase=\"before\""), 6);
  EXPECT_EQ(Count(removal, "data-phase=\"after\""), 6);
  EXPECT_THAT(removal, HasSubstr("0.150 ± 0.010 <span class=\"n\">(n=3)</span>"));
}

TEST(ReportTest, VariancePartitioningAndPermutationHaveTheirSections) {
  v1::EvaluationSummary s = SampleSummary();
  std::string html = RenderHtmlReport(s);
  EXPECT_THAT(Section(html, "variance-partitioning"), HasSubstr("No variance partitioning was run."));
  EXPECT_THAT(Section(html, "permutation"), HasSubstr("No permutation test was run."));
  v1::VariancePartitionScores* v = s.mutable_models(1)->mutable_variance_partitioning();
  v->set_layer(1);
  v->add_confounds("letters");
  v->add_confounds("word_rate");
  AddRois(v->mutable_joint_r2(), 0.30, 3);
  AddRois(v->mutable_model_r2(), 0.25, 3);
  AddRois(v->mutable_lowlevel_r2(), 0.20, 3);
  AddRois(v->mutable_unique_model(), 0.10, 3);
  AddRois(v->mutable_unique_lowlevel(), 0.05, 3);
  AddRois(v->mutable_shared(), 0.15, 3);
  v1::PermutationScores* p = s.mutable_models(1)->mutable_permutation();
  p->set_layer(1);
  p->set_permutations(1000);
  p->set_block_trs(10);
  p->set_fdr_q(0.05);
  p->set_min_blocks(29);
  for (const std::string roi : {"all", "AC"}) {
    v1::PermutationRoi* r = p->add_rois();
    r->set_roi(roi);
    r->set_significant(roi == "all" ? 120 : 37);
    r->set_targets(roi == "all" ? 300 : 60);
    r->mutable_share()->set_mean(roi == "all" ? 0.4 : 0.617);
    r->mutable_share()->set_sem(0.02);
    r->mutable_share()->set_n(3);
  }
  html = RenderHtmlReport(s);
  const std::string partition = Section(html, "variance-partitioning");
  EXPECT_THAT(partition, HasSubstr("letters, word_rate"));
  EXPECT_EQ(Count(partition, "<svg"), 1);  // the one model that has it
  EXPECT_EQ(Count(partition, "data-part=\"shared\""), 3);  // all, AC, IFG
  EXPECT_EQ(Count(partition, "data-part=\"unique-model\""), 3);
  EXPECT_THAT(partition, HasSubstr(kNastyEscaped));
  EXPECT_THAT(partition, HasSubstr("0.250 ± 0.020"));  // the shared part of AC: 0.15 + 0.10
  const std::string permutation = Section(html, "permutation");
  EXPECT_THAT(permutation, HasSubstr("1000 shuffles of the responses in blocks of 10 samples"));
  EXPECT_THAT(permutation, HasSubstr("37 / 60"));
  EXPECT_THAT(permutation, HasSubstr("120 / 300"));
  // In order: after the erasure section, before the probes.
  EXPECT_LT(html.find("<h2>Concept erasure (LEACE)</h2>"), html.find("<h2>Variance partitioning</h2>"));
  EXPECT_LT(html.find("<h2>Variance partitioning</h2>"), html.find("<h2>Permutation test</h2>"));
  EXPECT_LT(html.find("<h2>Permutation test</h2>"), html.find("<h2>Linear probes</h2>"));
}

// The erasure section shows its verification (probe R^2 before and after, variance removed, the
// next-word loss of a causal model) and says so when the erasure was incomplete.
TEST(ReportTest, ErasureShowsItsVerificationAndAnIncompleteErasure) {
  v1::EvaluationSummary s = SampleSummary();
  EXPECT_THAT(Section(RenderHtmlReport(s), "erasure"), HasSubstr("No concept-erasure control was run."));
  v1::ErasureScores* e = s.mutable_models(1)->mutable_erasure();
  e->set_layer(1);
  e->set_concept("letters");
  AddRois(e->mutable_before(), 0.40, 3);
  AddRois(e->mutable_after(), 0.20, 3);
  AddRois(e->mutable_drop(), 0.20, 3);
  e->set_probe_r2_before(0.65);
  e->set_probe_r2_after(-0.002);
  e->set_variance_removed(0.018);
  e->set_train_words(3000);
  e->set_test_words(383);
  e->set_next_token_loss_before(6.023);
  e->set_next_token_loss_after(6.024);
  e->set_next_token_tokens(386);
  e->set_complete(true);
  std::string erasure = Section(RenderHtmlReport(s), "erasure");
  EXPECT_THAT(erasure, HasSubstr("Erased from the features: letters per word. A ridge probe of it on the test stories' "
                                 "383 words explains R<sup>2</sup> = 0.650 before and -0.002 after the erasure (fitted "
                                 "on 3000 training words); the erasure removes 1.8% of the features' variance."));
  EXPECT_THAT(erasure, HasSubstr("(386 tokens), with the erased layer patched back into the forward pass: 6.023 nats "
                                 "per token before, 6.024 after (+0.001)"));
  EXPECT_THAT(erasure, Not(HasSubstr("incomplete")));
  e->set_probe_r2_after(0.2);
  e->set_complete(false);
  EXPECT_THAT(Section(RenderHtmlReport(s), "erasure"), HasSubstr("The erasure is incomplete"));
}

TEST(ReportTest, ComparisonsTableAndPairedPlot) {
  const std::string comparisons = Section(RenderHtmlReport(SampleSummary()), "comparisons");
  EXPECT_THAT(comparisons, HasSubstr(std::string(kNastyEscaped) + " − "));
  EXPECT_THAT(comparisons, HasSubstr("0.110 ± 0.006"));
  EXPECT_THAT(comparisons, HasSubstr(">18.33<"));
  EXPECT_THAT(comparisons, HasSubstr(">0.250<"));
  EXPECT_THAT(comparisons, HasSubstr("<td class=\"num\">8</td><td class=\"num\">3</td>"));
  // A line and two dots per participant.
  const std::string plot = comparisons.substr(comparisons.find("<svg"));
  EXPECT_EQ(Count(plot, "class=\"line\""), 3);
  EXPECT_EQ(Count(plot, "class=\"dot\""), 6);
  EXPECT_THAT(plot, HasSubstr("UTS02: 0.360 → 0.470"));
}

TEST(ReportTest, ParticipantsAtTheBestLayer) {
  const std::string participants = Section(RenderHtmlReport(SampleSummary()), "participants");
  EXPECT_THAT(participants, HasSubstr("best layer 2"));
  EXPECT_THAT(participants, HasSubstr("best layer 1"));
  EXPECT_EQ(Count(participants, "<td>UTS01</td>"), 2);
  EXPECT_THAT(participants, HasSubstr("mean raw r"));
  EXPECT_THAT(participants, HasSubstr("<td class=\"num\">0.120</td>"));
}

TEST(ReportTest, NamesAreEscaped) {
  const std::string html = RenderHtmlReport(SampleSummary());
  EXPECT_THAT(html, Not(HasSubstr(kNastyName)));
  EXPECT_GE(Count(html, kNastyEscaped), 8);  // legends, tables, tooltips, headings
  v1::EvaluationSummary s = SampleSummary();
  s.set_name("</title><script>alert(1)</script>");
  s.mutable_models(0)->mutable_layers(2)->mutable_rois(0)->set_roi("A<C");
  s.set_participants(0, "x'y");
  const std::string nasty = RenderHtmlReport(s);
  EXPECT_THAT(nasty, Not(HasSubstr("<script")));
  EXPECT_THAT(nasty, HasSubstr("A&lt;C"));
  EXPECT_THAT(nasty, Not(HasSubstr("A<C")));
  EXPECT_THAT(nasty, HasSubstr("x&#39;y"));
}

TEST(ReportTest, SelfContained) {
  const std::string html = RenderHtmlReport(SampleSummary());
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("http")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  EXPECT_THAT(html, Not(HasSubstr("url(")));
  EXPECT_FALSE(std::regex_search(html, std::regex(R"(\son[a-z]+=)")));  // no onload=, onclick=
}

TEST(ReportTest, NaNShowsAsDash) {
  const std::string html = RenderHtmlReport(SampleSummary());
  EXPECT_FALSE(std::regex_search(html, std::regex(R"(\b(nan|inf)\b)", std::regex::icase)));
  // UTS03's IFG under model 1, and model 1's IFG drop.
  const std::string participants = Section(html, "participants");
  const std::string uts03 = participants.substr(participants.rfind("<td>UTS03</td>"));
  EXPECT_THAT(uts03.substr(0, uts03.find("</tr>")), HasSubstr("<td class=\"num\">–</td>"));
  const std::string removal = Section(html, "removal");
  EXPECT_THAT(removal.substr(removal.find(kNastyEscaped)), HasSubstr("<td class=\"num\">–</td>"));

  // A NaN score at the best layer: no bar, a "–" in its place and in the table.
  v1::EvaluationSummary s = SampleSummary();
  s.mutable_models(1)->mutable_layers(1)->mutable_rois(1)->mutable_score()->set_mean(kNaN);
  s.mutable_models(1)->mutable_layers(1)->mutable_rois(1)->mutable_score()->set_sem(kNaN);
  s.set_seconds(kNaN);
  s.mutable_models(0)->mutable_layers(2)->mutable_participants(0)->set_mean_r(kNaN);
  s.mutable_comparisons(1)->set_t(kNaN);
  s.mutable_comparisons(1)->set_p_value(std::numeric_limits<double>::infinity());
  const std::string nan_html = RenderHtmlReport(s);
  const std::string roi = Section(nan_html, "roi");
  EXPECT_EQ(Bars(roi).size(), 5u);
  EXPECT_EQ(Count(roi, "class=\"missing\""), 1);
  EXPECT_THAT(roi, HasSubstr("<td class=\"num\">–</td>"));
  EXPECT_THAT(nan_html, HasSubstr("<th>Time taken</th><td>–</td>"));
  const std::string participants_nan = Section(nan_html, "participants");
  const std::string uts01 = participants_nan.substr(participants_nan.find("<td>UTS01</td>"));
  EXPECT_THAT(uts01, HasSubstr("<td class=\"num\">–</td></tr>"));  // its mean raw r, the last column
  EXPECT_THAT(Section(nan_html, "comparisons"),
              HasSubstr("<td class=\"num\">–</td><td class=\"num\">–</td>"));  // t, p
  EXPECT_FALSE(std::regex_search(nan_html, std::regex(R"(\b(nan|inf)\b)", std::regex::icase)));
}

TEST(ReportTest, MissingSectionsSaySoInsteadOfDrawingEmptyCharts) {
  v1::EvaluationSummary s = SampleSummary();
  for (v1::ModelScores& m : *s.mutable_models()) {
    m.clear_sweep();
    m.clear_removal();
  }
  s.clear_comparisons();
  const std::string html = RenderHtmlReport(s);
  EXPECT_THAT(Section(html, "efficiency"), HasSubstr("No model has data-efficiency sweep points"));
  EXPECT_THAT(Section(html, "removal"), HasSubstr("No feature-removal control was run."));
  EXPECT_THAT(Section(html, "comparisons"), HasSubstr("No paired comparisons"));
  for (const std::string id : {"efficiency", "removal", "comparisons"}) {
    EXPECT_EQ(Count(Section(html, id), "<svg"), 0) << id;
    EXPECT_EQ(Count(Section(html, id), "<table"), 0) << id;
  }
  EXPECT_EQ(Count(html, "<svg"), 4);  // ROI bars and the three layer curves remain
}

TEST(ReportTest, EmptySummaryStillRenders) {
  const std::string html = RenderHtmlReport(v1::EvaluationSummary());
  EXPECT_EQ(Count(html, "<svg"), 0);
  EXPECT_THAT(html, HasSubstr("This evaluation has no models."));
  EXPECT_THAT(Section(html, "roi"), HasSubstr("No model has ROI scores"));
  EXPECT_THAT(Section(html, "layers"), HasSubstr("No per-layer scores"));
  EXPECT_THAT(Section(html, "participants"), HasSubstr("No per-participant scores."));
  EXPECT_FALSE(std::regex_search(html, std::regex(R"(\b(nan|inf)\b)", std::regex::icase)));
}

TEST(ReportTest, OneModelOneLayerOneRoi) {
  v1::EvaluationSummary s;
  s.set_score("r");
  v1::ModelScores* m = s.add_models();
  m->set_name("only");
  v1::LayerScores* l = m->add_layers();
  l->set_layer(0);
  AddRoi(l->mutable_rois(), "all", 0.2, 0, 1);
  const std::string html = RenderHtmlReport(s);
  EXPECT_EQ(Bars(Section(html, "roi")).size(), 1u);
  EXPECT_EQ(Count(Section(html, "layers"), "<svg"), 1);
  EXPECT_EQ(Count(Section(html, "roi"), "class=\"sem\""), 0);  // SEM 0: no error bar
  EXPECT_THAT(Section(html, "roi"), HasSubstr("no noise ceiling is known"));
}

}  // namespace
}  // namespace braintune::eval

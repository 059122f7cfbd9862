// Reading and checking the braintune dataset format v1 (design.md section 5,
// docs/dataset-format.md).
//
// ReadDataset, ValidateDataset and SummarizeDataset all run the same walk over the file
// (Walk* below) with a Checker (hdf5_checker.h) that either stops at the first problem (reading)
// or collects every problem (validating), so the reader and the validator cannot disagree on
// what is valid. This file holds what the format requires; the checker, how to check HDF5.
#include "data/dataset.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/hdf5_checker.h"
#include "data/hdf5_util.h"

namespace braintune::data {
namespace {

using internal::Array;
using internal::Checker;
using internal::Element;
using internal::Handle;
using internal::OpenHdf5File;

std::string Quoted(const std::string& s) { return absl::StrCat("\"", s, "\""); }

// What one walk loads and keeps.
struct WalkOptions {
  ReadOptions read;
  // False for validation: values are read and checked, then dropped, so that memory holds one
  // array at a time.
  bool keep_values = true;
};

template <typename T>
void Drop(std::vector<T>* values) {
  std::vector<T>().swap(*values);
}

void WalkRoot(Checker& c, const std::string& file, Dataset* dataset) {
  std::optional<Handle> root = c.OpenGroup("/");
  if (!root) return;
  if (std::optional<std::string> format = c.StringAttr(root->get(), "/", "format")) {
    c.Expect(*format == "braintune-dataset", "/",
             absl::StrCat("attribute 'format': expected \"braintune-dataset\", got ",
                          Quoted(*format)));
  }
  if (std::optional<int64_t> version = c.IntAttr(root->get(), "/", "version")) {
    c.Expect(*version == 1, "/",
             absl::StrCat("attribute 'version': expected 1, got ", *version,
                          " (this build reads version 1 only)"));
  }
  if (std::optional<std::string> modality = c.StringAttr(root->get(), "/", "modality")) {
    dataset->modality = *modality;
    c.Expect(*modality == "fmri" || *modality == "meg", "/",
             absl::StrCat("attribute 'modality': expected \"fmri\" or \"meg\", got ",
                          Quoted(*modality)));
  }
  if (Checker::HasAttr(root->get(), "name")) {
    dataset->name = c.StringAttr(root->get(), "/", "name").value_or("");
  } else {
    dataset->name = std::filesystem::path(file).stem().string();
  }
}

// /stimuli/<story>/words/class: one integer category in [0, 2^31) per word.
void WalkWordClasses(Checker& c, const std::string& path, size_t n_words, std::vector<int32_t>* out) {
  std::optional<Array> a = c.OpenArray(path, Element::kInteger, 1);
  if (!a || !c.Expect(a->dims[0] == static_cast<hsize_t>(n_words), path,
                      absl::StrCat("one class per word expected: ", a->dims[0], " values for ", n_words, " words"))) {
    return;
  }
  std::vector<int64_t> values;
  if (!c.ReadIntegers(*a, path, &values)) return;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!c.Expect(values[i] >= 0 && values[i] <= INT32_MAX, path,
                  absl::StrCat("class ", values[i], " of word ", i, " is out of range [0, 2^31)"))) {
      return;
    }
  }
  out->assign(values.begin(), values.end());
}

// /stimuli/<story>/words or /phonemes: three parallel 1-D arrays.
void WalkIntervals(Checker& c, const std::string& path, std::vector<Interval>* out) {
  if (!c.OpenGroup(path)) return;
  std::optional<Array> onset = c.OpenArray(path + "/onset", Element::kFloat, 1);
  std::optional<Array> offset = c.OpenArray(path + "/offset", Element::kFloat, 1);
  std::optional<Array> text = c.OpenArray(path + "/text", Element::kString, 1);
  if (!onset || !offset || !text) return;
  if (!c.Expect(onset->dims[0] == offset->dims[0] && onset->dims[0] == text->dims[0], path,
                absl::StrCat("onset, offset and text must have the same length, got ",
                             onset->dims[0], ", ", offset->dims[0], " and ", text->dims[0]))) {
    return;
  }
  std::vector<double> onsets, offsets;
  std::vector<std::string> texts;
  if (!c.ReadFinite(*onset, path + "/onset", &onsets) ||
      !c.ReadFinite(*offset, path + "/offset", &offsets) ||
      !c.ReadStrings(*text, path + "/text", &texts)) {
    return;
  }
  // One problem per kind: a systematic error (onsets and offsets swapped) would otherwise
  // bury the rest of the report.
  bool ordered = true, sorted = true;
  for (size_t i = 0; i < onsets.size(); ++i) {
    if (ordered && offsets[i] < onsets[i]) {
      ordered = false;
      c.Report(path, absl::StrCat("interval ", i, " ends (", offsets[i], " s) before it starts (",
                                  onsets[i], " s)"));
    }
    if (sorted && i > 0 && onsets[i] < onsets[i - 1]) {
      sorted = false;
      c.Report(path, absl::StrCat("not sorted by onset: interval ", i, " starts at ", onsets[i],
                                  " s, before interval ", i - 1, " (", onsets[i - 1], " s)"));
    }
  }
  if (!ordered || !sorted) return;
  out->reserve(onsets.size());
  for (size_t i = 0; i < onsets.size(); ++i) {
    out->push_back({onsets[i], offsets[i], std::move(texts[i])});
  }
}

constexpr char kTimesSuffix[] = "_times";

bool IsTimesOf(const std::string& name, const std::vector<std::string>& siblings) {
  const size_t n = sizeof(kTimesSuffix) - 1;
  return name.size() > n && name.compare(name.size() - n, n, kTimesSuffix) == 0 &&
         std::binary_search(siblings.begin(), siblings.end(), name.substr(0, name.size() - n));
}

// /stimuli/<story>/features/<name> and <name>_times.
std::optional<Feature> WalkFeature(Checker& c, const WalkOptions& o, const std::string& path) {
  std::optional<Array> values = c.OpenArray(path, Element::kFloat32, 2);
  const std::string times_path = path + kTimesSuffix;
  std::optional<Array> times;
  if (c.Expect(c.Exists(times_path), times_path, "missing dataset (the frame times of " + path + ")")) {
    times = c.OpenArray(times_path, Element::kFloat, 1);
  }
  if (!values || !times) return std::nullopt;
  Feature f;
  f.n_frames = static_cast<int64_t>(values->dims[0]);
  f.dim = static_cast<int64_t>(values->dims[1]);
  if (!c.Expect(f.n_frames > 0 && f.dim > 0, path,
                absl::StrCat("expected at least one frame and one dimension, got [", f.n_frames,
                             ", ", f.dim, "]")) ||
      !c.Expect(times->dims[0] == values->dims[0], times_path,
                absl::StrCat("expected ", f.n_frames, " times (one per frame of ", path,
                             "), got ", times->dims[0]))) {
    return std::nullopt;
  }
  if (!o.read.load_features) return f;
  if (!c.ReadFinite(*values, path, &f.values) || !c.ReadFinite(*times, times_path, &f.times)) {
    return std::nullopt;
  }
  for (size_t i = 1; i < f.times.size(); ++i) {
    if (!c.Expect(f.times[i] > f.times[i - 1], times_path,
                  absl::StrCat("not strictly increasing: times[", i, "] = ", f.times[i],
                               " after times[", i - 1, "] = ", f.times[i - 1]))) {
      return std::nullopt;
    }
  }
  if (!o.keep_values) {
    Drop(&f.values);
    Drop(&f.times);
  }
  return f;
}

std::optional<Story> WalkStory(Checker& c, const WalkOptions& o, const std::string& name) {
  const std::string path = "/stimuli/" + name;
  if (!c.OpenGroup(path)) return std::nullopt;
  Story story;
  story.name = name;
  bool ok = true;
  const std::string audio_path = path + "/audio";
  if (std::optional<Array> audio = c.OpenArray(audio_path, Element::kFloat32, 1)) {
    story.n_samples = static_cast<int64_t>(audio->dims[0]);
    ok &= c.Expect(story.n_samples > 0, audio_path, "empty audio");
    std::optional<double> rate = c.NumberAttr(audio->ds.get(), audio_path, "sample_rate", true);
    ok &= rate.has_value();
    story.sample_rate = rate.value_or(0);
    if (ok && o.read.load_audio) {
      ok &= c.ReadFinite(*audio, audio_path, &story.audio);
      if (!o.keep_values) Drop(&story.audio);
    }
  } else {
    ok = false;
  }
  for (const auto& [tier, out] : {std::pair{"/words", &story.words},
                                  std::pair{"/phonemes", &story.phonemes}}) {
    if (c.Exists(path + tier)) WalkIntervals(c, path + tier, out);
  }
  // Checked against the words only when they are valid (their own problems are reported).
  if (!story.words.empty() && c.Exists(path + "/words/class")) {
    WalkWordClasses(c, path + "/words/class", story.words.size(), &story.word_classes);
  }
  const std::string features_path = path + "/features";
  if (c.Exists(features_path)) {
    if (std::optional<Handle> group = c.OpenGroup(features_path)) {
      const std::vector<std::string> names = c.Children(group->get(), features_path).value_or(
          std::vector<std::string>{});
      for (const std::string& feature : names) {
        if (IsTimesOf(feature, names)) continue;
        if (std::optional<Feature> f = WalkFeature(c, o, features_path + "/" + feature)) {
          story.features.emplace(feature, std::move(*f));
        }
      }
    }
  }
  // Runs need a story's duration; one with broken audio has none.
  if (!ok) return std::nullopt;
  return story;
}

// `names` gets every story under /stimuli, broken ones too, so that their runs are not also
// reported as naming a missing story.
void WalkStimuli(Checker& c, const WalkOptions& o, Dataset* dataset, std::set<std::string>* names) {
  std::optional<Handle> stimuli = c.OpenGroup("/stimuli");
  if (!stimuli) return;
  std::optional<std::vector<std::string>> children = c.Children(stimuli->get(), "/stimuli");
  if (!children) return;
  c.Expect(!children->empty(), "/stimuli", "no stories");
  for (const std::string& name : *children) {
    names->insert(name);
    if (std::optional<Story> story = WalkStory(c, o, name)) {
      dataset->stories.push_back(std::move(*story));
    }
  }
}

// /participants/<pid>/runs/<story>. `n_targets` is 0 when the participant's own is broken.
std::optional<Run> WalkRun(Checker& c, const Dataset& dataset,
                           const std::set<std::string>& story_names, const std::string& pid,
                           int64_t n_targets, const std::string& story, bool load, bool keep) {
  const std::string run_path = "/participants/" + pid + "/runs/" + story;
  if (!c.OpenGroup(run_path)) return std::nullopt;
  c.Expect(story_names.count(story) > 0, run_path,
           absl::StrCat("story '", story, "' is not under /stimuli"));
  const std::string path = run_path + "/responses";
  std::optional<Array> ds = c.OpenArray(path, Element::kFloat32, 2);
  if (!ds) return std::nullopt;
  Run run;
  run.story = story;
  run.n_times = static_cast<int64_t>(ds->dims[0]);
  run.n_targets = static_cast<int64_t>(ds->dims[1]);
  bool ok = c.Expect(n_targets <= 0 || run.n_targets == n_targets, path,
                     absl::StrCat("expected ", n_targets,
                                  " targets (attribute 'n_targets' of /participants/", pid,
                                  "), got ", run.n_targets));
  ok &= c.Expect(run.n_times > 0, path, "no time points");
  // Plain values rather than optionals: GCC 12 warns falsely about optionals read here.
  const hid_t id = ds->ds.get();
  const bool has_tr = Checker::HasAttr(id, "tr");
  const bool has_rate = Checker::HasAttr(id, "sample_rate");
  const double tr = has_tr ? c.NumberAttr(id, path, "tr", true).value_or(0) : 0;
  const double rate = has_rate ? c.NumberAttr(id, path, "sample_rate", true).value_or(0) : 0;
  if (!has_tr && !has_rate) c.Report(path, "missing attribute 'tr' (or 'sample_rate')");
  if (tr > 0 && rate > 0) {
    ok &= c.Expect(std::abs(tr * rate - 1) < 1e-6, path,
                   absl::StrCat("attributes 'tr' (", tr, ") and 'sample_rate' (", rate,
                                ") disagree: tr must be 1 / sample_rate"));
  }
  if (tr <= 0 && rate <= 0) return std::nullopt;
  run.tr = tr > 0 ? tr : 1.0 / rate;
  run.sample_rate = 1.0 / run.tr;
  if (Checker::HasAttr(id, "t0")) {
    std::optional<double> t0 = c.NumberAttr(id, path, "t0");
    ok &= t0.has_value();
    run.t0 = t0.value_or(0);
  }
  if (const Story* s = dataset.FindStory(story); s != nullptr && ok) {
    // One sample of slack: scanners keep acquiring while the last volume's response unfolds.
    const double end = run.t0 + static_cast<double>(run.n_times) * run.tr;
    ok &= c.Expect(end <= s->seconds() + run.tr, path,
                   absl::StrFormat("responses last until %.3f s (t0 + n_times * tr) but the "
                                   "audio of /stimuli/%s lasts %.3f s",
                                   end, story, s->seconds()));
  }
  if (ok && load) {
    ok &= c.ReadFinite(*ds, path, &run.responses);
    if (!keep) Drop(&run.responses);
  }
  if (!ok) return std::nullopt;
  return run;
}

// /participants/<pid>/repeats/<story>: presentations of a story the participant has a run of.
std::optional<Repeats> WalkRepeats(Checker& c, const Participant& p, const std::string& story,
                                   bool load, bool keep) {
  const std::string path = "/participants/" + p.id + "/repeats/" + story;
  std::optional<Array> ds = c.OpenArray(path, Element::kFloat32, 3);
  if (!ds) return std::nullopt;
  Repeats r;
  r.n_repeats = static_cast<int64_t>(ds->dims[0]);
  r.n_times = static_cast<int64_t>(ds->dims[1]);
  r.n_targets = static_cast<int64_t>(ds->dims[2]);
  const std::string run_path = "/participants/" + p.id + "/runs/" + story;
  const auto run = std::find_if(p.runs.begin(), p.runs.end(),
                                [&](const Run& candidate) { return candidate.story == story; });
  bool ok = c.Expect(r.n_repeats >= 2, path,
                     absl::StrCat("expected at least 2 repeats (axis 0), got ", r.n_repeats));
  ok &= c.Expect(p.n_targets <= 0 || r.n_targets == p.n_targets, path,
                 absl::StrCat("expected ", p.n_targets, " targets (axis 2, attribute 'n_targets'",
                              " of /participants/", p.id, "), got ", r.n_targets));
  if (c.Exists(run_path)) {
    // A broken run was reported already; without its shape there is nothing to compare.
    if (run != p.runs.end()) {
      ok &= c.Expect(r.n_times == run->n_times, path,
                     absl::StrCat("expected ", run->n_times, " time points (axis 1, as ",
                                  run_path, "/responses), got ", r.n_times));
    }
  } else {
    c.Report(path, "no run " + run_path + " (repeats take their timing from the story's run)");
    ok = false;
  }
  if (ok && load) {
    ok &= c.ReadFinite(*ds, path, &r.values);
    if (!keep) Drop(&r.values);
  }
  if (!ok) return std::nullopt;
  return r;
}

// /participants/<pid>/rois/<name>: distinct target indices in [0, n_targets).
std::optional<std::vector<int32_t>> WalkRoi(Checker& c, const Participant& p,
                                            const std::string& name) {
  const std::string path = "/participants/" + p.id + "/rois/" + name;
  std::optional<Array> ds = c.OpenArray(path, Element::kInteger, 1);
  std::vector<int64_t> indices;
  if (!ds || !c.ReadIntegers(*ds, path, &indices)) return std::nullopt;
  if (!c.Expect(!indices.empty(), path, "empty ROI")) return std::nullopt;
  std::vector<int32_t> roi;
  std::set<int64_t> seen;
  for (size_t i = 0; i < indices.size(); ++i) {
    const int64_t v = indices[i];
    if (p.n_targets > 0 && !c.Expect(v >= 0 && v < p.n_targets, path,
                                     absl::StrCat("the index at [", i, "] is outside [0, ",
                                                  p.n_targets, ") (attribute 'n_targets' of "
                                                  "/participants/", p.id, ")"))) {
      return std::nullopt;
    }
    if (!c.Expect(seen.insert(v).second, path,
                  absl::StrCat("the index at [", i, "] repeats an earlier one"))) {
      return std::nullopt;
    }
    roi.push_back(static_cast<int32_t>(v));
  }
  return roi;
}

// Calls `each` for every child of the optional group `path`.
template <typename F>
void ForEachChild(Checker& c, const std::string& path, F each) {
  if (!c.Exists(path)) return;
  std::optional<Handle> group = c.OpenGroup(path);
  if (!group) return;
  for (const std::string& name : c.Children(group->get(), path).value_or(
           std::vector<std::string>{})) {
    each(name);
  }
}

// Participants that share a space share one head, so they must agree on its width:
// space -> (n_targets, first participant).
using SpaceTargets = std::map<std::string, std::pair<int64_t, std::string>>;

std::optional<Participant> WalkParticipant(Checker& c, const WalkOptions& o,
                                           const std::set<std::string>& story_names,
                                           const Dataset& dataset, const std::string& id,
                                           SpaceTargets* spaces) {
  const std::string path = "/participants/" + id;
  std::optional<Handle> group = c.OpenGroup(path);
  if (!group) return std::nullopt;
  Participant p;
  p.id = id;
  std::optional<std::string> space = c.StringAttr(group->get(), path, "space");
  p.space = space.value_or("");
  // 0 when missing or broken: checks against it are then skipped.
  const std::optional<int64_t> n_targets = c.IntAttr(group->get(), path, "n_targets");
  if (n_targets && c.Expect(*n_targets > 0, path,
                            absl::StrCat("attribute 'n_targets': expected > 0, got ",
                                         *n_targets))) {
    p.n_targets = *n_targets;
  }
  bool ok = space.has_value() && p.n_targets > 0;
  if (ok) {
    const auto [it, inserted] = spaces->emplace(p.space, std::make_pair(p.n_targets, id));
    ok &= c.Expect(inserted || it->second.first == p.n_targets, path,
                   absl::StrCat("n_targets is ", p.n_targets, " but space '", p.space, "' has ",
                                it->second.first, " targets in /participants/",
                                it->second.second));
  }
  const auto& wanted = o.read.load_responses_of;
  const bool load = wanted.empty() ? o.read.load_all_responses
                                   : std::find(wanted.begin(), wanted.end(), id) != wanted.end();

  const std::string runs_path = path + "/runs";
  if (std::optional<Handle> runs = c.OpenGroup(runs_path)) {
    const std::optional<std::vector<std::string>> stories = c.Children(runs->get(), runs_path);
    ok &= stories.has_value() && c.Expect(!stories->empty(), runs_path, "participant has no runs");
    for (const std::string& story : stories.value_or(std::vector<std::string>{})) {
      std::optional<Run> run =
          WalkRun(c, dataset, story_names, id, p.n_targets, story, load, o.keep_values);
      ok &= run.has_value();
      if (run) p.runs.push_back(std::move(*run));
    }
  } else {
    ok = false;
  }

  const std::string nc_path = path + "/noise_ceiling";
  if (c.Exists(nc_path)) {
    std::optional<Array> nc = c.OpenArray(nc_path, Element::kFloat32, 1);
    ok &= nc && c.Expect(p.n_targets <= 0 || static_cast<int64_t>(nc->dims[0]) == p.n_targets,
                         nc_path,
                         absl::StrCat("expected ", p.n_targets, " values (n_targets), got ",
                                      nc->dims[0])) &&
          c.ReadFinite(*nc, nc_path, &p.noise_ceiling);
  }
  ForEachChild(c, path + "/repeats", [&](const std::string& story) {
    std::optional<Repeats> r = WalkRepeats(c, p, story, load, o.keep_values);
    ok &= r.has_value();
    if (r) p.repeats.emplace(story, std::move(*r));
  });
  ForEachChild(c, path + "/rois", [&](const std::string& name) {
    std::optional<std::vector<int32_t>> roi = WalkRoi(c, p, name);
    ok &= roi.has_value();
    if (roi) p.rois.emplace(name, std::move(*roi));
  });
  if (!ok) return std::nullopt;
  return p;
}

void WalkParticipants(Checker& c, const WalkOptions& o, const std::set<std::string>& story_names,
                      Dataset* dataset) {
  std::optional<Handle> participants = c.OpenGroup("/participants");
  if (!participants) return;
  std::optional<std::vector<std::string>> ids = c.Children(participants->get(), "/participants");
  if (!ids) return;
  c.Expect(!ids->empty(), "/participants", "no participants");
  SpaceTargets spaces;
  for (const std::string& id : *ids) {
    if (std::optional<Participant> p = WalkParticipant(c, o, story_names, *dataset, id, &spaces)) {
      dataset->participants.push_back(std::move(*p));
    }
  }
}

// The walk shared by every entry point; returns the problems found (all, or the first).
std::vector<Problem> Walk(const std::string& path, hid_t fid, const WalkOptions& options,
                          bool stop_at_first, Dataset* dataset) {
  Checker checker(fid, stop_at_first);
  dataset->path = path;
  WalkRoot(checker, path, dataset);
  std::set<std::string> story_names;
  WalkStimuli(checker, options, dataset, &story_names);
  WalkParticipants(checker, options, story_names, dataset);
  return checker.TakeProblems();
}

}  // namespace

const Story* Dataset::FindStory(const std::string& story_name) const {
  auto it = std::find_if(stories.begin(), stories.end(),
                         [&](const Story& s) { return s.name == story_name; });
  return it == stories.end() ? nullptr : &*it;
}

const Participant* Dataset::FindParticipant(const std::string& id) const {
  auto it = std::find_if(participants.begin(), participants.end(),
                         [&](const Participant& p) { return p.id == id; });
  return it == participants.end() ? nullptr : &*it;
}

std::string FormatProblem(const std::string& file, const Problem& problem) {
  return problem.path.empty() ? absl::StrCat(file, ": ", problem.message)
                              : absl::StrCat(file, ": ", problem.path, ": ", problem.message);
}

absl::StatusOr<Dataset> ReadDataset(const std::string& path, const ReadOptions& options) {
  absl::StatusOr<Handle> file = OpenHdf5File(path);
  if (!file.ok()) {
    return absl::Status(file.status().code(), absl::StrCat(path, ": ", file.status().message()));
  }
  Dataset dataset;
  const std::vector<Problem> problems =
      Walk(path, file->get(), {options, /*keep_values=*/true}, /*stop_at_first=*/true, &dataset);
  if (!problems.empty()) return absl::InvalidArgumentError(FormatProblem(path, problems[0]));
  for (const std::string& wanted : options.load_responses_of) {
    if (dataset.FindParticipant(wanted) == nullptr) {
      return absl::NotFoundError(
          absl::StrCat(path, ": /participants/", wanted,
                       ": no such participant (named in ReadOptions::load_responses_of)"));
    }
  }
  return dataset;
}

std::vector<Problem> ValidateDataset(const std::string& path) {
  absl::StatusOr<Handle> file = OpenHdf5File(path);
  if (!file.ok()) return {{"", std::string(file.status().message())}};
  Dataset dataset;
  return Walk(path, file->get(), {ReadOptions{}, /*keep_values=*/false}, /*stop_at_first=*/false,
              &dataset);
}

absl::StatusOr<DatasetSummary> SummarizeDataset(const std::string& path) {
  ReadOptions metadata;
  metadata.load_all_responses = false;
  metadata.load_audio = false;
  metadata.load_features = false;
  absl::StatusOr<Dataset> dataset = ReadDataset(path, metadata);
  if (!dataset.ok()) return dataset.status();
  DatasetSummary summary;
  summary.path = dataset->path;
  summary.name = dataset->name;
  summary.modality = dataset->modality;
  summary.stories = static_cast<int>(dataset->stories.size());
  std::set<std::string> features;
  double seconds = 0;
  std::map<std::string, size_t> story_index;
  for (const Story& s : dataset->stories) {
    seconds += s.seconds();
    summary.stories_with_words += !s.words.empty();
    summary.stories_with_phonemes += !s.phonemes.empty();
    StorySummary& ss = summary.story_list.emplace_back();
    ss.name = s.name;
    ss.seconds = s.seconds();
    ss.sample_rate = s.sample_rate;
    ss.words = static_cast<int64_t>(s.words.size());
    ss.phonemes = static_cast<int64_t>(s.phonemes.size());
    for (const auto& [name, feature] : s.features) {
      features.insert(name);
      ss.features.push_back(name);
    }
  }
  std::sort(summary.story_list.begin(), summary.story_list.end(),
            [](const StorySummary& a, const StorySummary& b) { return a.name < b.name; });
  for (size_t i = 0; i < summary.story_list.size(); ++i) story_index[summary.story_list[i].name] = i;
  summary.stimulus_hours = seconds / 3600;
  summary.feature_names.assign(features.begin(), features.end());
  for (const Participant& p : dataset->participants) {
    ParticipantSummary ps;
    ps.id = p.id;
    ps.space = p.space;
    ps.n_targets = p.n_targets;
    ps.stories = static_cast<int>(p.runs.size());
    for (const Run& r : p.runs) {
      ps.samples += r.n_times;
      if (auto it = story_index.find(r.story); it != story_index.end()) summary.story_list[it->second].heard_by.push_back(p.id);
    }
    ps.has_noise_ceiling = !p.noise_ceiling.empty();
    for (const auto& [story, repeats] : p.repeats) {
      ps.repeated_stories.push_back(story);
      if (auto it = story_index.find(story); it != story_index.end()) summary.story_list[it->second].repeated_by.push_back(p.id);
    }
    for (const auto& [name, roi] : p.rois) ps.rois.push_back(name);
    summary.participants.push_back(std::move(ps));
  }
  return summary;
}

}  // namespace braintune::data

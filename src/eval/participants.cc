#include "eval/participants.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "eval/features.h"
#include "eval/metrics.h"
#include "train/checkpoints.h"
#include "train/tuning_record.h"
#include "train/plan.h"

namespace braintune::eval {
namespace {

using Tensor = torch::Tensor;

// The run's responses, z-scored per target over the whole run, trimmed. [rows, targets].
Tensor Responses(const Participants& j, const data::Run& run) {
  Tensor y = torch::from_blob(const_cast<float*>(run.responses.data()), {run.n_times, run.n_targets})
                 .to(torch::kFloat64);
  const Trim t = j.RunTrim(run);
  return ZScoreColumns(y).narrow(0, t.begin, t.rows());
}

// From the test stories' repeats where there are any: when the run is the mean of its
// repeats (as LeBel's data: equal within 1e-4), the ceiling of the mean of N presentations
// from the repeats; otherwise the run is one more presentation and the single-presentation
// ceiling comes from all of them. Which of the two was taken is in the summary's
// ceiling_source. Else the file's stored ceiling. Over the trimmed rows of the test stories
// with repeats, each presentation demeaned per story (story means are not signal), stories
// with as many presentations as the first.
void SetCeiling(const Participants& j, OwnedParticipant* o) {
  std::vector<Tensor> stacks;
  int averaged = 1;
  for (const data::Run* run : o->test_runs) {
    auto it = o->meta->repeats.find(run->story);
    if (it == o->meta->repeats.end() || it->second.n_repeats < 1) continue;
    const data::Repeats& rep = it->second;
    Tensor r = torch::from_blob(const_cast<float*>(rep.values.data()), {rep.n_repeats, rep.n_times, rep.n_targets})
                   .to(torch::kFloat64);
    Tensor y = torch::from_blob(const_cast<float*>(run->responses.data()), {run->n_times, run->n_targets})
                   .to(torch::kFloat64);
    const bool run_is_mean = rep.n_repeats > 1 && torch::allclose(r.mean(0), y, 1e-4, 1e-4);
    Tensor all = run_is_mean ? r : torch::cat({y.unsqueeze(0), r});
    if (!stacks.empty() && all.size(0) != stacks[0].size(0)) continue;  // same presentations only
    if (run_is_mean) averaged = static_cast<int>(rep.n_repeats);
    const Trim t = j.RunTrim(*run);
    Tensor rows = all.narrow(1, t.begin, t.rows());
    stacks.push_back(rows - rows.mean(1, /*keepdim=*/true));
  }
  if (!stacks.empty()) {
    o->ceiling = NoiseCeiling(torch::cat(stacks, 1), averaged);
    o->ceiling_source = averaged > 1 ? "repeats-mean" : "repeats";
    o->ceiling_presentations = averaged > 1 ? averaged : stacks[0].size(0);
  } else if (!o->meta->noise_ceiling.empty()) {
    o->ceiling = torch::tensor(o->meta->noise_ceiling, torch::kFloat32).to(torch::kFloat64);
    o->ceiling_source = "stored";
  }
}

// What a checkpoint records of the job that tuned it (train/checkpoints.h), or an export of its
// lineage (train/tuning_record.h): whom it was tuned on and the stories it held out. `known`
// (participants) and `stories_known` are false when an older braintune wrote it.
struct TuningRecord {
  std::string source;  // the checkpoint, or the export's record file
  bool known = false;
  bool stories_known = false;
  std::vector<std::string> participants, test_stories;
};

absl::StatusOr<TuningRecord> ReadCheckpointRecord(const std::string& path) {
  if (!std::ifstream(path).good()) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open checkpoint"));
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a readable checkpoint (", e.what_without_backtrace(), ")"));
  }
  TuningRecord r;
  r.source = path;
  c10::IValue participants, tests;
  r.known = archive.try_read(train::kTunedParticipantsKey, participants) && participants.isString();
  if (r.known) r.participants = absl::StrSplit(participants.toStringRef(), '\n', absl::SkipEmpty());
  r.stories_known = archive.try_read(train::kTunedTestStoriesKey, tests) && tests.isString();
  if (r.stories_known) r.test_stories = absl::StrSplit(tests.toStringRef(), '\n', absl::SkipEmpty());
  return r;
}

// The record beside a Hugging Face directory braintune exported, if there is one (a model from
// elsewhere has none: nothing of this dataset is known to have tuned it).
absl::Status AddExportRecord(const std::string& dir, std::vector<TuningRecord>* records) {
  ASSIGN_OR_RETURN(std::optional<v1::TuningRecord> exported, train::ReadTuningRecord(dir));
  if (!exported) return absl::OkStatus();
  TuningRecord r;
  r.source = absl::StrCat(dir, "/", train::kTuningRecordFile);
  r.known = r.stories_known = true;
  r.participants.assign(exported->participants().begin(), exported->participants().end());
  r.test_stories.assign(exported->test_stories().begin(), exported->test_stories().end());
  records->push_back(std::move(r));
  return absl::OkStatus();
}

// The records of the evaluation's models (kind evaluate only): their checkpoints', and those of
// the exports they are (a text model's directory; model.pretrained, which every speech model
// starts from or is).
absl::StatusOr<std::vector<TuningRecord>> TuningRecords(const config::JobSpec& spec) {
  std::vector<TuningRecord> records;
  if (spec.kind != "evaluate") return records;
  bool speech = false;
  for (const config::EvalModelSpec& m : spec.evaluation.models) {
    speech = speech || (m.pretrained.empty() && m.features.empty());
    if (!m.pretrained.empty()) RETURN_IF_ERROR(AddExportRecord(m.pretrained, &records));
    if (m.checkpoint.empty()) continue;
    ASSIGN_OR_RETURN(TuningRecord r, ReadCheckpointRecord(m.checkpoint));
    records.push_back(std::move(r));
  }
  if (speech && !spec.model.pretrained.empty()) RETURN_IF_ERROR(AddExportRecord(spec.model.pretrained, &records));
  return records;
}

// Of `candidates` (sorted), those evaluation.participants says to score (config/job_spec.h);
// sets j->split and j->tuned. Participants are matched by id.
absl::StatusOr<std::vector<std::string>> ScoredParticipants(const config::JobSpec& spec, const std::string& source,
                                                            const std::vector<std::string>& candidates,
                                                            const std::vector<TuningRecord>& records,
                                                            Participants* j) {
  const std::string& mode = spec.evaluation.participants;
  j->split = "all";
  if (spec.kind != "evaluate" || mode == "all") return candidates;
  std::set<std::string> tuned;
  std::string unrecorded;  // a checkpoint without the record
  for (const TuningRecord& r : records) {
    if (!r.known) {
      if (mode == "held_out") {
        return absl::FailedPreconditionError(absl::StrCat(
            source, ": evaluation.participants: held_out: ", r.source,
            " does not record the participants it was tuned on (an older braintune wrote it); retrain it, or score"
            " all"));
      }
      unrecorded = r.source;
      continue;
    }
    tuned.insert(r.participants.begin(), r.participants.end());
  }
  j->tuned.assign(tuned.begin(), tuned.end());
  std::vector<std::string> held;
  for (const std::string& id : candidates) {
    if (!tuned.count(id)) held.push_back(id);
  }
  if (!unrecorded.empty()) {
    j->split = absl::StrCat("all (", unrecorded, " does not record whom it was tuned on)");
    return candidates;
  }
  if (held.empty()) {
    if (mode == "held_out") {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": evaluation.participants: held_out: the models were tuned on every participant of ",
          spec.data.path, spec.data.participants.empty() ? "" : " in data.participants",
          "; hold some out when tuning (data.participants), or score all"));
    }
    j->split = "tuned (the models were tuned on every participant scored)";
    return candidates;
  }
  j->split = tuned.empty() ? "all (no model was tuned)" : "held-out";
  return held;
}

// data.participants (checked), or every participant of the file; sorted.
absl::StatusOr<std::vector<std::string>> Candidates(const config::JobSpec& spec, const std::string& source,
                                                    const data::Dataset& meta) {
  std::set<std::string> wanted(spec.data.participants.begin(), spec.data.participants.end());
  for (const std::string& id : wanted) {
    if (!meta.FindParticipant(id)) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": data.participants: '", id, "' is not in ", spec.data.path));
    }
  }
  std::vector<std::string> candidates;
  for (const auto& p : meta.participants) {
    if (wanted.empty() || wanted.count(p.id)) candidates.push_back(p.id);
  }
  return candidates;
}

// The participants to score into `j`; returns the ones rank `rank` owns.
std::vector<std::string> ListParticipants(const data::Dataset& meta, const std::vector<std::string>& scored, int rank,
                                          int ranks, Participants* j) {
  std::vector<std::string> mine;
  for (const auto& p : meta.participants) {
    if (std::find(scored.begin(), scored.end(), p.id) == scored.end()) continue;
    if (static_cast<int>(j->ids.size()) % ranks == rank) mine.push_back(p.id);
    j->ids.push_back(p.id);
    j->offsets.push_back(j->total_targets);
    j->total_targets += p.n_targets;
    j->spaces[p.space] = p.n_targets;
  }
  return mine;
}

// Test stories: the spec's; else those the checkpoints' tuning held out (they must agree); else
// the trainer's rule (train/plan.h) over `candidates`, so that evaluating a tuned model holds out
// what its training held out. Checked here, on every rank, before any work: every participant
// must have heard a test story (its score) and a training story (its fit).
absl::Status ChooseTestStories(const config::JobSpec& spec, const std::string& source, const data::Dataset& meta,
                               const std::vector<std::string>& candidates, const std::vector<TuningRecord>& records,
                               Participants* j) {
  j->test_stories = spec.data.test_stories;
  const TuningRecord* chose = nullptr;  // the record the test stories came from
  for (const TuningRecord& r : records) {
    if (!spec.data.test_stories.empty() || r.test_stories.empty()) continue;
    if (chose != nullptr && j->test_stories != r.test_stories) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": data.test_stories: the models held out different stories (", chose->source, ": ",
          absl::StrJoin(j->test_stories, ", "), "; ", r.source, ": ", absl::StrJoin(r.test_stories, ", "),
          "); choose the test stories"));
    }
    j->test_stories = r.test_stories;
    chose = &r;
  }
  if (j->test_stories.empty()) j->test_stories = {train::DefaultTestStory(meta, candidates)};
  for (const std::string& s : j->test_stories) {
    if (!meta.FindStory(s)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": data.test_stories: '", s, "' is not a story of ", spec.data.path));
    }
    // A story a tuning trained on (with any participant's responses) would score the tuned model
    // on what it learned and favour it over the others.
    for (const TuningRecord& r : records) {
      if (!r.stories_known || std::count(r.test_stories.begin(), r.test_stories.end(), s) > 0) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": data.test_stories: '", s, "' is a story the tuning of ", r.source, " trained on (",
          r.test_stories.empty() ? "its lineage held out none"
                                 : absl::StrCat("it held out ", absl::StrJoin(r.test_stories, ", ")),
          "); scored on it, the tuned model would be favoured: test on stories every tuning held out"));
    }
  }
  for (const std::string& id : j->ids) {
    bool train = false, test = false;
    for (const data::Run& run : meta.FindParticipant(id)->runs) (j->IsTest(run.story) ? test : train) = true;
    if (!test || !train) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.data.path, ": participant ", id, " heard no ", train ? "test" : "training", " story (test stories: ",
          absl::StrJoin(j->test_stories, ", "), "); choose data.test_stories or data.participants"));
    }
  }
  return absl::OkStatus();
}

// The responses of the participants in `mine`, and the ROIs and stories of all of them.
absl::Status TakeOwned(const config::JobSpec& spec, const std::vector<std::string>& mine, Participants* j) {
  for (const data::Participant& p : j->dataset.participants) {
    auto it = std::find(j->ids.begin(), j->ids.end(), p.id);
    if (it == j->ids.end()) continue;
    for (const auto& [name, indices] : p.rois) j->rois.insert(name);
    if (std::find(mine.begin(), mine.end(), p.id) == mine.end()) continue;
    OwnedParticipant o;
    o.meta = &p;
    o.index = static_cast<int>(it - j->ids.begin());
    std::vector<Tensor> train_y, test_y;
    for (const data::Run& run : p.runs) {
      if (j->RunTrim(run).rows() == 0) continue;
      const bool test = j->IsTest(run.story);
      (test ? o.test_runs : o.train_runs).push_back(&run);
      (test ? test_y : train_y).push_back(Responses(*j, run));
    }
    if (o.train_runs.empty() || o.test_runs.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.data.path, ": participant ", p.id, " has no ", o.train_runs.empty() ? "training" : "test",
          " story with samples left after trimming (test stories: ", absl::StrJoin(j->test_stories, ", "), ")"));
    }
    o.y_train = torch::cat(train_y);  // moved to the device per fit, not held there
    o.y_test = torch::cat(test_y);
    SetCeiling(*j, &o);
    j->owned.push_back(std::move(o));
  }
  for (const data::Story& s : j->dataset.stories) {
    for (const data::Participant& p : j->dataset.participants) {
      for (const data::Run& r : p.runs) {
        if (r.story == s.name && std::count(j->ids.begin(), j->ids.end(), p.id)) j->heard.insert(s.name);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool Participants::IsTest(const std::string& story) const {
  return std::find(test_stories.begin(), test_stories.end(), story) != test_stories.end();
}

Trim Participants::RunTrim(const data::Run& run) const { return {trim_start, run.n_times - trim_end}; }

const std::map<std::string, std::vector<int32_t>>& Participants::RoisOf(int p) const {
  return dataset.FindParticipant(ids[p])->rois;
}

absl::StatusOr<std::unique_ptr<const Participants>> LoadParticipants(const config::JobSpec& spec,
                                                                     const std::string& source, int rank, int ranks) {
  auto j = std::make_unique<Participants>();
  j->trim_start = spec.data.trim_start;
  j->trim_end = spec.data.trim_end;
  data::ReadOptions meta_only;
  meta_only.load_all_responses = false;
  meta_only.load_audio = false;
  meta_only.load_features = false;
  ASSIGN_OR_RETURN(data::Dataset meta, data::ReadDataset(spec.data.path, meta_only));
  ASSIGN_OR_RETURN(const std::vector<std::string> candidates, Candidates(spec, source, meta));
  ASSIGN_OR_RETURN(const std::vector<TuningRecord> records, TuningRecords(spec));
  ASSIGN_OR_RETURN(const std::vector<std::string> scored, ScoredParticipants(spec, source, candidates, records, j.get()));
  const std::vector<std::string> mine = ListParticipants(meta, scored, rank, ranks, j.get());
  if (j->ids.empty()) return absl::InvalidArgumentError(absl::StrCat(spec.data.path, ": no participants"));
  RETURN_IF_ERROR(ChooseTestStories(spec, source, meta, candidates, records, j.get()));
  data::ReadOptions ro;
  ro.load_all_responses = false;
  ro.load_responses_of = mine;
  ASSIGN_OR_RETURN(j->dataset, data::ReadDataset(spec.data.path, ro));
  RETURN_IF_ERROR(TakeOwned(spec, mine, j.get()));
  // The controls' confounds and erasure concept exist for every story (word and phoneme timings
  // or stored features), before hours of feature extraction.
  for (const std::string& story : j->heard) {
    for (const std::string& name : spec.evaluation.confounds) {
      absl::Status s = StimulusFeature(*j->dataset.FindStory(story), name).status();
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(spec.data.path, ": evaluation.confounds: ", s.message()));
    }
  }
  const auto& controls = spec.evaluation.controls;
  if (std::find(controls.begin(), controls.end(), "erasure") != controls.end()) {
    const std::vector<std::string> heard(j->heard.begin(), j->heard.end());
    absl::Status s = WordConcepts(j->dataset, heard, spec.evaluation.erasure_concept).status();
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(spec.data.path, ": evaluation.erasure_concept: ", s.message()));
    }
  }
  return std::unique_ptr<const Participants>(std::move(j));
}

std::string ScoredLine(const Participants& j) {
  auto list = [](const std::vector<std::string>& ids) {
    if (ids.size() <= 12) return absl::StrJoin(ids, ", ");
    return absl::StrCat(absl::StrJoin(ids.begin(), ids.begin() + 10, ", "), ", ... ", ids.back());
  };
  if (j.split == "held-out") {
    return absl::StrCat("braintune-eval: scoring ", j.ids.size(), " held-out participants (", list(j.ids),
                        "); the tuned models saw ", list(j.tuned), "\n");
  }
  return absl::StrCat("braintune-eval: scoring ", j.ids.size(), " participants (", list(j.ids), "): ", j.split, "\n");
}

Tensor ZScoreColumns(const Tensor& x) {
  Tensor mean = x.mean(0), std = x.std(0, /*unbiased=*/false);
  return torch::where(std > 0, (x - mean) / std, torch::zeros_like(x));
}

}  // namespace braintune::eval

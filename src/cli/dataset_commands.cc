#include "cli/dataset_commands.h"

#include <filesystem>

#include <cstring>

#include <cstdlib>

#include <cerrno>

#include <google/protobuf/struct.pb.h>

#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/cli_util.h"
#include "cli/format.h"
#include "common/flags.h"
#include "common/status_macros.h"
#include "data/dataset.h"
#include "data/synthetic.h"
#include "data/lebel_import.h"

namespace braintune::cli {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

Value Str(const std::string& s) {
  Value v;
  v.set_string_value(s);
  return v;
}
Value Num(double d) {
  Value v;
  v.set_number_value(d);
  return v;
}
Value Bool(bool b) {
  Value v;
  v.set_bool_value(b);
  return v;
}
// An empty list is [] (not left out): every key is always there for scripts.
Value List(const std::vector<std::string>& items) {
  Value v;
  v.mutable_list_value();
  for (const auto& s : items) *v.mutable_list_value()->add_values() = Str(s);
  return v;
}

// Parses one FILE argument and --output; returns kOk to go on, or the exit code to stop with.
int ParseFileCommand(Flags& f, int argc, char** argv, const char* what) {
  f.ParseOrExit(argc, argv, 3, "braintune: error");
  if (f.positional().size() != 1) return Fail(absl::StrCat(what, " takes exactly one FILE (see --help)"), kUsage);
  if (int rc = CheckOutputFlag(f); rc != kOk) return rc;
  return kOk;
}

int CmdValidate(int argc, char** argv) {
  Flags f("braintune dataset validate FILE [flags]",
          "Checks every part of a braintune dataset file (shapes, dtypes, attributes, NaN/Inf, timing, "
          "spaces) and lists every problem with its path inside the file. Exit code 1 if there is any.");
  f.Value("output", "table", "output format: table or json");
  if (int rc = ParseFileCommand(f, argc, argv, "validate"); rc != kOk) return rc;
  const std::string& file = f.positional()[0];
  std::vector<data::Problem> problems = data::ValidateDataset(file);
  if (f.Get("output") == "json") {
    Struct out;
    (*out.mutable_fields())["file"] = Str(file);
    (*out.mutable_fields())["valid"] = Bool(problems.empty());
    Value list;
    for (const auto& p : problems) {
      Value item;
      (*item.mutable_struct_value()->mutable_fields())["path"] = Str(p.path);
      (*item.mutable_struct_value()->mutable_fields())["message"] = Str(p.message);
      *list.mutable_list_value()->add_values() = item;
    }
    (*out.mutable_fields())["problems"] = list;
    std::cout << ToJson(out) << "\n";
  } else if (problems.empty()) {
    std::cout << file << ": valid braintune dataset (format v1)\n";
  } else {
    for (const auto& p : problems) std::cout << data::FormatProblem(file, p) << "\n";
    std::cout << problems.size() << (problems.size() == 1 ? " problem" : " problems") << " in " << file << "\n";
  }
  return problems.empty() ? kOk : kFailed;
}

int CmdInspect(int argc, char** argv) {
  Flags f("braintune dataset inspect FILE [flags]",
          "Summarises a braintune dataset: participants, stories, hours of stimulus, samples, targets, and "
          "which optional parts are present. Reads metadata only (fast on large files); use validate for a "
          "full check.");
  f.Value("output", "table", "output format: table or json");
  if (int rc = ParseFileCommand(f, argc, argv, "inspect"); rc != kOk) return rc;
  absl::StatusOr<data::DatasetSummary> s = data::SummarizeDataset(f.positional()[0]);
  if (!s.ok()) return Fail(std::string(s.status().message()));
  if (f.Get("output") == "json") {
    Struct out;
    auto& fields = *out.mutable_fields();
    fields["file"] = Str(s->path);
    fields["name"] = Str(s->name);
    fields["modality"] = Str(s->modality);
    fields["stories"] = Num(s->stories);
    fields["stimulus_hours"] = Num(s->stimulus_hours);
    fields["stories_with_words"] = Num(s->stories_with_words);
    fields["stories_with_phonemes"] = Num(s->stories_with_phonemes);
    fields["features"] = List(s->feature_names);
    Value participants;
    for (const auto& p : s->participants) {
      Value item;
      auto& pf = *item.mutable_struct_value()->mutable_fields();
      pf["id"] = Str(p.id);
      pf["space"] = Str(p.space);
      pf["n_targets"] = Num(static_cast<double>(p.n_targets));
      pf["stories"] = Num(p.stories);
      pf["samples"] = Num(static_cast<double>(p.samples));
      pf["has_noise_ceiling"] = Bool(p.has_noise_ceiling);
      pf["repeated_stories"] = List(p.repeated_stories);
      pf["rois"] = List(p.rois);
      *participants.mutable_list_value()->add_values() = item;
    }
    fields["participants"] = participants;
    Value stories;
    for (const auto& st : s->story_list) {
      Value item;
      auto& sf = *item.mutable_struct_value()->mutable_fields();
      sf["name"] = Str(st.name);
      sf["seconds"] = Num(st.seconds);
      sf["sample_rate"] = Num(st.sample_rate);
      sf["words"] = Num(static_cast<double>(st.words));
      sf["phonemes"] = Num(static_cast<double>(st.phonemes));
      sf["features"] = List(st.features);
      sf["heard_by"] = List(st.heard_by);
      sf["repeated_by"] = List(st.repeated_by);
      *stories.mutable_list_value()->add_values() = item;
    }
    fields["story_list"] = stories;
    std::cout << ToJson(out) << "\n";
    return kOk;
  }
  std::cout << s->path << ": " << s->name << " (" << s->modality << "), " << s->stories << " stories, "
            << absl::StrFormat("%.2f", s->stimulus_hours) << " h of stimulus\n"
            << "words: " << s->stories_with_words << "/" << s->stories << " stories, phonemes: "
            << s->stories_with_phonemes << "/" << s->stories << ", features: "
            << (s->feature_names.empty() ? "none" : absl::StrJoin(s->feature_names, ", ")) << "\n\n";
  std::vector<std::vector<std::string>> rows = {
      {"PARTICIPANT", "SPACE", "TARGETS", "STORIES", "SAMPLES", "CEILING", "REPEATS", "ROIS"}};
  for (const auto& p : s->participants) {
    rows.push_back({p.id, p.space, std::to_string(p.n_targets), std::to_string(p.stories), std::to_string(p.samples),
                    p.has_noise_ceiling ? "yes" : "-",
                    p.repeated_stories.empty() ? "-" : absl::StrJoin(p.repeated_stories, ","),
                    p.rois.empty() ? "-" : absl::StrJoin(p.rois, ",")});
  }
  std::cout << FormatTable(rows) << "\n";
  std::vector<std::vector<std::string>> story_rows = {
      {"STORY", "SECONDS", "AUDIO_HZ", "WORDS", "PHONEMES", "FEATURES", "HEARD_BY", "REPEATS"}};
  for (const auto& st : s->story_list) {
    story_rows.push_back({st.name, absl::StrFormat("%.1f", st.seconds), absl::StrFormat("%g", st.sample_rate),
                          st.words ? std::to_string(st.words) : "-", st.phonemes ? std::to_string(st.phonemes) : "-",
                          st.features.empty() ? "-" : absl::StrJoin(st.features, ","),
                          absl::StrCat(st.heard_by.size(), "/", s->participants.size()),
                          st.repeated_by.empty() ? "-" : absl::StrJoin(st.repeated_by, ",")});
  }
  std::cout << FormatTable(story_rows);
  return kOk;
}

int CmdSynth(int argc, char** argv) {
  data::SynthOptions d;
  Flags f("braintune dataset synth --out FILE [flags]",
          "Writes a synthetic naturalistic dataset with a known stimulus-to-response mapping (pseudo-words of "
          "audible phonemes from a lexicon of 4 meaning classes, "
          "latent envelope, phoneme rate, word rate and semantic features, HRF or MEG kernel, "
          "participant-specific mixing and noise, auditory and language ROIs, repeats of the test story); the ground truth is stored in the file.");
  f.Value("out", "", "output HDF5 file (required)")
      .Value("modality", d.modality, "fmri or meg")
      .Value("participants", std::to_string(d.participants), "participants")
      .Value("stories", std::to_string(d.stories), "stories")
      .Value("story-seconds", absl::StrCat(d.story_seconds), "length of each story in seconds")
      .Value("targets", std::to_string(d.targets), "targets (voxels or sensors) per participant")
      .Value("noise", absl::StrCat(d.noise), "noise std relative to the signal std")
      .Value("semantic-noise", absl::StrCat(d.semantic_noise),
             "std of each word's meaning around its class's (class vectors have std 1)")
      .Value("participant-specificity", absl::StrCat(d.participant_specificity),
             "share of each participant's mixing weights that is its own, 0-1")
      .Value("tr", absl::StrCat(d.tr), "fMRI repetition time in seconds")
      .Value("response-rate", absl::StrCat(d.response_rate), "MEG samples per second")
      .Value("sample-rate", absl::StrCat(d.sample_rate), "audio sample rate in Hz")
      .Value("repeats", std::to_string(d.n_repeats), "extra presentations of the test story (0: none)")
      .Value("seed", "0", "random seed");
  f.ParseOrExit(argc, argv, 3, "braintune: error");
  if (f.Get("out").empty()) return Fail("--out is required", kUsage);
  d.modality = f.Get("modality");
  if (d.modality != "fmri" && d.modality != "meg") return Fail("--modality must be fmri or meg", kUsage);
  auto get_int = [&](const char* name, int* out, int min) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t v, f.GetInt(name));
    if (v < min) return absl::InvalidArgumentError(absl::StrCat("--", name, " must be >= ", min));
    *out = static_cast<int>(v);
    return absl::OkStatus();
  };
  auto get_double = [&](const char* name, double* out) -> absl::Status {
    ASSIGN_OR_RETURN(*out, f.GetDouble(name));
    if (!(*out >= 0)) return absl::InvalidArgumentError(absl::StrCat("--", name, " must be >= 0"));
    return absl::OkStatus();
  };
  for (absl::Status s : {get_int("participants", &d.participants, 1), get_int("stories", &d.stories, 2),
                         get_int("targets", &d.targets, 1), get_int("repeats", &d.n_repeats, 0),
                         get_double("story-seconds", &d.story_seconds), get_double("noise", &d.noise),
                         get_double("semantic-noise", &d.semantic_noise),
                         get_double("participant-specificity", &d.participant_specificity),
                         get_double("tr", &d.tr), get_double("response-rate", &d.response_rate),
                         get_double("sample-rate", &d.sample_rate), f.GetInt("seed").status()}) {
    if (!s.ok()) return Fail(std::string(s.message()), kUsage);
  }
  d.seed = static_cast<uint64_t>(*f.GetInt("seed"));
  std::cerr << "writing " << d.participants << " participants x " << d.stories << " stories of " << d.story_seconds
            << " s (" << d.modality << ") to " << f.Get("out") << "\n";
  absl::Status s = data::WriteSyntheticDataset(f.Get("out"), d);
  if (!s.ok()) return Fail(std::string(s.message()));
  std::cout << "wrote " << f.Get("out") << "\n";
  return kOk;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) out.emplace_back(part);
  return out;
}

// braintune dataset import-<name> ...: the importers written in Python (python/braintune/
// importers/, with nibabel and MNE), run with Debian's python3 and the arguments as given. The
// package is found where pip installed it, else in this build's python/ directory.
int CmdImportPython(const std::string& name, int argc, char** argv) {
  std::vector<std::string> args = {"/usr/bin/python3", "-m", "braintune.importers." + name};
  for (int i = 3; i < argc; ++i) args.emplace_back(argv[i]);
  const std::string built = BRAINTUNE_PYTHON_DIR;
  if (std::filesystem::exists(built + "/braintune/importers")) {
    const char* old = std::getenv("PYTHONPATH");
    ::setenv("PYTHONPATH", (old && *old ? built + ":" + old : built).c_str(), 1);
  }
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  ::execv(cargs[0], cargs.data());
  return Fail(absl::StrCat("cannot run /usr/bin/python3 for import-", name, ": ", std::strerror(errno),
                           " (Debian's python3 with python3-nibabel and python3-mne; scripts/install-deps)"));
}

int CmdImportLebel(int argc, char** argv) {
  data::LebelImportOptions o;
  Flags f("braintune dataset import-lebel DIR --out FILE [flags]",
          "Converts an OpenNeuro ds003020 tree (LeBel et al. 2023: derivative/preprocessed_data/<subject>/"
          "<story>.hf5, derivative/TextGrids/<story>.TextGrid, stimulus wav files, respdict.json) into one "
          "braintune dataset file. Everything is checked before anything is written; errors name the file.");
  f.Value("out", "", "output HDF5 file (required)")
      .Value("subjects", "", "comma-separated subjects, e.g. UTS01,UTS02 (default: all)")
      .Value("stories", "", "comma-separated stories (default: all found)")
      .Value("tr", absl::StrCat(o.tr), "seconds per TR")
      .Value("sound-delay", absl::StrCat(o.sound_delay), "seconds from the first TR to the sound")
      .Value("stimuli-dir", "", "where <story>.wav files are (default: searched under DIR)")
      .Value("test-story", o.test_story, "the story whose responses may hold repeats")
      .Value("name", o.name, "dataset name");
  f.ParseOrExit(argc, argv, 3, "braintune: error");
  if (f.positional().size() != 1) return Fail("import-lebel takes exactly one DIR (see --help)", kUsage);
  if (f.Get("out").empty()) return Fail("--out is required", kUsage);
  o.root = f.positional()[0];
  o.out = f.Get("out");
  o.subjects = SplitList(f.Get("subjects"));
  o.stories = SplitList(f.Get("stories"));
  o.stimuli_dir = f.Get("stimuli-dir");
  o.test_story = f.Get("test-story");
  o.name = f.Get("name");
  auto tr = f.GetDouble("tr");
  auto delay = f.GetDouble("sound-delay");
  if (!tr.ok() || !delay.ok() || *tr <= 0) return Fail("--tr must be a positive number, --sound-delay a number", kUsage);
  o.tr = *tr;
  o.sound_delay = *delay;
  const bool tty = ::isatty(2);
  absl::Status s = data::ImportLebel(o, [&](const data::ImportProgress& p) {
    std::string what = p.stage == data::ImportProgress::Stage::kStimulus ? absl::StrCat("stimulus ", p.story)
                                                                           : absl::StrCat(p.subject, " ", p.story);
    std::string line = absl::StrCat(ProgressBar(p.done, p.total), " ", p.done, "/", p.total, " ", what);
    if (tty) {
      std::cerr << "\r" << line << "\033[K" << (p.done == p.total ? "\n" : "") << std::flush;
    } else {
      std::cerr << line << "\n";
    }
  });
  if (!s.ok()) return Fail(std::string(s.message()));
  std::cout << "wrote " << o.out << " (check it with: braintune dataset validate " << o.out << ")\n";
  return kOk;
}

}  // namespace

int RunDatasetCommand(int argc, char** argv) {
  const std::string tool = argc > 2 ? argv[2] : "";
  if (tool == "validate") return CmdValidate(argc, argv);
  if (tool == "inspect") return CmdInspect(argc, argv);
  if (tool == "synth") return CmdSynth(argc, argv);
  if (tool == "import-lebel") return CmdImportLebel(argc, argv);
  if (tool == "import-narratives") return CmdImportPython("narratives", argc, argv);
  if (tool == "import-meg-masc") return CmdImportPython("meg_masc", argc, argv);
  return Fail("usage: braintune dataset validate|inspect|synth|import-lebel|import-narratives|import-meg-masc ..."
              " (see braintune --help)",
              kUsage);
}

}  // namespace braintune::cli

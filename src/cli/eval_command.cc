#include "cli/eval_command.h"

#include <google/protobuf/struct.pb.h>

#include <google/protobuf/util/json_util.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/cli_util.h"
#include "cli/format.h"
#include "common/flags.h"
#include "common/json.h"
#include "config/job_spec.h"
#include "data/file_util.h"

namespace braintune::cli {
namespace {

namespace fs = std::filesystem;

std::string Score(const v1::MeanSem& s) {
  return s.n() > 0 ? absl::StrFormat("%.3f ± %.3f", s.mean(), s.sem()) : "–";
}

// The ROI names of a list of scores, "all" first as the evaluator writes them.
std::vector<std::string> RoiNames(const google::protobuf::RepeatedPtrField<v1::RoiScore>& rois) {
  std::vector<std::string> names;
  for (const auto& r : rois) names.push_back(r.roi());
  return names;
}

const v1::LayerScores* BestLayer(const v1::ModelScores& m) {
  for (const auto& l : m.layers()) {
    if (l.layer() == m.best_layer()) return &l;
  }
  return nullptr;
}

// Runs argv; with `quiet_stdout` the child's stdout goes to stderr. Returns the exit status
// (128 + signal when killed), or -1 when it could not start.
int RunChild(const std::vector<std::string>& argv, bool quiet_stdout) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (quiet_stdout) ::dup2(STDERR_FILENO, STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::cerr << "braintune: error: cannot run " << argv[0] << ": " << std::strerror(errno) << "\n";
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// braintune-train beside this executable, else on PATH.
std::string TrainBinary() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && fs::exists(self.parent_path() / "braintune-train")) return (self.parent_path() / "braintune-train").string();
  return "braintune-train";
}

}  // namespace

std::string FormatEvaluation(const v1::EvaluationSummary& s) {
  std::ostringstream out;
  out << absl::StrFormat("\nbrain alignment on %s (score: %s%s; noise ceiling from %s), %d participants\n",
                         absl::StrJoin(s.test_stories(), ", "), s.score(),
                         s.score() == "normalized" ? absl::StrFormat(", targets with ceiling <= %.2f masked", s.ceiling_threshold()) : "",
                         s.ceiling_source(), s.participants_size());
  out << "participants scored: " << absl::StrJoin(s.participants(), ", ") << " (" << s.participant_split() << ")";
  if (!s.tuned_participants().empty()) out << "; the tuned models saw " << absl::StrJoin(s.tuned_participants(), ", ");
  out << "\n";
  if (s.models().empty()) return out.str();
  const std::vector<std::string> rois = RoiNames(s.models(0).layers(0).rois());
  std::vector<std::vector<std::string>> rows = {{"MODEL", "LAYER"}};
  for (const auto& roi : rois) rows[0].push_back(absl::AsciiStrToUpper(roi));
  if (!s.noise_ceiling().empty()) {
    rows.push_back({"(noise ceiling, r)", ""});
    for (const auto& r : s.noise_ceiling()) rows.back().push_back(Score(r.score()));
  }
  for (const auto& m : s.models()) {
    const v1::LayerScores* l = BestLayer(m);
    if (!l) continue;
    rows.push_back({m.name(), std::to_string(l->layer())});
    for (const auto& r : l->rois()) rows.back().push_back(Score(r.score()));
  }
  out << FormatTable(rows);
  // Each ROI at the model's best layer for it (chosen on the training stories, per ROI).
  std::vector<std::vector<std::string>> by_roi = {{"MODEL"}};
  for (const auto& roi : rois) by_roi[0].push_back(absl::AsciiStrToUpper(roi));
  for (const auto& m : s.models()) {
    by_roi.push_back({m.name()});
    for (const auto& roi : rois) {
      auto it = m.best_layer_by_roi().find(roi);
      const v1::RoiScore* score = nullptr;
      for (const auto& l : m.layers()) {
        if (it == m.best_layer_by_roi().end() || l.layer() != it->second) continue;
        for (const auto& r : l.rois()) {
          if (r.roi() == roi) score = &r;
        }
      }
      by_roi.back().push_back(score ? absl::StrCat(Score(score->score()), " (layer ", it->second, ")") : "–");
    }
  }
  out << "\neach ROI at its own best layer (chosen on the training stories):\n" << FormatTable(by_roi);
  // The linear probes: accuracy per layer on the test stories, and chance.
  std::vector<int> probe_layers;
  for (const auto& m : s.models()) {
    for (const auto& p : m.probes()) {
      if (std::find(probe_layers.begin(), probe_layers.end(), p.layer()) == probe_layers.end()) {
        probe_layers.push_back(p.layer());
      }
    }
  }
  std::sort(probe_layers.begin(), probe_layers.end());
  if (!probe_layers.empty()) {
    std::vector<std::vector<std::string>> probes = {{"MODEL", "PROBE"}};
    for (int l : probe_layers) probes[0].push_back(absl::StrCat("LAYER ", l));
    probes[0].push_back("CHANCE");
    for (const auto& m : s.models()) {
      std::map<std::string, std::map<int, const v1::ProbeScore*>> by_probe;
      for (const auto& p : m.probes()) by_probe[p.probe()][p.layer()] = &p;
      for (const auto& [probe, layers] : by_probe) {
        probes.push_back({m.name(), probe});
        // The layer a user of the probe would pick: the best cross-validated on the training stories.
        int chosen = layers.begin()->first;
        for (const auto& [l, p] : layers) {
          if (p->cv_accuracy() > layers.at(chosen)->cv_accuracy()) chosen = l;
        }
        for (int l : probe_layers) {
          auto it = layers.find(l);
          probes.back().push_back(it == layers.end()
                                      ? "–"
                                      : absl::StrFormat("%.3f%s", it->second->accuracy(), l == chosen ? " *" : ""));
        }
        probes.back().push_back(absl::StrFormat("%.3f", layers.begin()->second->chance()));
      }
    }
    out << "\nlinear probes (accuracy on the test stories; *: the layer chosen on the training stories, by "
           "cross-validated accuracy; chance: the most frequent training label):\n"
        << FormatTable(probes);
  }
  for (const auto& note : s.probe_notes()) out << note << "\n";
  if (!s.comparisons().empty()) {
    std::vector<std::vector<std::string>> cmp = {
        {"COMPARISON", "ROI", "LAYERS", "DIFFERENCE", "T", "P", "PARTICIPANTS"}};
    for (const auto& c : s.comparisons()) {
      cmp.push_back({absl::StrCat(c.model_b(), " - ", c.model_a()), c.roi(),
                     absl::StrCat(c.layer_b(), " / ", c.layer_a()),
                     absl::StrFormat("%+.3f ± %.3f", c.mean_difference(), c.sem_difference()),
                     absl::StrFormat("%.2f", c.t()), absl::StrFormat("%.3g", c.p_value()),
                     std::to_string(c.n())});
    }
    out << "\npaired across participants, each model at its best layer for the ROI (sign-flip permutation test,"
           " two-sided):\n"
        << FormatTable(cmp);
  }
  std::vector<std::vector<std::string>> removal = {{"MODEL", "LAYER", "REMOVED"}};
  for (const auto& roi : rois) removal[0].push_back(absl::StrCat("DROP ", absl::AsciiStrToUpper(roi)));
  for (const auto& m : s.models()) {
    if (!m.has_removal()) continue;
    removal.push_back({m.name(), std::to_string(m.removal().layer()), absl::StrJoin(m.removal().confounds(), "+")});
    for (const auto& r : m.removal().drop()) removal.back().push_back(Score(r.score()));
  }
  if (removal.size() > 1) out << "\nfeature-removal control (score before - after):\n" << FormatTable(removal);
  std::vector<std::vector<std::string>> erasure = {{"MODEL", "LAYER", "ERASED", "PROBE R2 BEFORE", "AFTER", "VARIANCE",
                                                     "NEXT-WORD LOSS +"}};
  for (const auto& roi : rois) erasure[0].push_back(absl::StrCat("DROP ", absl::AsciiStrToUpper(roi)));
  for (const auto& m : s.models()) {
    if (!m.has_erasure()) continue;
    const auto& e = m.erasure();
    erasure.push_back({m.name(), std::to_string(e.layer()), e.concept(), absl::StrFormat("%.3f", e.probe_r2_before()),
                       absl::StrFormat("%.3f", e.probe_r2_after()), absl::StrFormat("%.1f%%", 100 * e.variance_removed()),
                       e.next_token_tokens() == 0
                           ? std::string("-")
                           : absl::StrFormat("%+.3f", e.next_token_loss_after() - e.next_token_loss_before())});
    for (const auto& r : e.drop()) erasure.back().push_back(Score(r.score()));
  }
  if (erasure.size() > 1) {
    out << "\nconcept-erasure control (LEACE; probe R2 on the test stories' words; score before - after):\n"
        << FormatTable(erasure);
    for (const auto& m : s.models()) {
      if (m.has_erasure() && !m.erasure().complete()) {
        out << "warning: " << m.name() << ": after the erasure a probe still explains R2 "
            << absl::StrFormat("%.3f", m.erasure().probe_r2_after()) << " of " << m.erasure().concept()
            << " on the test words (above 0.01): the drop understates what the concept contributes\n";
      }
    }
  }
  std::vector<std::vector<std::string>> partition = {
      {"MODEL", "LAYER", "ROI", "R2 JOINT", "R2 MODEL", "R2 LOW-LEVEL", "UNIQUE MODEL", "SHARED", "UNIQUE LOW-LEVEL"}};
  for (const auto& m : s.models()) {
    const auto& v = m.variance_partitioning();
    for (int r = 0; r < v.joint_r2_size(); ++r) {
      auto at = [&](const google::protobuf::RepeatedPtrField<v1::RoiScore>& scores) {
        return r < scores.size() ? Score(scores[r].score()) : "–";
      };
      partition.push_back({m.name(), std::to_string(v.layer()), v.joint_r2(r).roi(), at(v.joint_r2()), at(v.model_r2()),
                           at(v.lowlevel_r2()), at(v.unique_model()), at(v.shared()), at(v.unique_lowlevel())});
    }
  }
  if (partition.size() > 1) {
    out << "\nvariance partitioning (banded ridge; R2 on the test stories; unique = joint - the other alone, shared ="
           " model + low-level - joint, negatives set to 0 per target):\n"
        << FormatTable(partition);
  }
  std::vector<std::vector<std::string>> permutation = {{"MODEL", "LAYER", "ROI", "SIGNIFICANT", "SHARE"}};
  std::string permutation_setup;
  for (const auto& m : s.models()) {
    const auto& p = m.permutation();
    if (p.rois().empty()) continue;
    permutation_setup = absl::StrFormat("%d block permutations of %d TRs, Benjamini-Hochberg q = %g", p.permutations(),
                                        p.block_trs(), p.fdr_q());
    for (const auto& r : p.rois()) {
      permutation.push_back({m.name(), std::to_string(p.layer()), r.roi(),
                             absl::StrCat(r.significant(), " / ", r.targets()), Score(r.share())});
    }
  }
  if (permutation.size() > 1) {
    out << "\npermutation test (" << permutation_setup << "; targets significant, summed over participants; share"
        << " per participant):\n"
        << FormatTable(permutation);
  }
  std::vector<std::vector<std::string>> sweep = {{"MODEL", "ROI", "LAYER"}};
  for (const auto& m : s.models()) {
    if (m.sweep().empty()) continue;
    if (sweep.size() == 1) {
      for (const auto& p : m.sweep()) sweep[0].push_back(absl::StrFormat("%g%%", 100 * p.fraction()));
    }
    for (size_t r = 0; r < static_cast<size_t>(m.sweep(0).rois_size()); ++r) {
      const std::string& roi = m.sweep(0).rois(r).roi();
      const auto layer = m.best_layer_by_roi().find(roi);
      sweep.push_back({m.name(), roi, layer == m.best_layer_by_roi().end() ? "–" : std::to_string(layer->second)});
      for (const auto& p : m.sweep()) sweep.back().push_back(static_cast<int>(r) < p.rois_size() ? Score(p.rois(r).score()) : "–");
    }
  }
  if (sweep.size() > 1) {
    out << "\ndata efficiency (score vs share of the training data, each ROI at its best layer):\n" << FormatTable(sweep);
  }
  out << absl::StrFormat("\nreport:  %s\nscores:  %s\nsummary: %s\n", s.html_path(), s.hdf5_path(), s.json_path());
  return out.str();
}

// Runs the spec `file` (kind `kind`) here, as braintune-train ranks under mpirun (--ranks, else
// the spec's), and returns the output directory, or the exit code to end with.
absl::StatusOr<std::string> RunHere(const Flags& f, const std::string& kind, bool quiet, int* exit_code) {
  *exit_code = kUsage;
  if (f.positional().size() != 1) return absl::InvalidArgumentError(absl::StrCat("takes exactly one SPEC.yaml (see --help)"));
  const std::string& file = f.positional()[0];
  absl::StatusOr<config::LoadedSpec> loaded = config::LoadJobSpecFile(file);
  *exit_code = kFailed;
  if (!loaded.ok()) return loaded.status();
  const config::JobSpec* spec = &loaded->spec;
  *exit_code = kUsage;
  if (spec->kind != kind) return absl::InvalidArgumentError(absl::StrCat(file, ": kind is '", spec->kind, "', not ", kind));
  auto ranks = f.GetInt("ranks");
  if (!ranks.ok() || *ranks < 0) return absl::InvalidArgumentError("--ranks must be a non-negative integer");
  const int n = *ranks > 0 ? static_cast<int>(*ranks) : spec->resources.ranks;
  const std::string dir = spec->output.dir.empty() ? f.Get("output-dir") : spec->output.dir;
  std::vector<std::string> argv_child;
  if (n > 1) argv_child = {"mpirun", "-np", std::to_string(n)};
  argv_child.insert(argv_child.end(), {TrainBinary(), "--spec", file, "--output-dir", dir});
  *exit_code = kFailed;
  if (int rc = RunChild(argv_child, quiet); rc != 0) {
    return absl::InternalError(absl::StrCat("the ", kind, " job failed (", absl::StrJoin(argv_child, " "),
                                            " exited with ", rc, ")"));
  }
  *exit_code = kOk;
  return dir;
}

void AddRunHereFlags(Flags& f) {
  f.Value("ranks", "0", "MPI ranks (stories and participants are split across them); 0: the spec's resources.ranks")
      .Value("output-dir", "braintune-output", "where the outputs go when the spec sets no output.dir")
      .Value("output", "table", "output format: table or json");
}

int CmdEval(int argc, char** argv) {
  Flags f("braintune eval SPEC.yaml [flags]",
          "Evaluates brain alignment here: the models of a spec of kind evaluate on the same splits (encoding models, "
          "noise ceilings, the feature-removal control, the data-efficiency sweep, paired tests), written as JSON, HDF5 "
          "and an HTML report. The same spec can be submitted to the coordinator (braintune submit).");
  AddRunHereFlags(f);
  f.ParseOrExit(argc, argv, 2, "braintune: error");
  if (int rc = CheckOutputFlag(f); rc != kOk) return rc;
  int rc = kOk;
  const bool json = f.Get("output") == "json";
  absl::StatusOr<std::string> dir = RunHere(f, "evaluate", json, &rc);
  if (!dir.ok()) return Fail(std::string(dir.status().message()), rc);
  const std::string path = (fs::path(*dir) / "evaluation.json").string();
  absl::StatusOr<std::string> text = data::internal::ReadFileBytes(path);
  if (!text.ok()) return Fail(std::string(text.status().message()));
  if (json) {
    std::cout << *text;
    return kOk;
  }
  v1::EvaluationSummary summary;
  if (!google::protobuf::util::JsonStringToMessage(*text, &summary).ok()) {
    return Fail(absl::StrCat(path, ": not an evaluation summary"));
  }
  std::cout << FormatEvaluation(summary);
  return kOk;
}

int CmdFeatures(int argc, char** argv) {
  Flags f("braintune features SPEC.yaml [flags]",
          "Exports model features here: the models of a spec of kind features (a Hugging Face directory as "
          "model.pretrained, a training job's checkpoint, or the untrained model of training.seed) run over the "
          "dataset's stories with the evaluation's windowing and feature cache, written to <output.dir>/features.h5 "
          "(per model, layer and story: [n_windows, hidden] with the windows' times; with evaluation.resampled, also "
          "at each participant's response times). docs/evaluation.md, \"Exporting features\".");
  AddRunHereFlags(f);
  f.ParseOrExit(argc, argv, 2, "braintune: error");
  if (int rc = CheckOutputFlag(f); rc != kOk) return rc;
  int rc = kOk;
  const bool json = f.Get("output") == "json";
  absl::StatusOr<std::string> dir = RunHere(f, "features", json, &rc);
  if (!dir.ok()) return Fail(std::string(dir.status().message()), rc);
  const std::string path = fs::absolute(fs::path(*dir) / "features.h5").string();
  if (json) {
    google::protobuf::Struct out;
    (*out.mutable_fields())["features"].set_string_value(path);
    std::cout << ToJson(out) << "\n";
  } else {
    std::cout << "features: " << path << "\n";
  }
  return kOk;
}

}  // namespace braintune::cli

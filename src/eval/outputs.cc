#include "eval/outputs.h"

#include <iostream>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "data/hdf5_util.h"
#include "data/hdf5_writer.h"
#include "eval/report.h"
#include "eval/shared_arrays.h"

namespace braintune::eval {
namespace {

absl::Status WriteHdf5(const std::string& path, const v1::EvaluationSummary& summary, const SharedArrays& shared,
                       const std::vector<double>& data_fractions) {
  const std::vector<std::string> ids(summary.participants().begin(), summary.participants().end());
  return WriteAtomically(path, [&](const std::string& tmp) {
    data::internal::SilenceHdf5Errors();
    data::internal::Handle fid = data::internal::CreateUntimedFile(tmp);
    if (!fid.ok()) throw std::runtime_error("cannot create the HDF5 file");
    data::internal::Writer w(path, fid.get());
    auto check = [](const absl::Status& s) {
      if (!s.ok()) throw std::runtime_error(std::string(s.message()));
    };
    check(w.Attr("/", "format", std::string("braintune-evaluation")));
    check(w.Attr("/", "score", summary.score()));
    check(w.Attr("/", "ceiling_threshold", summary.ceiling_threshold()));
    check(w.Attr("/", "dataset", summary.dataset()));
    check(w.Attr("/", "test_stories", absl::StrJoin(summary.test_stories(), ",")));
    // Every shared array, split per participant: <key>/<participant> (per-target arrays) or
    // <key> [participants] (per-participant values); the writer makes the groups on the way.
    for (const auto& [key, values] : shared.all()) {
      if (shared.PerTarget(key)) {
        for (size_t p = 0; p < ids.size(); ++p) {
          const std::string name = absl::StrCat("/", key, "/", ids[p]);
          const int participant = static_cast<int>(p);
          check(w.Floats(name, {static_cast<hsize_t>(shared.Targets(participant))}, shared.Values(key, participant)));
        }
      } else {
        check(w.Floats("/" + key, {values.size()}, values));
      }
    }
    check(w.Strings("/participants", ids));
    if (!data_fractions.empty()) check(w.Doubles("/data_fractions", data_fractions));
  });
}

}  // namespace

absl::Status WriteEvaluationFiles(const v1::EvaluationSummary& summary, const SharedArrays& shared,
                                  const std::vector<double>& data_fractions) {
  RETURN_IF_ERROR(WriteHdf5(summary.hdf5_path(), summary, shared, data_fractions));
  RETURN_IF_ERROR(WriteFileAtomically(summary.html_path(), RenderHtmlReport(summary)));
  return WriteFileAtomically(summary.json_path(), ToJson(summary));
}

void PrintSummary(const v1::EvaluationSummary& s) {
  std::vector<std::string> models;
  for (const auto& m : s.models()) {
    for (const auto& l : m.layers()) {
      if (l.layer() == m.best_layer() && !l.rois().empty()) {
        models.push_back(absl::StrFormat("%s %.3f (layer %d)", m.name(), l.rois(0).score().mean(), l.layer()));
      }
    }
  }
  std::cout << absl::StrFormat("braintune-eval: done in %.1f s; %s score over all targets: %s; report %s",
                               s.seconds(), s.score(), absl::StrJoin(models, ", "), s.html_path())
            << std::endl;
}

v1::JobResult EvaluationResult(const v1::EvaluationSummary& summary, const std::string& output_dir) {
  v1::JobResult result;
  *result.mutable_evaluation() = summary;
  result.set_output_dir(output_dir);
  result.set_test_story(absl::StrJoin(summary.test_stories(), ","));
  if (!summary.models().empty()) {
    const v1::ModelScores& last = *summary.models().rbegin();
    for (const auto& l : last.layers()) {
      if (l.layer() != last.best_layer()) continue;
      double sum = 0;
      for (const auto& p : l.participants()) sum += p.mean_r();
      result.set_mean_pearson_r(l.participants().empty() ? 0 : sum / l.participants_size());
    }
  }
  return result;
}

}  // namespace braintune::eval

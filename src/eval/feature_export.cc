#include "eval/feature_export.h"

#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/status_macros.h"
#include "data/hdf5_util.h"
#include "data/hdf5_writer.h"
#include "eval/features.h"
#include "eval/fits.h"
#include "eval/model_features.h"
#include "eval/participants.h"
#include "rank/progress_reporter.h"

namespace braintune::eval {
namespace {

namespace fs = std::filesystem;

std::vector<float> Floats(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

std::vector<double> Doubles(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

absl::Status Export(const config::LoadedSpec& loaded, const rank::RankOptions& options, dist::Communicator* comm) {
  const config::JobSpec& spec = loaded.spec;
  if (spec.kind != "features") return absl::InvalidArgumentError(absl::StrCat(loaded.source, ": kind is not features"));
  rank::ConfigureThreads(options, *comm);
  comm->set_timeout_seconds(spec.distributed.collective_timeout);
  ASSIGN_OR_RETURN(std::unique_ptr<const Participants> mine,
                   LoadParticipants(spec, loaded.source, comm->rank(), comm->size()));
  // Rank 0 writes every participant's resampled features: it reads them all (a rank of one
  // already holds them).
  std::unique_ptr<const Participants> everyone;
  if (comm->rank() == 0 && spec.evaluation.resampled && comm->size() > 1) {
    ASSIGN_OR_RETURN(everyone, LoadParticipants(spec, loaded.source, 0, 1));
  }
  const Participants* all = !spec.evaluation.resampled ? nullptr : everyone ? everyone.get() : mine.get();
  std::vector<std::unique_ptr<ModelFeatures>> models;
  for (const config::EvalModelSpec& m : spec.evaluation.models) {
    ASSIGN_OR_RETURN(std::unique_ptr<ModelFeatures> f,
                     ModelFeatures::Create(spec, loaded.source, m, mine->spaces, torch::kCPU));
    if (comm->rank() == 0) std::cout << f->InputLines(m.name, *mine) << std::flush;
    RETURN_IF_ERROR(f->Prepare(*mine, comm->rank(), comm->size()));
    models.push_back(std::move(f));
  }
  RETURN_IF_ERROR(comm->Barrier());  // every story of every model is in the cache
  if (comm->rank() != 0) return comm->Barrier();

  const std::string dir = fs::absolute(rank::OutputDir(spec, options)).string();
  RETURN_IF_ERROR(rank::CreateOutputDir(dir));
  const std::string path = dir + "/features.h5";
  const config::EvaluationSpec& e = spec.evaluation;
  int64_t arrays = 0;
  absl::Status written = WriteAtomically(path, [&](const std::string& tmp) {
    data::internal::SilenceHdf5Errors();
    data::internal::Handle fid = data::internal::CreateUntimedFile(tmp);
    if (!fid.ok()) throw std::runtime_error("cannot create the HDF5 file");
    data::internal::Writer w(path, fid.get());
    auto check = [](const absl::Status& s) {
      if (!s.ok()) throw std::runtime_error(std::string(s.message()));
    };
    check(w.Attr("/", "format", std::string("braintune-features")));
    check(w.Attr("/", "dataset", spec.data.path));
    check(w.Attr("/", "context_seconds", e.context_seconds));
    check(w.Attr("/", "stride_seconds", e.stride_seconds));
    check(w.Attr("/", "pooling", e.pooling));
    for (size_t mi = 0; mi < models.size(); ++mi) {
      const std::string& name = e.models[mi].name;
      for (int layer : models[mi]->layers()) {
        const std::string base = absl::StrCat("/models/", name, "/layer_", layer);
        LayerFeatures features;  // one layer of every story at a time
        for (const std::string& story : mine->heard) {
          absl::StatusOr<StoryFeatures> f = models[mi]->Story(*mine, story, layer);
          check(f.status());
          const std::string at = absl::StrCat(base, "/", story);
          check(w.Floats(at + "/values", {static_cast<hsize_t>(f->values.size(0)), static_cast<hsize_t>(f->values.size(1))},
                         Floats(f->values)));
          check(w.Doubles(at + "/times", Doubles(f->times)));
          arrays += 2;
          if (all) features[story] = *std::move(f);  // kept for the resampling below
        }
        if (!all) continue;
        const AtTimes at_times = ModelFeaturesAt(features);
        for (const OwnedParticipant& o : all->owned) {
          for (const data::Run& run : o.meta->runs) {
            absl::StatusOr<torch::Tensor> x = at_times(run);
            check(x.status());
            const std::string at = absl::StrCat(base, "/resampled/", o.meta->id, "/", run.story);
            check(w.Floats(at, {static_cast<hsize_t>(x->size(0)), static_cast<hsize_t>(x->size(1))}, Floats(*x)));
            ++arrays;
          }
        }
      }
    }
  });
  RETURN_IF_ERROR(written);
  int hits = 0, misses = 0;  // rank 0's (model, story) feature sets read from the cache, and computed
  for (const auto& m : models) {
    hits += m->cache_hits();
    misses += m->cache_misses();
  }
  std::cout << "braintune-features: wrote " << path << " (" << models.size() << " models, " << mine->heard.size()
            << " stories, " << arrays << " arrays; rank 0 read " << hits << " story feature sets from the cache "
            << (e.cache_dir.empty() ? DefaultCacheDir() : e.cache_dir) << " and computed " << misses << ")"
            << std::endl;
  rank::ProgressReporter reporter(options.coordinator, options.job_id);
  v1::Progress p;
  p.set_phase("done");
  v1::JobResult result;
  result.set_output_dir(dir);
  reporter.Report(p, &result);
  return comm->Barrier();
}

}  // namespace

absl::Status RunFeatureExport(const config::LoadedSpec& spec, const rank::RankOptions& options,
                              dist::Communicator* comm) {
  return rank::RunOnRank("braintune-features", comm, [&] { return Export(spec, options, comm); });
}

}  // namespace braintune::eval

#include "eval/evaluator.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <functional>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "config/job_spec.h"
#include "eval/data_sweep.h"
#include "eval/fits.h"
#include "eval/model_features.h"
#include "eval/outputs.h"
#include "eval/participants.h"
#include "eval/probes.h"
#include "eval/erasure_control.h"
#include "eval/permutation_control.h"
#include "eval/removal_control.h"
#include "eval/scores.h"
#include "eval/shared_arrays.h"
#include "eval/summary.h"
#include "eval/variance_partitioning.h"
#include "rank/progress_reporter.h"
#include "rank/rank.h"

namespace braintune::eval {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Runs the protocol of evaluator.h on one rank, wiring its stages: participants.h (1),
// model_features.h (2), fits.h (3), removal_control.h and data_sweep.h (4), summary.h and
// outputs.h (5). Thread model: one thread, the rank's; every rank calls Run.
class Evaluator {
 public:
  Evaluator(const config::LoadedSpec& spec, const rank::RankOptions& options, dist::Communicator* comm)
      : options_(options),
        comm_(comm),
        reporter_(comm->rank() == 0 ? options.coordinator : "", options.job_id),
        spec_(spec.spec),
        source_(spec.source) {}

  absl::Status Run() {
    start_ = Clock::now();
    if (spec_.kind != "evaluate") return absl::InvalidArgumentError(absl::StrCat(source_, ": kind is not evaluate"));
    const config::EvaluationSpec& e = spec_.evaluation;
    rank::ConfigureThreads(options_, *comm_);
    // Ranks wait for each other at the end of each phase; how long is the spec's (an evaluate
    // job's default is longer than a training job's: phases are minutes, not steps).
    comm_->set_timeout_seconds(spec_.distributed.collective_timeout);
    // On a GPU rank the encoder and the linear algebra run there (resources.gpus_per_rank > 0).
    torch::Device device = torch::kCPU;
    if (spec_.resources.gpus_per_rank > 0 && torch::cuda::is_available()) {
      device = torch::Device(torch::kCUDA, comm_->local_rank() % static_cast<int>(torch::cuda::device_count()));
    }
    // 1. The dataset, the rank's participants and their ceilings.
    ASSIGN_OR_RETURN(participants_, LoadParticipants(spec_, source_, comm_->rank(), comm_->size()));
    RETURN_IF_ERROR(CheckRanksAgree());
    if (comm_->rank() == 0) std::cout << ScoredLine(*participants_) << std::flush;
    // The probes the stories heard have labels for (rank 0 runs them); why the others are not run.
    for (const std::string& probe : e.probes) {
      const std::string why = ProbeUnavailable(*participants_, probe);
      if (why.empty()) {
        probes_.push_back(probe);
      } else {
        probe_notes_.push_back(absl::StrCat(probe, " probe skipped: ", why));
      }
    }
    shared_ = std::make_unique<SharedArrays>(participants_->offsets, participants_->total_targets);
    PutCeilings(*participants_, shared_.get());  // summed with the first model's layers
    fitter_ = std::make_unique<EncodingFitter>(*participants_, e, device);
    total_units_ = static_cast<int64_t>(e.models.size()) * 3;
    for (const config::EvalModelSpec& m : e.models) RETURN_IF_ERROR(EvaluateModel(m, device));
    return Finish();
  }

 private:
  absl::Status EvaluateModel(const config::EvalModelSpec& m, torch::Device device) {
    const config::EvaluationSpec& e = spec_.evaluation;
    ASSIGN_OR_RETURN(std::unique_ptr<ModelFeatures> features,
                     ModelFeatures::Create(spec_, source_, m, participants_->spaces, device));
    if (comm_->rank() == 0) std::cout << features->InputLines(m.name, *participants_) << std::flush;

    // 2. The ranks split the stories into the cache, then every rank reads what it needs.
    Report(absl::StrCat("features ", m.name));
    RETURN_IF_ERROR(features->Prepare(*participants_, comm_->rank(), comm_->size()));
    RETURN_IF_ERROR(comm_->Barrier());
    ++done_units_;

    // 3. Every layer, every owned participant; the per-target results summed across ranks.
    Report(absl::StrCat("fitting ", m.name));
    RETURN_IF_ERROR(fitter_->FitLayers(m.name, features.get(), shared_.get()));
    RETURN_IF_ERROR(shared_->Reduce(comm_));
    double counts[2] = {static_cast<double>(features->cache_hits()), static_cast<double>(features->cache_misses())};
    RETURN_IF_ERROR(comm_->AllReduceSum(counts, 2));
    cache_hits_ += static_cast<int>(counts[0]);
    cache_misses_ += static_cast<int>(counts[1]);
    ++done_units_;
    const std::map<std::string, int> best_layers =
        Scores(*participants_, *shared_, e.ceiling_threshold).BestLayers(m.name, features->layers());
    const int best = best_layers.at(kAllTargets);
    models_.push_back({m.name, m.checkpoint, features->layers(), best, best_layers});
    models_.back().features = m.features;

    // 4. The controls at the best layer (residualisation, erasure, variance partitioning, the
    // permutation test), and the data-efficiency sweep at every layer that is some ROI's best
    // (the summary reads each ROI at its own).
    Report(absl::StrCat("controls ", m.name));
    const bool residualise = !e.confounds.empty() && HasControl("residualisation");
    if (residualise) DeclareRemovalControl(m.name, shared_.get());
    const bool partition = HasControl("variance_partitioning");  // the spec requires confounds
    const bool permute = HasControl("permutation");
    if (partition) DeclareVariancePartitioning(m.name, shared_.get());
    if (permute) DeclarePermutationTest(m.name, shared_.get());
    // The best layer of every story heard, read once when the erasure needs it (the sweep below
    // reuses it: a superset of the owned participants' stories).
    std::optional<LayerFeatures> best_heard;
    if (HasControl("erasure")) {
      DeclareErasureControl(m.name, shared_.get());
      // Every rank fits the same eraser from every story heard (the cache), then erases for its own.
      best_heard.emplace();
      for (const std::string& story : participants_->heard) {
        ASSIGN_OR_RETURN((*best_heard)[story], features->Story(*participants_, story, best));
      }
      ASSIGN_OR_RETURN(ErasureFit fit, FitErasure(*participants_, *best_heard, e.erasure_concept));
      // A causal text model: what the erasure costs its next-word prediction (every rank
      // computes the same; rank 0's goes into the summary).
      if (features->text_encoder() != nullptr && features->text_encoder()->config().model_type == "gpt2") {
        Report(absl::StrCat("next-word loss with the erased layer ", m.name));
        ASSIGN_OR_RETURN(fit.next_token, NextTokenLossOfErasure(*features->text_encoder(), *features->tokenizer(),
                                                                *participants_, fit, best));
      }
      const LayerFeatures erased = EraseLayer(fit, *best_heard);
      for (const OwnedParticipant& o : participants_->owned) {
        RETURN_IF_ERROR(RunErasureControl(*fitter_, erased, o, m.name, shared_.get()));
      }
      models_.back().erasure = std::move(fit);
    }
    std::set<int> sweep_layers;
    for (const auto& [roi, layer] : best_layers) sweep_layers.insert(layer);
    for (int layer : sweep_layers) {
      DeclareDataSweep(m.name, layer, e.data_fractions, shared_.get());  // on every rank, owners or not
      LayerFeatures read;
      if (layer != best || !best_heard) {
        ASSIGN_OR_RETURN(read, features->Layer(*participants_, layer));
      }
      const LayerFeatures& at = layer == best && best_heard ? *best_heard : read;
      for (const OwnedParticipant& o : participants_->owned) {
        ASSIGN_OR_RETURN(FitInputs in, fitter_->Inputs(o, ModelFeaturesAt(at)));
        if (layer == best && residualise) {
          RETURN_IF_ERROR(RunRemovalControl(*fitter_, e.confounds, o, in, m.name, shared_.get()));
        }
        if (layer == best && (partition || permute)) {
          // The best layer's own prediction of the test rows (as step 3 fitted it).
          const torch::Tensor prediction = FitRidgeCV(in.x_train, in.y_train, fitter_->ridge()).Predict(in.x_test);
          if (partition) {
            RETURN_IF_ERROR(RunVariancePartitioning(*fitter_, e.confounds, o, in, prediction, m.name, shared_.get()));
          }
          if (permute) RETURN_IF_ERROR(RunPermutationTest(*participants_, e, o, prediction, m.name, shared_.get()));
        }
        RunDataSweep(*fitter_, e.data_fractions, o, in, m.name, layer, shared_.get());
      }
    }
    RETURN_IF_ERROR(shared_->Reduce(comm_));
    // The linear probes, on rank 0 (they do not depend on participants).
    if (comm_->rank() == 0) {
      for (int layer : probes_.empty() ? std::vector<int>{} : features->layers()) {
        // Every story the job's participants heard (not only rank 0's participants'), from the
        // cache: the probes do not depend on how participants are split across ranks.
        LayerFeatures at;
        for (const std::string& story : participants_->heard) {
          ASSIGN_OR_RETURN(at[story], features->Story(*participants_, story, layer));
        }
        for (const std::string& probe : probes_) {
          models_.back().probes.push_back(RunProbe(*participants_, at, layer, probe, fitter_->ridge()));
        }
      }
    }
    ++done_units_;
    return absl::OkStatus();
  }

  bool HasControl(const std::string& control) const {
    const auto& c = spec_.evaluation.controls;
    return std::find(c.begin(), c.end(), control) != c.end();
  }

  // Every rank chose its participants and test stories itself (reading the dataset and the
  // checkpoints): a file changed between their reads would make the summed arrays meaningless.
  absl::Status CheckRanksAgree() {
    const std::string choice = absl::StrCat(absl::StrJoin(participants_->ids, ","), "|",
                                            absl::StrJoin(participants_->test_stories, ","));
    const double mine[2] = {static_cast<double>(participants_->ids.size()),
                            static_cast<double>(std::hash<std::string>()(choice) & ((uint64_t{1} << 40) - 1))};
    double sum[2] = {mine[0], mine[1]};
    RETURN_IF_ERROR(comm_->AllReduceSum(sum, 2));
    if (sum[0] != mine[0] * comm_->size() || sum[1] != mine[1] * comm_->size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          source_, ": the ranks chose different participants or test stories (the dataset or a checkpoint changed"
                   " while they read it?); rank ", comm_->rank(), " chose ", choice));
    }
    return absl::OkStatus();
  }

  // 5. Rank 0 writes the outputs and reports the result; the others wait for it.
  absl::Status Finish() {
    if (comm_->rank() != 0) return comm_->Barrier();
    const std::string dir = fs::absolute(rank::OutputDir(spec_, options_)).string();
    RETURN_IF_ERROR(rank::CreateOutputDir(dir));
    v1::EvaluationSummary summary = Summarise(spec_, *participants_, *shared_, models_, probe_notes_);
    summary.set_feature_cache_hits(cache_hits_);
    summary.set_feature_cache_misses(cache_misses_);
    summary.set_hdf5_path(dir + "/evaluation.h5");
    summary.set_html_path(dir + "/report.html");
    summary.set_json_path(dir + "/evaluation.json");
    summary.set_seconds(std::chrono::duration<double>(Clock::now() - start_).count());
    RETURN_IF_ERROR(WriteEvaluationFiles(summary, *shared_, spec_.evaluation.data_fractions));
    PrintSummary(summary);
    v1::JobResult result = EvaluationResult(summary, dir);
    v1::Progress p;
    p.set_phase("done");
    p.set_step(total_units_);
    p.set_total_steps(total_units_);
    p.set_elapsed_sec(summary.seconds());
    reporter_.Report(p, &result);
    return comm_->Barrier();
  }

  void Report(const std::string& phase) {
    if (comm_->rank() != 0) return;
    std::cout << "braintune-eval: " << phase << std::endl;
    v1::Progress p;
    p.set_phase(phase);
    p.set_step(done_units_);
    p.set_total_steps(total_units_);
    p.set_elapsed_sec(std::chrono::duration<double>(Clock::now() - start_).count());
    reporter_.Report(p);
  }

  const rank::RankOptions options_;
  dist::Communicator* const comm_;
  rank::ProgressReporter reporter_;
  const config::JobSpec spec_;
  const std::string source_;  // the spec's file, for messages
  Clock::time_point start_;
  std::unique_ptr<const Participants> participants_;
  std::unique_ptr<SharedArrays> shared_;     // per-target results, summed across ranks
  std::unique_ptr<EncodingFitter> fitter_;
  std::vector<EvaluatedModel> models_;       // in the spec's order, once fitted
  std::vector<std::string> probes_;          // of evaluation.probes, those with labels
  std::vector<std::string> probe_notes_;     // why the others are skipped
  int cache_hits_ = 0, cache_misses_ = 0;    // summed over ranks and models
  int64_t done_units_ = 0, total_units_ = 0;
};

}  // namespace

absl::Status RunEvaluation(const config::LoadedSpec& spec, const rank::RankOptions& options, dist::Communicator* comm) {
  Evaluator evaluator(spec, options, comm);
  return rank::RunOnRank("braintune-eval", comm, [&] { return evaluator.Run(); });
}

}  // namespace braintune::eval

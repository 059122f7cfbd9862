#include "eval/evaluator.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "config/job_spec.h"
#include "data/dataset.h"
#include "data/hdf5_util.h"
#include "data/hdf5_writer.h"
#include "eval/features.h"
#include "eval/metrics.h"
#include "eval/report.h"
#include "eval/ridge.h"
#include "model/brain_model.h"
#include "train/progress_reporter.h"
#include "train/plan.h"
#include "train/rank.h"

namespace braintune::eval {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Tensor = torch::Tensor;

constexpr char kAll[] = "all";
constexpr std::string_view kCeilingSources[] = {"none", "stored", "repeats", "repeats-mean"};

// Arrays of per-target (or per-participant) results that every rank allocates in the same
// order, fills at its own participants' offsets and sums across ranks, so that afterwards
// every rank holds every participant's values.
class SharedArrays {
 public:
  // Creates the array (zeros) on first use. Arrays hold one value per target of every
  // participant, or with per_target false one value per participant.
  std::vector<float>& Get(const std::string& key, int64_t size, bool per_target = true) {
    auto [it, inserted] = arrays_.try_emplace(key, size, 0.0f);
    if (inserted && !per_target) per_participant_.insert(key);
    return it->second;
  }
  bool PerTarget(const std::string& key) const { return !per_participant_.count(key); }
  const std::vector<float>& At(const std::string& key) const { return arrays_.at(key); }
  bool Has(const std::string& key) const { return arrays_.count(key) > 0; }
  void Put(const std::string& key, int64_t size, int64_t offset, const Tensor& values) {
    Tensor v = values.to(torch::kCPU, torch::kFloat32).contiguous();
    std::copy(v.data_ptr<float>(), v.data_ptr<float>() + v.numel(), Get(key, size).begin() + offset);
  }
  // Sums the arrays created since the last call (every rank must have created the same keys,
  // in any order, and filled them before calling).
  absl::Status Reduce(dist::Communicator* comm) {
    for (auto& [key, values] : arrays_) {
      if (reduced_.insert(key).second) RETURN_IF_ERROR(comm->AllReduceSum(values.data(), static_cast<int64_t>(values.size())));
    }
    return absl::OkStatus();
  }
  const std::map<std::string, std::vector<float>>& all() const { return arrays_; }

 private:
  std::map<std::string, std::vector<float>> arrays_;
  std::set<std::string> per_participant_;
  std::set<std::string> reduced_;
};

Tensor ZScoreColumns(const Tensor& x) {
  Tensor mean = x.mean(0), std = x.std(0, /*unbiased=*/false);
  return torch::where(std > 0, (x - mean) / std, torch::zeros_like(x));
}

// Rows [trim_start, n - trim_end) of a run.
struct Trim {
  int64_t begin = 0, end = 0;
  int64_t rows() const { return std::max<int64_t>(0, end - begin); }
};

struct OwnedParticipant {
  const data::Participant* meta = nullptr;
  int index = 0;          // among the job's participants
  int64_t offset = 0;     // first target in the shared per-target arrays
  std::vector<const data::Run*> train_runs, test_runs;
  Tensor y_train, y_test; // z-scored per story, trimmed [rows, targets] float64
  Tensor ceiling;         // [targets], undefined when unknown
  std::string ceiling_source = "none";  // none, stored, repeats (run + repeats), repeats-mean (run = their mean)
  int64_t ceiling_presentations = 0;    // presentations in the repeats branches
};

// LibTorch's Module::load copies tensors without comparing shapes: check every parameter and
// buffer of `module` against the archive first, naming the first that is missing or differs.
absl::Status CheckShapes(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& path,
                         const config::EvalModelSpec& m) {
  auto fail = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(
        m.checkpoint, ": evaluation.models (", m.name, "): cannot load the encoder with the spec's model.* sizes: ", what));
  };
  for (bool buffers : {false, true}) {
    for (const auto& item : buffers ? module.named_buffers(false) : module.named_parameters(false)) {
      torch::Tensor stored;
      if (!archive.try_read(item.key(), stored, buffers)) return fail(absl::StrCat(path, ".", item.key(), " is missing"));
      if (stored.sizes() != item.value().sizes()) {
        return fail(absl::StrCat(path, ".", item.key(), " is ", c10::str(stored.sizes()), " in the checkpoint, ",
                                 c10::str(item.value().sizes()), " in the model"));
      }
    }
  }
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive sub;
    if (!archive.try_read(child.key(), sub)) return fail(absl::StrCat(path, ".", child.key(), " is missing"));
    RETURN_IF_ERROR(CheckShapes(*child.value(), sub, absl::StrCat(path, ".", child.key()), m));
  }
  return absl::OkStatus();
}

class Evaluator {
 public:
  Evaluator(const train::TrainerOptions& options, dist::Communicator* comm)
      : options_(options), comm_(comm), reporter_(comm->rank() == 0 ? options.coordinator : "", options.job_id) {}

  absl::Status Run() {
    start_ = Clock::now();
    ASSIGN_OR_RETURN(spec_, config::LoadJobSpecFile(options_.spec_path));
    if (spec_.kind != "evaluate") return absl::InvalidArgumentError(absl::StrCat(options_.spec_path, ": kind is not evaluate"));
    const config::EvaluationSpec& e = spec_.evaluation;
    train::ConfigureThreads(options_, *comm_);
    // Ranks wait for each other at the end of each phase; how long is the spec's (an evaluate
    // job's default is longer than a training job's: phases are minutes, not steps).
    comm_->set_timeout_seconds(spec_.distributed.collective_timeout);
    // On a GPU rank the encoder and the linear algebra run there (resources.gpus_per_rank > 0).
    if (spec_.resources.gpus_per_rank > 0 && torch::cuda::is_available()) {
      device_ = torch::Device(torch::kCUDA, comm_->local_rank() % static_cast<int>(torch::cuda::device_count()));
    }
    RETURN_IF_ERROR(Load());
    ridge_.folds = e.folds;
    ridge_.alphas.clear();
    for (int i = 0; i < e.alpha_count; ++i) {
      const double f = e.alpha_count == 1 ? 0 : static_cast<double>(i) / (e.alpha_count - 1);
      ridge_.alphas.push_back(std::exp(std::log(e.alpha_min) + f * (std::log(e.alpha_max) - std::log(e.alpha_min))));
    }
    total_units_ = static_cast<int64_t>(e.models.size()) * 3;
    for (const config::EvalModelSpec& m : e.models) RETURN_IF_ERROR(EvaluateModel(m));
    return Finish();
  }

 private:
  // ---- 1. Data --------------------------------------------------------------------------

  absl::Status Load() {
    data::ReadOptions meta_only;
    meta_only.load_all_responses = false;
    meta_only.load_audio = false;
    meta_only.load_features = false;
    ASSIGN_OR_RETURN(data::Dataset meta, data::ReadDataset(spec_.data.path, meta_only));
    std::set<std::string> wanted(spec_.data.participants.begin(), spec_.data.participants.end());
    for (const std::string& id : wanted) {
      if (!meta.FindParticipant(id)) {
        return absl::InvalidArgumentError(absl::StrCat(options_.spec_path, ": data.participants: '", id,
                                                       "' is not in ", spec_.data.path));
      }
    }
    std::vector<std::string> mine;
    for (const auto& p : meta.participants) {
      if (!wanted.empty() && !wanted.count(p.id)) continue;
      if (static_cast<int>(participant_ids_.size()) % comm_->size() == comm_->rank()) mine.push_back(p.id);
      participant_ids_.push_back(p.id);
      offsets_.push_back(total_targets_);
      total_targets_ += p.n_targets;
      spaces_[p.space] = p.n_targets;
    }
    if (participant_ids_.empty()) return absl::InvalidArgumentError(absl::StrCat(spec_.data.path, ": no participants"));
    // The trainer's rule (train/plan.h), so that evaluating a tuned model holds out what its
    // training held out.
    test_stories_ = spec_.data.test_stories;
    if (test_stories_.empty()) test_stories_ = {train::DefaultTestStory(meta, participant_ids_)};
    for (const std::string& s : test_stories_) {
      if (!meta.FindStory(s)) {
        return absl::InvalidArgumentError(absl::StrCat(options_.spec_path, ": data.test_stories: '", s,
                                                       "' is not a story of ", spec_.data.path));
      }
    }
    // Checked here, on every rank, before any work: every participant must have heard a test
    // story (its score) and a training story (its fit).
    for (const std::string& id : participant_ids_) {
      bool train = false, test = false;
      for (const data::Run& run : meta.FindParticipant(id)->runs) (IsTest(run.story) ? test : train) = true;
      if (!test || !train) {
        return absl::InvalidArgumentError(absl::StrCat(
            spec_.data.path, ": participant ", id, " heard no ", train ? "test" : "training", " story (test stories: ",
            absl::StrJoin(test_stories_, ", "), "); choose data.test_stories or data.participants"));
      }
    }
    data::ReadOptions ro;
    ro.load_all_responses = false;
    ro.load_responses_of = mine;
    ASSIGN_OR_RETURN(dataset_, data::ReadDataset(spec_.data.path, ro));
    for (const data::Participant& p : dataset_.participants) {
      auto it = std::find(participant_ids_.begin(), participant_ids_.end(), p.id);
      if (it == participant_ids_.end()) continue;
      const int index = static_cast<int>(it - participant_ids_.begin());
      for (const auto& [name, indices] : p.rois) rois_.insert(name);
      if (std::find(mine.begin(), mine.end(), p.id) == mine.end()) continue;
      OwnedParticipant o;
      o.meta = &p;
      o.index = index;
      o.offset = offsets_[index];
      std::vector<Tensor> train_y, test_y;
      for (const data::Run& run : p.runs) {
        if (RunTrim(run).rows() == 0) continue;
        const bool test = IsTest(run.story);
        (test ? o.test_runs : o.train_runs).push_back(&run);
        (test ? test_y : train_y).push_back(Responses(run));
      }
      if (o.train_runs.empty() || o.test_runs.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            spec_.data.path, ": participant ", p.id, " has no ", o.train_runs.empty() ? "training" : "test",
            " story with samples left after trimming (test stories: ", absl::StrJoin(test_stories_, ", "), ")"));
      }
      o.y_train = torch::cat(train_y);  // moved to the device per fit, not held there
      o.y_test = torch::cat(test_y);
      SetCeiling(&o);
      owned_.push_back(std::move(o));
    }
    for (const data::Story& s : dataset_.stories) {
      for (const data::Participant& p : dataset_.participants) {
        for (const data::Run& r : p.runs) {
          if (r.story == s.name && std::count(participant_ids_.begin(), participant_ids_.end(), p.id)) {
            heard_.insert(s.name);
          }
        }
      }
    }
    // The control's confounds exist for every story (word and phoneme timings or stored
    // features), before hours of feature extraction.
    for (const std::string& story : heard_) {
      for (const std::string& name : spec_.evaluation.confounds) {
        absl::Status s = StimulusFeature(*dataset_.FindStory(story), name).status();
        if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(spec_.data.path, ": evaluation.confounds: ", s.message()));
      }
    }
    return absl::OkStatus();
  }

  bool IsTest(const std::string& story) const {
    return std::find(test_stories_.begin(), test_stories_.end(), story) != test_stories_.end();
  }

  Trim RunTrim(const data::Run& run) const {
    return {spec_.data.trim_start, run.n_times - spec_.data.trim_end};
  }

  // The run's responses, z-scored per target over the whole run, trimmed. [rows, targets].
  Tensor Responses(const data::Run& run) const {
    Tensor y = torch::from_blob(const_cast<float*>(run.responses.data()), {run.n_times, run.n_targets})
                   .to(torch::kFloat64);
    const Trim t = RunTrim(run);
    return ZScoreColumns(y).narrow(0, t.begin, t.rows());
  }

  // From the test stories' repeats where there are any: when the run is the mean of its
  // repeats (as LeBel's data: equal within 1e-4), the ceiling of the mean of N presentations
  // from the repeats; otherwise the run is one more presentation and the single-presentation
  // ceiling comes from all of them. Which of the two was taken is in the summary's
  // ceiling_source. Else the file's stored ceiling. Over the trimmed rows of the test stories
  // with repeats, each presentation demeaned per story (story means are not signal), stories
  // with as many presentations as the first.
  void SetCeiling(OwnedParticipant* o) const {
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
      const Trim t = RunTrim(*run);
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

  // ---- 2-4. One model ------------------------------------------------------------------

  absl::Status EvaluateModel(const config::EvalModelSpec& m) {
    const config::EvaluationSpec& e = spec_.evaluation;
    // The untrained model is the trainer's before its first step (same seed, same pretrained
    // weights, same adapters).
    ASSIGN_OR_RETURN(model::BrainModel model, train::BuildModel(spec_, spaces_, /*verbose=*/false));
    model->eval();
    const model::Wav2Vec2Config& cfg = model->encoder()->config();
    std::string arch = absl::StrCat(model::HfConfigJson(cfg), spec_.model.finetune, spec_.model.lora.rank,
                                    absl::StrJoin(spec_.model.lora.targets, ","));
    std::string weights = m.checkpoint;
    if (weights.empty() && !spec_.model.pretrained.empty()) {
      ASSIGN_OR_RETURN(model::HfCheckpoint hf, model::ReadHfCheckpoint(spec_.model.pretrained));
      weights = hf.weights_path;
    } else if (weights.empty()) {
      absl::StrAppend(&arch, ":seed", spec_.training.seed);
    }
    ASSIGN_OR_RETURN(std::string key, ModelKey(weights, arch));
    if (!m.checkpoint.empty()) {
      try {
        torch::serialize::InputArchive archive, encoder;
        archive.load_from(m.checkpoint);
        archive.read("encoder", encoder);
        RETURN_IF_ERROR(CheckShapes(*model->encoder(), encoder, "encoder", m));
        model->encoder()->load(encoder);  // leaves the parameters on the archive's device (CPU)
      } catch (const c10::Error& err) {
        return absl::InvalidArgumentError(absl::StrCat(
            m.checkpoint, ": evaluation.models (", m.name, "): cannot load the encoder with the spec's model.* sizes: ",
            err.what_without_backtrace()));
      }
    }
    model->to(device_);
    std::vector<int> layers = e.layers;  // checked against model.layers by the spec parser
    if (layers.empty()) {
      for (int l = 0; l <= cfg.num_hidden_layers; ++l) layers.push_back(l);
    }
    for (int l : layers) {
      if (l > cfg.num_hidden_layers) {
        return absl::InvalidArgumentError(absl::StrCat(options_.spec_path, ": evaluation.layers: ", l,
                                                       " exceeds the model's ", cfg.num_hidden_layers, " layers"));
      }
    }
    FeatureOptions fo;
    fo.context_seconds = e.context_seconds;
    fo.stride_seconds = e.stride_seconds;
    fo.pooling = e.pooling;
    fo.batch_size = e.batch_size;
    fo.cache_dir = e.cache_dir.empty() ? DefaultCacheDir() : e.cache_dir;
    FeatureExtractor extractor(model->encoder(), key, layers, fo);

    // 2. The ranks split the stories into the cache, then every rank reads what it needs.
    Report(absl::StrCat("features ", m.name));
    int i = 0;
    for (const std::string& story : heard_) {
      if (i++ % comm_->size() != comm_->rank()) continue;
      RETURN_IF_ERROR(extractor.Prepare(*dataset_.FindStory(story)));
    }
    RETURN_IF_ERROR(comm_->Barrier());
    ++done_units_;

    // 3. Every layer, every owned participant.
    Report(absl::StrCat("fitting ", m.name));
    const std::string prefix = absl::StrCat("models/", m.name);
    // Every rank declares every array it will sum, owned participants or not.
    const auto n_participants = static_cast<int64_t>(participant_ids_.size());
    PutCeilings();
    for (int layer : layers) {
      shared_.Get(absl::StrCat(prefix, "/layer_", layer, "/r"), total_targets_);
      shared_.Get(absl::StrCat(prefix, "/layer_", layer, "/alpha"), total_targets_);
    }
    for (int layer : layers) {
      shared_.Get(absl::StrCat(prefix, "/layer_", layer, "/cv_r2"), total_targets_);
    }
    for (int layer : layers) {
      ASSIGN_OR_RETURN(Features features, LayerFeatures(extractor, layer));
      for (const OwnedParticipant& o : owned_) {
        ASSIGN_OR_RETURN(auto x, Design(o, ModelFeatures(features)));
        auto& [x_train, x_test] = x;
        const Tensor y_train = o.y_train.to(device_), y_test = o.y_test.to(device_);
        RidgeModel fit = FitRidgeCV(x_train, y_train, ridge_);
        const std::string at = absl::StrCat(prefix, "/layer_", layer);
        PutTargets(at + "/r", o, PearsonPerTarget(fit.Predict(x_test), y_test));
        PutTargets(at + "/alpha", o, fit.alphas);
        PutTargets(at + "/cv_r2", o, fit.cv_r2);
      }
    }
    RETURN_IF_ERROR(shared_.Reduce(comm_));
    double counts[2] = {static_cast<double>(extractor.cache_hits()), static_cast<double>(extractor.cache_misses())};
    RETURN_IF_ERROR(comm_->AllReduceSum(counts, 2));
    cache_hits_ += static_cast<int>(counts[0]);
    cache_misses_ += static_cast<int>(counts[1]);
    ++done_units_;
    ModelLayers& result = models_[m.name];
    result.layers = layers;
    result.checkpoint = m.checkpoint;
    model_order_.push_back(m.name);
    result.best_layer = BestLayer(prefix, layers);

    // 4. The feature-removal control and the data-efficiency sweep at the best layer.
    Report(absl::StrCat("controls ", m.name));
    if (!e.confounds.empty()) shared_.Get(prefix + "/removal/r", total_targets_);
    for (size_t f = 0; f < e.data_fractions.size(); ++f) {
      shared_.Get(absl::StrCat(prefix, "/sweep/", f, "/r"), total_targets_);
      shared_.Get(absl::StrCat(prefix, "/sweep/", f, "/rows"), n_participants, /*per_target=*/false);
    }
    ASSIGN_OR_RETURN(Features features, LayerFeatures(extractor, result.best_layer));
    for (const OwnedParticipant& o : owned_) {
      ASSIGN_OR_RETURN(auto x, Design(o, ModelFeatures(features)));
      auto& [x_train, x_test] = x;
      const Tensor y_train = o.y_train.to(device_), y_test = o.y_test.to(device_);
      if (!e.confounds.empty()) {
        ASSIGN_OR_RETURN(auto c, Design(o, [this](const data::Run& run) { return Confounds(run); }));
        Residuals left = RemoveConfounds(x_train, c.first, x_test, c.second, ridge_);
        RidgeModel fit = FitRidgeCV(left.train, y_train, ridge_);
        PutTargets(prefix + "/removal/r", o, PearsonPerTarget(fit.Predict(left.test), y_test));
      }
      if (!e.data_fractions.empty()) {
        for (size_t f = 0; f < e.data_fractions.size(); ++f) {
          const int64_t rows = std::min<int64_t>(
              x_train.size(0), static_cast<int64_t>(std::ceil(e.data_fractions[f] * x_train.size(0))));
          Tensor r = torch::full({o.meta->n_targets}, std::nan(""), torch::kFloat64);
          if (rows >= std::max(10, 2 * e.folds)) {
            RidgeModel fit = FitRidgeCV(x_train.narrow(0, 0, rows), y_train.narrow(0, 0, rows), ridge_);
            r = PearsonPerTarget(fit.Predict(x_test), y_test);
          }
          PutTargets(absl::StrCat(prefix, "/sweep/", f, "/r"), o, r);
          shared_.Put(absl::StrCat(prefix, "/sweep/", f, "/rows"), n_participants, o.index,
                      torch::tensor({static_cast<double>(rows)}));
        }
      }
    }
    RETURN_IF_ERROR(shared_.Reduce(comm_));
    ++done_units_;
    return absl::OkStatus();
  }

  // Each participant's noise ceiling (0 where unknown) and where it came from, once.
  void PutCeilings() {
    if (ceilings_put_) return;
    ceilings_put_ = true;
    const int64_t n = static_cast<int64_t>(participant_ids_.size());
    shared_.Get("ceiling", total_targets_);
    shared_.Get("ceiling_source", n, /*per_target=*/false);  // index in kCeilingSources
    shared_.Get("ceiling_presentations", n, /*per_target=*/false);
    for (const OwnedParticipant& o : owned_) {
      if (o.ceiling.defined()) PutTargets("ceiling", o, o.ceiling);
      const auto code = std::find(std::begin(kCeilingSources), std::end(kCeilingSources), o.ceiling_source) -
                        std::begin(kCeilingSources);
      shared_.Put("ceiling_source", n, o.index, torch::tensor({static_cast<double>(code)}));
      shared_.Put("ceiling_presentations", n, o.index, torch::tensor({static_cast<double>(o.ceiling_presentations)}));
    }
  }

  void PutTargets(const std::string& key, const OwnedParticipant& o, const Tensor& values) {
    shared_.Put(key, total_targets_, o.offset, values);
  }

  // Features at a run's response times, [n_times, d].
  using AtTimes = std::function<absl::StatusOr<Tensor>(const data::Run&)>;

  // The design matrices of a participant: per run, `at_times(run)` (features at its response
  // times) z-scored over the story, FIR-delayed and trimmed; training runs stacked, then test
  // runs.
  absl::StatusOr<std::pair<Tensor, Tensor>> Design(const OwnedParticipant& o, const AtTimes& at_times) const {
    std::vector<Tensor> parts[2];
    for (int test = 0; test < 2; ++test) {
      for (const data::Run* run : test ? o.test_runs : o.train_runs) {
        ASSIGN_OR_RETURN(Tensor x, at_times(*run));
        const Trim t = RunTrim(*run);
        parts[test].push_back(Delay(ZScoreColumns(x.to(device_)), spec_.evaluation.delays).narrow(0, t.begin, t.rows()));
      }
    }
    return std::pair{torch::cat(parts[0]), torch::cat(parts[1])};
  }

  // One layer's features of every story the rank's participants heard (one layer in memory at
  // a time: 13 layers of a base model over hours of stories would not fit).
  using Features = std::map<std::string, StoryFeatures>;
  absl::StatusOr<Features> LayerFeatures(FeatureExtractor& extractor, int layer) const {
    Features out;
    for (const OwnedParticipant& o : owned_) {
      for (const data::Run& run : o.meta->runs) {
        if (out.count(run.story)) continue;
        ASSIGN_OR_RETURN(out[run.story], extractor.Get(*dataset_.FindStory(run.story), layer));
      }
    }
    return out;
  }

  // Model features (Lanczos-resampled, 3 lobes) at a run's response times.
  static AtTimes ModelFeatures(const Features& features) {
    return [&features](const data::Run& run) -> absl::StatusOr<Tensor> {
      const StoryFeatures& f = features.at(run.story);
      return LanczosResample(f.values.to(torch::kFloat64), f.times, ResponseTimes(run));
    };
  }

  // The confounds of the removal control at a run's response times, one column per name.
  absl::StatusOr<Tensor> Confounds(const data::Run& run) const {
    std::vector<Tensor> columns;
    for (const std::string& name : spec_.evaluation.confounds) {
      ASSIGN_OR_RETURN(TimedValues v, StimulusFeature(*dataset_.FindStory(run.story), name));
      columns.push_back(LanczosResample(v.values, v.times, ResponseTimes(run)));
    }
    return torch::cat(columns, 1);
  }

  static Tensor ResponseTimes(const data::Run& run) {
    return torch::arange(run.n_times, torch::kFloat64) * run.tr + run.t0;
  }

  // ---- Scores from the shared arrays (the same on every rank) ----------------------------

  bool Normalized() const {
    const auto& source = shared_.At("ceiling_source");
    return std::all_of(source.begin(), source.end(), [](float s) { return s > 0; });
  }

  // Where the ceilings came from, in words: "none", "stored", "repeats (run + N repeats)",
  // "repeats (run = mean of N)", or "mixed" when participants differ.
  std::string CeilingSource() const {
    const auto& source = shared_.At("ceiling_source");
    const auto& presentations = shared_.At("ceiling_presentations");
    std::set<std::pair<float, float>> kinds;
    for (size_t p = 0; p < source.size(); ++p) kinds.insert({source[p], presentations[p]});
    if (kinds.size() != 1) return "mixed";
    const auto [code, count] = *kinds.begin();
    const std::string_view name = kCeilingSources[static_cast<int>(code)];
    if (name == "repeats") return absl::StrFormat("repeats (run + %d repeats)", static_cast<int>(count) - 1);
    if (name == "repeats-mean") return absl::StrFormat("repeats (run = mean of %d)", static_cast<int>(count));
    return std::string(name);
  }

  // A participant's score per target from a shared r array: r / ceiling with targets at or
  // below the threshold masked (NaN) when every participant has a ceiling, else r.
  Tensor Scores(const std::vector<float>& r, int p) const {
    Tensor rt = Slice(r, p);
    if (!Normalized()) return rt;
    return NormalizedScores(rt, Slice(shared_.At("ceiling"), p), spec_.evaluation.ceiling_threshold);
  }

  int64_t Targets(int p) const {
    return (p + 1 < static_cast<int>(offsets_.size()) ? offsets_[p + 1] : total_targets_) - offsets_[p];
  }

  const std::map<std::string, std::vector<int32_t>>& RoisOf(int p) const {
    return dataset_.FindParticipant(participant_ids_[p])->rois;
  }

  // ROI -> (participant -> mean score over the ROI's unmasked targets; NaN if none).
  std::map<std::string, std::vector<double>> RoiMeans(const std::vector<float>& r) const {
    std::map<std::string, std::vector<double>> out;
    out[kAll].assign(participant_ids_.size(), std::nan(""));
    for (const std::string& roi : rois_) out[roi].assign(participant_ids_.size(), std::nan(""));
    for (size_t p = 0; p < participant_ids_.size(); ++p) {
      Tensor s = Scores(r, static_cast<int>(p));
      auto mean = [](const MeanSem& m) { return m.n > 0 ? m.mean : std::nan(""); };
      out[kAll][p] = mean(Summarize(s));
      for (const auto& [roi, m] : SummarizeRois(s, RoisOf(static_cast<int>(p)))) out[roi][p] = mean(m);
    }
    return out;
  }

  // The layer with the highest cross-validated R^2 on the training stories (mean over a
  // participant's targets, unmasked ones when scores are normalized, then over participants).
  // Never the test story: choosing on it would bias the reported score upwards.
  int BestLayer(const std::string& prefix, const std::vector<int>& layers) const {
    int best = layers[0];
    double best_score = -INFINITY;
    for (int l : layers) {
      const auto& cv = shared_.At(absl::StrCat(prefix, "/layer_", l, "/cv_r2"));
      std::vector<double> per_participant;
      for (size_t p = 0; p < participant_ids_.size(); ++p) {
        Tensor values = Slice(cv, static_cast<int>(p));
        if (Normalized()) {
          values = values.index({Slice(shared_.At("ceiling"), static_cast<int>(p)) > spec_.evaluation.ceiling_threshold});
        }
        per_participant.push_back(Summarize(values).mean);
      }
      const double s = Summarize(torch::tensor(per_participant, torch::kFloat64)).mean;
      if (s > best_score) best_score = s, best = l;
    }
    return best;
  }

  // Participant p's values in a per-target shared array, float64.
  Tensor Slice(const std::vector<float>& values, int p) const {
    return torch::tensor(std::vector<float>(values.begin() + offsets_[p], values.begin() + offsets_[p] + Targets(p)))
        .to(torch::kFloat64);
  }


  // ---- 5. Summary and outputs (rank 0) --------------------------------------------------

  static void AddRoiScores(const std::map<std::string, std::vector<double>>& means,
                           google::protobuf::RepeatedPtrField<v1::RoiScore>* out) {
    auto add = [&](const std::string& roi) {
      MeanSem ms = Summarize(torch::tensor(means.at(roi), torch::kFloat64));
      v1::RoiScore* s = out->Add();
      s->set_roi(roi);
      s->mutable_score()->set_mean(ms.mean);
      s->mutable_score()->set_sem(ms.sem);
      s->mutable_score()->set_n(ms.n);
    };
    add(kAll);
    for (const auto& [roi, values] : means) {
      if (roi != kAll) add(roi);
    }
  }

  v1::EvaluationSummary Summarise() const {
    const config::EvaluationSpec& e = spec_.evaluation;
    v1::EvaluationSummary s;
    s.set_name(spec_.name);
    s.set_dataset(spec_.data.path);
    s.set_modality(dataset_.modality);
    for (const auto& t : test_stories_) s.add_test_stories(t);
    s.set_score(Normalized() ? "normalized" : "r");
    s.set_ceiling_threshold(e.ceiling_threshold);
    for (const auto& p : participant_ids_) s.add_participants(p);
    s.set_ceiling_source(CeilingSource());
    if (Normalized()) {
      // The ceiling itself, summarised like a score (mean over a ROI's targets per participant).
      std::map<std::string, std::vector<double>> means;
      const auto& c = shared_.At("ceiling");
      means[kAll].assign(participant_ids_.size(), 0);
      for (const auto& roi : rois_) means[roi].assign(participant_ids_.size(), std::nan(""));
      for (size_t p = 0; p < participant_ids_.size(); ++p) {
        Tensor ct = Slice(c, static_cast<int>(p));
        means[kAll][p] = ct.mean().item<double>();
        for (const auto& [roi, m] : SummarizeRois(ct, RoisOf(p))) means[roi][p] = m.mean;
      }
      AddRoiScores(means, s.mutable_noise_ceiling());
    }
    for (const std::string& name : model_order_) {
      const ModelLayers& ml = models_.at(name);
      const std::string prefix = "models/" + name;
      v1::ModelScores* ms = s.add_models();
      ms->set_name(name);
      ms->set_checkpoint(ml.checkpoint);
      ms->set_best_layer(ml.best_layer);
      for (int l : ml.layers) {
        const std::string key = absl::StrCat(prefix, "/layer_", l, "/r");
        v1::LayerScores* ls = ms->add_layers();
        ls->set_layer(l);
        auto means = RoiMeans(shared_.At(key));
        AddRoiScores(means, ls->mutable_rois());
        const auto& r = shared_.At(key);
        for (size_t p = 0; p < participant_ids_.size(); ++p) {
          v1::ParticipantLayerScores* ps = ls->add_participants();
          ps->set_participant(participant_ids_[p]);
          Tensor scores = Scores(r, static_cast<int>(p));
          auto add = [&](const std::string& roi, const MeanSem& m) {
            v1::RoiScore* rs = ps->add_rois();
            rs->set_roi(roi);
            rs->mutable_score()->set_mean(m.mean);
            rs->mutable_score()->set_sem(m.sem);
            rs->mutable_score()->set_n(m.n);
          };
          add(kAll, Summarize(scores));
          for (const auto& [roi, m] : SummarizeRois(scores, RoisOf(static_cast<int>(p)))) add(roi, m);
          ps->set_mean_r(Slice(r, static_cast<int>(p)).mean().item<double>());
        }
      }
      if (shared_.Has(prefix + "/removal/r")) {
        v1::RemovalScores* rm = ms->mutable_removal();
        rm->set_layer(ml.best_layer);
        for (const auto& c : e.confounds) rm->add_confounds(c);
        auto before = RoiMeans(shared_.At(absl::StrCat(prefix, "/layer_", ml.best_layer, "/r")));
        auto after = RoiMeans(shared_.At(prefix + "/removal/r"));
        auto drop = before;
        for (auto& [roi, values] : drop) {
          for (size_t p = 0; p < values.size(); ++p) values[p] -= after[roi][p];
        }
        AddRoiScores(before, rm->mutable_before());
        AddRoiScores(after, rm->mutable_after());
        AddRoiScores(drop, rm->mutable_drop());
      }
      for (size_t f = 0; f < e.data_fractions.size() && shared_.Has(absl::StrCat(prefix, "/sweep/", f, "/r")); ++f) {
        v1::SweepPoint* sp = ms->add_sweep();
        sp->set_fraction(e.data_fractions[f]);
        const auto& rows = shared_.At(absl::StrCat(prefix, "/sweep/", f, "/rows"));
        sp->set_train_samples(static_cast<int64_t>(*std::min_element(rows.begin(), rows.end())));
        AddRoiScores(RoiMeans(shared_.At(absl::StrCat(prefix, "/sweep/", f, "/r"))), sp->mutable_rois());
      }
    }
    // Paired tests: every other model against the first, each at its best layer.
    for (size_t j = 1; j < model_order_.size(); ++j) {
      auto layer_r = [&](const std::string& name) {
        return RoiMeans(shared_.At(absl::StrCat("models/", name, "/layer_", models_.at(name).best_layer, "/r")));
      };
      auto a = layer_r(model_order_[0]), b = layer_r(model_order_[j]);
      for (const auto& [roi, av] : a) {
        PairedTestResult t = PairedSignFlipTest(av, b.at(roi));
        v1::PairedTest* pt = s.add_comparisons();
        pt->set_model_a(model_order_[0]);
        pt->set_model_b(model_order_[j]);
        pt->set_roi(roi);
        for (size_t p = 0; p < participant_ids_.size(); ++p) {
          pt->add_participants(participant_ids_[p]);
          pt->add_a(av[p]);
          pt->add_b(b.at(roi)[p]);
        }
        pt->set_mean_difference(t.mean_difference);
        pt->set_sem_difference(t.sem_difference);
        pt->set_t(t.t);
        pt->set_p_value(t.p_value);
        pt->set_permutations(static_cast<int32_t>(t.permutations));
        pt->set_n(static_cast<int32_t>(t.n));
      }
    }
    s.set_feature_cache_hits(cache_hits_);
    s.set_feature_cache_misses(cache_misses_);
    s.set_context_seconds(e.context_seconds);
    s.set_stride_seconds(e.stride_seconds);
    return s;
  }

  absl::Status WriteHdf5(const std::string& path, const v1::EvaluationSummary& summary) const {
    return WriteAtomically(path, [&](const std::string& tmp) {
      data::internal::SilenceHdf5Errors();
      data::internal::Handle fid =
          data::internal::OwnFile(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
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
      // <key> [participants] (per-participant values); groups on the way are created once.
      std::set<std::string> groups = {"/"};
      auto group = [&](const std::string& p) {
        size_t pos = 0;
        while ((pos = p.find('/', pos + 1)) != std::string::npos) {
          std::string g = p.substr(0, pos);
          if (groups.insert(g).second) check(w.Group(g));
        }
      };
      for (const auto& [key, values] : shared_.all()) {
        if (shared_.PerTarget(key)) {
          for (size_t p = 0; p < participant_ids_.size(); ++p) {
            const std::string name = absl::StrCat("/", key, "/", participant_ids_[p]);
            group(name);
            check(w.Floats(name, {static_cast<hsize_t>(Targets(p))},
                           std::vector<float>(values.begin() + offsets_[p], values.begin() + offsets_[p] + Targets(p))));
          }
        } else {
          group("/" + key);
          check(w.Floats("/" + key, {values.size()}, values));
        }
      }
      check(w.Strings("/participants", participant_ids_));
      std::vector<double> fractions(spec_.evaluation.data_fractions.begin(), spec_.evaluation.data_fractions.end());
      if (!fractions.empty()) check(w.Doubles("/data_fractions", fractions));
    });
  }

  absl::Status Finish() {
    if (comm_->rank() != 0) return comm_->Barrier();
    const std::string dir = fs::absolute(train::OutputDir(spec_, options_)).string();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create output directory: ", ec.message()));
    v1::EvaluationSummary summary = Summarise();
    summary.set_hdf5_path(dir + "/evaluation.h5");
    summary.set_html_path(dir + "/report.html");
    summary.set_json_path(dir + "/evaluation.json");
    summary.set_seconds(std::chrono::duration<double>(Clock::now() - start_).count());
    RETURN_IF_ERROR(WriteHdf5(summary.hdf5_path(), summary));
    RETURN_IF_ERROR(WriteFileAtomically(summary.html_path(), RenderHtmlReport(summary)));
    RETURN_IF_ERROR(WriteFileAtomically(summary.json_path(), ToJson(summary)));
    PrintSummary(summary);
    v1::JobResult result;
    *result.mutable_evaluation() = summary;
    result.set_output_dir(dir);
    result.set_test_story(absl::StrJoin(test_stories_, ","));
    if (!summary.models().empty()) {
      const v1::ModelScores& last = *summary.models().rbegin();
      for (const auto& l : last.layers()) {
        if (l.layer() != last.best_layer()) continue;
        double sum = 0;
        for (const auto& p : l.participants()) sum += p.mean_r();
        result.set_mean_pearson_r(l.participants().empty() ? 0 : sum / l.participants_size());
      }
    }
    v1::Progress p;
    p.set_phase("done");
    p.set_step(total_units_);
    p.set_total_steps(total_units_);
    p.set_elapsed_sec(summary.seconds());
    reporter_.Report(p, &result);
    return comm_->Barrier();
  }

  // One line; `braintune eval` and `braintune status` print the tables (src/cli/eval_command.h).
  void PrintSummary(const v1::EvaluationSummary& s) const {
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

  struct ModelLayers {
    std::vector<int> layers;
    int best_layer = 0;
    std::string checkpoint;
  };

  const train::TrainerOptions options_;
  dist::Communicator* const comm_;
  train::ProgressReporter reporter_;
  Clock::time_point start_;
  config::JobSpec spec_;
  data::Dataset dataset_;
  std::vector<std::string> participant_ids_;  // the job's, sorted
  std::vector<int64_t> offsets_;              // participant -> first target in shared arrays
  int64_t total_targets_ = 0;
  std::map<std::string, int64_t> spaces_;
  std::set<std::string> rois_;
  std::vector<std::string> test_stories_;
  std::set<std::string> heard_;               // stories some participant of the job heard
  std::vector<OwnedParticipant> owned_;
  torch::Device device_ = torch::kCPU;
  RidgeOptions ridge_;
  SharedArrays shared_;
  bool ceilings_put_ = false;
  std::map<std::string, ModelLayers> models_;
  std::vector<std::string> model_order_;
  int cache_hits_ = 0, cache_misses_ = 0;
  int64_t done_units_ = 0, total_units_ = 0;
};

}  // namespace

absl::Status RunEvaluation(const train::TrainerOptions& options, dist::Communicator* comm) {
  Evaluator evaluator(options, comm);
  return train::RunOnRank("braintune-eval", comm, [&] { return evaluator.Run(); });
}

}  // namespace braintune::eval

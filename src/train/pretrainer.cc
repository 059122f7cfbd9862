#include "train/pretrainer.h"

#include <google/protobuf/struct.pb.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "data/dataset.h"
#include "data/resample.h"
#include "ddp/reducer.h"
#include "model/autocast.h"
#include "model/brain_model.h"
#include "model/input_contract.h"
#include "rank/model_from_spec.h"
#include "rank/progress_reporter.h"
#include "train/rank_device.h"
#include "train/recipe.h"
#include "train/tuning_record.h"

namespace braintune::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kDefaultClipSeconds = 4;
constexpr char kSilence[] = "SIL";
constexpr int64_t kIgnored = -100;  // a test frame whose phoneme no training story has

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

struct LabelledStory {
  std::string name;
  std::vector<float> audio;              // at the heard rate
  std::vector<data::Interval> phonemes;  // sorted by onset
};

// Where encoder frame f of a clip sits: it sees samples [f * stride, f * stride + receptive).
struct FrameGeometry {
  int64_t stride = 0;
  int64_t receptive = 0;
};

FrameGeometry GeometryOf(const model::Wav2Vec2Config& c) {
  FrameGeometry g{1, 1};
  for (size_t i = 0; i < c.conv_kernel.size(); ++i) {
    g.receptive += (c.conv_kernel[i] - 1) * g.stride;
    g.stride *= c.conv_stride[i];
  }
  return g;
}

// One rank's pretraining job. Thread model: one thread calls Run, once.
class Pretrainer {
 public:
  Pretrainer(const config::LoadedSpec& spec, const rank::RankOptions& options, dist::Communicator* comm)
      : options_(options),
        comm_(comm),
        reporter_(comm->rank() == 0 ? options.coordinator : "", options.job_id),
        spec_(spec.spec),
        source_(spec.source) {}

  absl::Status Run() {
    const auto start = Clock::now();
    ASSIGN_OR_RETURN(input_, rank::InputContractOf(spec_.model));
    if (comm_->rank() == 0) RETURN_IF_ERROR(rank::CreateOutputDir(rank::OutputDir(spec_, options_)));
    RETURN_IF_ERROR(Load());
    Report("loading", 0, 0, Seconds(start));
    RETURN_IF_ERROR(BuildModel());
    RETURN_IF_ERROR(reducer_->BroadcastParameters());
    ASSIGN_OR_RETURN(const double before, Accuracy());
    if (comm_->rank() == 0) {
      std::cout << absl::StrFormat("braintune-train: phoneme frame accuracy before pretraining %.3f on %s", before,
                                   absl::StrJoin(test_names_, ","))
                << std::endl;
    }
    const config::TrainingSpec& t = spec_.training;
    const auto train_start = Clock::now();
    double loss = 0;
    for (int64_t step = 1; step <= t.steps; ++step) {
      ASSIGN_OR_RETURN(loss, Step(step));
      if (step % t.log_every == 0 || step == t.steps) {
        const double elapsed = Seconds(train_start);
        if (comm_->rank() == 0) {
          std::cout << absl::StrFormat("step %d/%d  loss %.4f  lr %.3g  %.2f steps/s", step, t.steps, loss,
                                       t.lr * LearningRateFactor(t, step), step / elapsed)
                    << std::endl;
        }
        Report("training", step, loss, Seconds(start), elapsed);
      }
    }
    const double train_seconds = Seconds(train_start);
    Report("evaluating", t.steps, loss, Seconds(start), train_seconds);
    ASSIGN_OR_RETURN(const double after, Accuracy());
    return Finish(before, after, loss, train_seconds, Seconds(start));
  }

 private:
  absl::Status Load() {
    const std::string& path = spec_.data.path;
    data::ReadOptions ro;
    ro.load_all_responses = false;
    ro.load_features = false;
    ASSIGN_OR_RETURN(data::Dataset d, data::ReadDataset(path, ro));
    if (d.stories.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no stories under /stimuli"));
    if (!spec_.model.pretrained.empty()) {
      ASSIGN_OR_RETURN(base_record_, ReadTuningRecord(spec_.model.pretrained));
    }
    std::vector<std::string> test = spec_.data.test_stories;
    if (test.empty()) test.push_back(d.stories.back().name);
    for (const std::string& name : test) {
      if (d.FindStory(name) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(source_, ": data.test_stories: '", name, "' is not a story of ", path));
      }
    }
    std::set<std::string> test_set(test.begin(), test.end()), seen;
    double heard = 0;
    for (data::Story& s : d.stories) {
      const std::string where = absl::StrCat(path, ": /stimuli/", s.name);
      if (s.phonemes.empty()) {
        if (comm_->rank() == 0) std::cout << "braintune-train: " << where << " has no phonemes: not used" << std::endl;
        continue;
      }
      ASSIGN_OR_RETURN(const double rate, model::HeardRate(input_, s.sample_rate, spec_.data.resample, where + "/audio"));
      if (heard != 0 && rate != heard) {
        return absl::InvalidArgumentError(absl::StrCat(where, "/audio: recorded at ", s.sample_rate, " Hz, unlike the ",
                                                       heard, " Hz of the stories before it; a model without a rate of its own ",
                                                       "(model.pretrained's preprocessor_config.json) hears one rate"));
      }
      heard = rate;
      LabelledStory ls{s.name, {}, std::move(s.phonemes)};
      if (rate != s.sample_rate) {
        ASSIGN_OR_RETURN(ls.audio, data::Resample(s.audio, s.sample_rate, rate, where + "/audio"));
      } else {
        ls.audio = std::move(s.audio);
      }
      if (test_set.count(s.name)) {
        test_names_.push_back(s.name);
        test_stories_.push_back(std::move(ls));
      } else {
        for (const data::Interval& p : ls.phonemes) seen.insert(p.text);
        train_stories_.push_back(std::move(ls));
      }
    }
    if (train_stories_.empty() || test_stories_.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": pretraining needs phoneme timings (/stimuli/<story>/phonemes) in at least one training story and one ",
          "test story (data.test_stories); found ", train_stories_.size(), " and ", test_stories_.size()));
    }
    seen.erase(kSilence);
    labels_ = {kSilence};
    labels_.insert(labels_.end(), seen.begin(), seen.end());
    if (labels_.size() > static_cast<size_t>(kMaxPhonemeLabels)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": the training stories have ", labels_.size(),
                                                     " distinct phonemes; pretraining classifies at most ",
                                                     kMaxPhonemeLabels));
    }
    for (size_t i = 0; i < labels_.size(); ++i) label_index_[labels_[i]] = static_cast<int64_t>(i);
    rate_ = heard;
    const double seconds = spec_.data.context_seconds > 0 ? spec_.data.context_seconds : kDefaultClipSeconds;
    window_ = std::llround(seconds * rate_);
    for (const LabelledStory& s : train_stories_) {
      if (static_cast<int64_t>(s.audio.size()) >= window_) drawable_.push_back(&s);
    }
    if (drawable_.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": data.context_seconds: clips of ", seconds,
                                                     " s are longer than every training story"));
    }
    std::vector<double> starts;  // clip starts per drawable story: its weight in every batch
    for (const LabelledStory* s : drawable_) starts.push_back(static_cast<double>(s->audio.size() - window_ + 1));
    pick_story_ = std::discrete_distribution<size_t>(starts.begin(), starts.end());
    if (comm_->rank() == 0) {
      std::cout << absl::StrFormat(
                       "braintune-train: pretraining on phonemes: %d training stories, %d test stories (%s), %d labels "
                       "(%s and %d phonemes), %.1f s clips at %g Hz (%s)",
                       train_stories_.size(), test_stories_.size(), absl::StrJoin(test_names_, ","), labels_.size(),
                       kSilence, labels_.size() - 1, seconds, rate_, input_.Describe())
                << std::endl;
    }
    return absl::OkStatus();
  }

  absl::Status BuildModel() {
    rank::ConfigureThreads(options_, *comm_);
    ASSIGN_OR_RETURN(rank_device_, PickDevice(spec_, source_, *comm_));
    ASSIGN_OR_RETURN(model_, rank::BuildModel(spec_, {}, comm_->rank() == 0));
    const model::Wav2Vec2Config& config = model_->encoder()->config();
    geometry_ = GeometryOf(config);
    frames_ = config.Frames(window_);
    if (frames_ < 1) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": data.context_seconds: a clip of ", window_,
                                                     " samples is shorter than one encoder frame (", geometry_.receptive,
                                                     " samples)"));
    }
    classifier_ = torch::nn::Linear(config.hidden_size, static_cast<int64_t>(labels_.size()));
    model_->to(rank_device_.device);
    classifier_->to(rank_device_.device);
    std::vector<torch::Tensor> encoder, params = model_->encoder()->parameters(), head = classifier_->parameters();
    for (const auto& p : params) {
      if (p.requires_grad()) encoder.push_back(p);
    }
    trainable_ = encoder;
    trainable_.insert(trainable_.end(), head.begin(), head.end());
    params.insert(params.end(), head.begin(), head.end());
    reducer_ = MakeReducer(spec_, comm_, rank_device_, params);
    optimizer_ = MakeOptimizer(spec_.training, std::move(encoder), std::move(head));
    return absl::OkStatus();
  }

  // The label of every frame of the clip of `s` starting at sample `begin`.
  void Label(const LabelledStory& s, int64_t begin, std::vector<int64_t>* out) const {
    for (int64_t f = 0; f < frames_; ++f) {
      const double t = (begin + f * geometry_.stride + geometry_.receptive / 2.0) / rate_;
      auto it = std::upper_bound(s.phonemes.begin(), s.phonemes.end(), t,
                                 [](double time, const data::Interval& p) { return time < p.onset; });
      int64_t label = 0;  // silence
      if (it != s.phonemes.begin() && t < std::prev(it)->offset) {
        auto found = label_index_.find(std::prev(it)->text);
        label = found == label_index_.end() ? kIgnored : found->second;
      }
      out->push_back(label);
    }
  }

  // Clips [lo, hi) as the model hears them ([n, window] on the device) and their frame labels
  // ([n * frames]).
  std::pair<torch::Tensor, torch::Tensor> Clips(const std::vector<std::pair<const LabelledStory*, int64_t>>& clips,
                                                size_t lo, size_t hi) const {
    std::vector<float> audio((hi - lo) * window_);
    std::vector<int64_t> labels;
    for (size_t i = lo; i < hi; ++i) {
      const auto& [s, begin] = clips[i];
      float* w = audio.data() + (i - lo) * window_;
      std::copy(s->audio.begin() + begin, s->audio.begin() + begin + window_, w);
      model::PrepareWindow(input_, w, window_, 0, window_);
      Label(*s, begin, &labels);
    }
    // A copy: `audio` ends with this call.
    torch::Tensor a = torch::from_blob(audio.data(), {static_cast<int64_t>(hi - lo), window_}).clone().to(rank_device_.device);
    torch::Tensor l = torch::tensor(labels, torch::kLong).to(rank_device_.device);
    return {a, l};
  }

  // Frame logits [n * frames, labels].
  torch::Tensor Logits(const torch::Tensor& audio) {
    model::Bf16Autocast autocast(rank_device_.bf16);
    torch::Tensor hidden = model_->encoder()->forward(audio);
    return classifier_->forward(hidden.reshape({-1, hidden.size(-1)})).to(torch::kFloat);
  }

  absl::StatusOr<double> Step(int64_t step) {
    const config::TrainingSpec& t = spec_.training;
    torch::manual_seed(t.seed * 1000003ull + static_cast<uint64_t>(step) * 7919ull + comm_->rank());
    model_->train();
    classifier_->train();
    ScheduleLearningRates(t, step, optimizer_.get());
    // The global batch, the same on every rank: stories weighted by their clip starts.
    std::mt19937_64 rng(t.seed * 1000003ull + static_cast<uint64_t>(step));
    std::discrete_distribution<size_t> pick = pick_story_;  // a fresh copy: the same draws on every rank
    std::vector<std::pair<const LabelledStory*, int64_t>> clips;
    for (int b = 0; b < t.batch_size; ++b) {
      const LabelledStory* s = drawable_[pick(rng)];
      clips.push_back({s, static_cast<int64_t>(rng() % static_cast<uint64_t>(s->audio.size() - window_ + 1))});
    }
    const size_t lo = clips.size() * comm_->rank() / comm_->size(), hi = clips.size() * (comm_->rank() + 1) / comm_->size();
    const int64_t global = static_cast<int64_t>(clips.size()) * frames_, local = static_cast<int64_t>(hi - lo) * frames_;
    optimizer_->zero_grad();
    reducer_->Prepare(local, global);
    double weighted = 0;
    if (hi > lo) {
      auto [audio, labels] = Clips(clips, lo, hi);
      torch::Tensor loss = torch::nn::functional::cross_entropy(
          Logits(audio), labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kMean));
      loss.backward();
      weighted = loss.item<double>() * local / global;
    }
    RETURN_IF_ERROR(reducer_->Finish());
    torch::nn::utils::clip_grad_norm_(trainable_, t.grad_clip);
    optimizer_->step();
    RETURN_IF_ERROR(comm_->AllReduceSum(&weighted, 1));
    return weighted;
  }

  // The clips tiling the test stories (whole clips from each story's start).
  std::vector<std::pair<const LabelledStory*, int64_t>> TestClips() const {
    std::vector<std::pair<const LabelledStory*, int64_t>> clips;
    for (const LabelledStory& s : test_stories_) {
      for (int64_t begin = 0; begin + window_ <= static_cast<int64_t>(s.audio.size()); begin += window_) {
        clips.push_back({&s, begin});
      }
    }
    return clips;
  }

  // Frame accuracy on the test stories: each rank scores every size-th clip.
  absl::StatusOr<double> Accuracy() {
    torch::NoGradGuard no_grad;
    model_->eval();
    classifier_->eval();
    std::vector<std::pair<const LabelledStory*, int64_t>> mine, all = TestClips();
    for (size_t i = comm_->rank(); i < all.size(); i += comm_->size()) mine.push_back(all[i]);
    double counts[2] = {0, 0};  // correct, labelled
    const size_t batch = static_cast<size_t>(spec_.training.eval_batch_size);
    for (size_t lo = 0; lo < mine.size(); lo += batch) {
      auto [audio, labels] = Clips(mine, lo, std::min(mine.size(), lo + batch));
      torch::Tensor predicted = Logits(audio).argmax(1);
      torch::Tensor labelled = labels.ne(kIgnored);
      counts[0] += predicted.eq(labels).logical_and(labelled).sum().item<double>();
      counts[1] += labelled.sum().item<double>();
    }
    RETURN_IF_ERROR(comm_->AllReduceSum(counts, 2));
    test_frames_ = static_cast<int64_t>(counts[1]);
    return counts[1] > 0 ? counts[0] / counts[1] : 0.0;
  }

  // The share of the test frames that the most frequent label has: what always guessing it scores.
  double Chance() const {
    std::map<int64_t, int64_t> count;
    int64_t total = 0;
    for (const auto& [s, begin] : TestClips()) {
      std::vector<int64_t> labels;
      Label(*s, begin, &labels);
      for (int64_t l : labels) {
        if (l != kIgnored) ++count[l], ++total;
      }
    }
    int64_t most = 0;
    for (const auto& [label, n] : count) most = std::max(most, n);
    return total > 0 ? static_cast<double>(most) / total : 0.0;
  }

  void Report(const std::string& phase, int64_t step, double loss, double elapsed, double train_elapsed = 0,
              const v1::JobResult* result = nullptr) {
    if (comm_->rank() != 0) return;
    reporter_.Report(rank::TrainingProgress(phase, step, spec_.training.steps, loss, elapsed, step,
                                            spec_.training.batch_size, train_elapsed),
                     result);
  }

  absl::Status Finish(double before, double after, double loss, double train_seconds, double elapsed) {
    if (comm_->rank() != 0) return comm_->Barrier();
    const std::string dir = fs::absolute(rank::OutputDir(spec_, options_)).string();
    const std::string hf = dir + "/hf";
    v1::JobResult result;
    result.set_output_dir(dir);
    result.set_checkpoint_path(hf);
    result.set_steps(spec_.training.steps);
    result.set_test_story(absl::StrJoin(test_names_, ","));
    if (train_seconds > 0) {
      result.set_steps_per_sec(spec_.training.steps / train_seconds);
      result.set_samples_per_sec(spec_.training.steps * spec_.training.batch_size / train_seconds);
    }
    v1::PretrainResult* p = result.mutable_pretrain();
    p->set_phoneme_accuracy(after);
    p->set_phoneme_accuracy_untrained(before);
    p->set_chance(Chance());
    p->set_labels(static_cast<int32_t>(labels_.size()));
    p->set_frames(test_frames_);
    p->set_hf_dir(hf);
    torch::Tensor weight = classifier_->weight.detach().to(torch::kCPU), bias = classifier_->bias.detach().to(torch::kCPU);
    RETURN_IF_ERROR(model::ExportHf(model_->encoder(), hf, {{"classifier.weight", weight}, {"classifier.bias", bias}},
                                    "phoneme_classifier.safetensors"));
    model::InputContract heard = input_;
    heard.sampling_rate = rate_;
    RETURN_IF_ERROR(WriteFileAtomically(hf + "/preprocessor_config.json", model::PreprocessorConfigJson(heard)));
    // It learned from the training stories' sound and annotations, from no one's responses.
    RETURN_IF_ERROR(WriteTuningRecord(hf, Lineage(base_record_, {}, test_names_)));
    google::protobuf::Struct labels;
    auto& fields = *labels.mutable_fields();
    for (const std::string& l : labels_) fields["labels"].mutable_list_value()->add_values()->set_string_value(l);
    fields["frame_seconds"].set_number_value(geometry_.stride / rate_);
    fields["receptive_seconds"].set_number_value(geometry_.receptive / rate_);
    RETURN_IF_ERROR(WriteFileAtomically(dir + "/phonemes.json", ToJson(labels)));
    RETURN_IF_ERROR(WriteFileAtomically(dir + "/result.json", ToJson(result)));
    std::cout << absl::StrFormat(
                     "braintune-train: done: phoneme frame accuracy %.3f (before %.3f, chance %.3f) on %d test frames; "
                     "model.pretrained: %s",
                     after, before, p->chance(), test_frames_, hf)
              << std::endl;
    Report("done", spec_.training.steps, loss, elapsed, train_seconds, &result);
    return comm_->Barrier();
  }

  const rank::RankOptions options_;
  dist::Communicator* const comm_;
  rank::ProgressReporter reporter_;
  const config::JobSpec spec_;
  const std::string source_;
  model::InputContract input_;
  std::vector<LabelledStory> train_stories_, test_stories_;
  std::vector<const LabelledStory*> drawable_;  // training stories at least one clip long
  std::discrete_distribution<size_t> pick_story_;  // over drawable_, weighted by clip starts
  std::vector<std::string> test_names_;
  std::optional<v1::TuningRecord> base_record_;  // model.pretrained's (tuning_record.h), if it has one
  std::vector<std::string> labels_;             // "SIL", then the phonemes, sorted
  std::map<std::string, int64_t> label_index_;
  double rate_ = 0;                             // Hz the model hears
  int64_t window_ = 0;                          // samples per clip
  int64_t frames_ = 0;                          // encoder frames per clip
  FrameGeometry geometry_;
  int64_t test_frames_ = 0;
  model::BrainModel model_{nullptr};
  torch::nn::Linear classifier_{nullptr};
  RankDevice rank_device_;  // where it computes; NCCL and bf16 on a GPU
  std::vector<torch::Tensor> trainable_;
  std::unique_ptr<ddp::GradientReducer> reducer_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
};

}  // namespace

absl::Status RunPretraining(const config::LoadedSpec& spec, const rank::RankOptions& options, dist::Communicator* comm) {
  Pretrainer pretrainer(spec, options, comm);
  return rank::RunOnRank("braintune-train", comm, [&] { return pretrainer.Run(); });
}

}  // namespace braintune::train

#include "train/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "common/files.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "config/job_spec.h"
#include "data/dataset.h"
#include "ddp/reducer.h"
#include "dist/device_memory.h"
#include "eval/metrics.h"  // the one Pearson r, as the evaluator scores
#include "model/autocast.h"
#include "model/brain_model.h"
#include "model/text_config.h"
#include "model/tokenizer.h"
#include "rank/model_from_spec.h"
#include "rank/progress_reporter.h"
#include "rank/rank.h"
#include "train/checkpoints.h"
#include "train/early_stopping.h"
#include "train/loader.h"
#include "train/plan.h"
#include "train/rank_device.h"
#include "train/recipe.h"
#include "train/text_sample.h"
#include "train/tuning_record.h"

namespace braintune::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Views a loader buffer as a tensor (no copy; the buffer outlives the forward pass).
torch::Tensor View(std::vector<float>& values, int64_t rows, int64_t cols) {
  return torch::from_blob(values.data(), {rows, cols});
}

int64_t CountParams(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

// Set by SIGTERM (the agent stopping the job: preemption, cancel); read once per step.
std::atomic<bool> g_stop_requested{false};
void OnSigterm(int) { g_stop_requested.store(true); }

// One rank's training job: the step loop, evaluation before and after, and the result; it
// delegates checkpoints (checkpoints.h), early stopping (early_stopping.h), the recipe
// (recipe.h) and the data (loader.h). Thread model: one thread calls Run, once.
class Trainer {
 public:
  Trainer(const config::LoadedSpec& spec, const rank::RankOptions& options, dist::Communicator* comm)
      : options_(options),
        comm_(comm),
        reporter_(comm->rank() == 0 ? options.coordinator : "", options.job_id),
        spec_(spec.spec),
        source_(spec.source),
        checkpoints_(rank::OutputDir(spec.spec, options), spec.text, spec.spec.data.path, spec.spec.training, comm),
        early_stopping_(spec.spec.training.patience, spec.spec.training.steps, comm->rank() == 0) {}

  absl::Status Run() {
    auto start = Clock::now();
    ASSIGN_OR_RETURN(input_, rank::InputContractOf(spec_.model));
    checkpoints_.set_input_contract(model::PreprocessorConfigJson(input_));
    ASSIGN_OR_RETURN(Checkpoints::Resume resume, checkpoints_.FindResume());
    first_step_ = resume.first_step;
    last_step_ = resume.last_step;
    finished_ = resume.finished;
    // Before any work: an output directory that cannot be made fails the job now, not at the end.
    if (comm_->rank() == 0) RETURN_IF_ERROR(rank::CreateOutputDir(rank::OutputDir(spec_, options_)));
    RETURN_IF_ERROR(Load());
    Report("loading", first_step_ - 1, 0, Seconds(start));
    RETURN_IF_ERROR(BuildModel());
    std::vector<double> r_before, r_after;
    if (first_step_ > 1) {
      RETURN_IF_ERROR(checkpoints_.Load(model_.get(), rank_device_.device, optimizer_.get(), &r_before, &early_stopping_));
    }
    RETURN_IF_ERROR(reducer_->BroadcastParameters());
    RETURN_IF_ERROR(ddp::BroadcastOptimizerState(comm_, *optimizer_));
    if (first_step_ == 1) RETURN_IF_ERROR(Evaluate(&r_before));
    auto train_start = Clock::now();
    double last_loss = 0;
    const config::TrainingSpec& t = spec_.training;
    for (int64_t step = first_step_; step <= t.steps && !finished_; ++step) {
      ASSIGN_OR_RETURN(last_loss, Step(step));
      last_step_ = step;
      if (step % t.log_every == 0 || step == t.steps) {
        double elapsed = Seconds(train_start);
        const int64_t done = step - first_step_ + 1;
        if (comm_->rank() == 0) {
          std::cout << absl::StrFormat("step %d/%d  loss %.4f  lr %.3g  %.2f steps/s  %.1f samples/s", step, t.steps,
                                       last_loss, t.lr * LearningRateFactor(t, step), done / elapsed,
                                       done * t.batch_size / elapsed)
                    << std::endl;
        }
        Report("training", step, last_loss, Seconds(start), elapsed);
      }
      if (t.validation_every > 0 && !plan_.validation_windows.empty() && (step % t.validation_every == 0 || step == t.steps)) {
        RETURN_IF_ERROR(Validate(step));
      }
      if (stop_requested_ && step < t.steps && !finished_) {
        // Preempted or stopped: checkpoint where we are, so the next launch loses nothing.
        RETURN_IF_ERROR(SaveCheckpoint(step, r_before));
        RETURN_IF_ERROR(comm_->Barrier());
        return absl::AbortedError(absl::StrCat("stopped by SIGTERM after step ", step, "; ", checkpoints_.PathOf(step),
                                               " holds it for the next launch"));
      }
      if (t.checkpoint_every > 0 && step % t.checkpoint_every == 0 && step < t.steps && !finished_) {
        RETURN_IF_ERROR(SaveCheckpoint(step, r_before));
      }
    }
    double train_seconds = Seconds(train_start);
    if (last_step_ >= first_step_) {  // trained in this launch: the final checkpoint
      finished_ = true;
      if (t.checkpoint_every > 0) RETURN_IF_ERROR(SaveCheckpoint(last_step_, r_before));
    }
    early_stopping_.RestoreBest(params_);
    Report("evaluating", last_step_, last_loss, Seconds(start), train_seconds);
    RETURN_IF_ERROR(Evaluate(&r_after));
    return Finish(r_before, r_after, last_loss, train_seconds, Seconds(start));
  }

 private:
  absl::Status SaveCheckpoint(int64_t step, const std::vector<double>& r_before) {
    return checkpoints_.Save(step, finished_, *model_, *optimizer_, r_before, early_stopping_);
  }

  absl::Status Load() {
    const std::string& path = spec_.data.path;
    data::ReadOptions meta_only;
    meta_only.load_all_responses = false;
    meta_only.load_audio = false;
    ASSIGN_OR_RETURN(data::Dataset meta, data::ReadDataset(path, meta_only));
    ASSIGN_OR_RETURN(const bool text, rank::IsTextModel(spec_.model));
    ASSIGN_OR_RETURN(plan_, MakePlan(meta, spec_.data, input_, text));
    // What the weights it starts from learned from: carried into this job's own record.
    if (!spec_.model.pretrained.empty()) {
      ASSIGN_OR_RETURN(base_record_, ReadTuningRecord(spec_.model.pretrained));
    }
    if (text) {
      RETURN_IF_ERROR(TokenizeStories(meta));
    } else if (comm_->rank() == 0) {
      std::cout << InputTable(plan_) << std::flush;
    }
    std::set<std::string> wanted(spec_.data.participants.begin(), spec_.data.participants.end());
    std::map<std::string, std::vector<int32_t>> columns;  // participant -> data.target_roi's targets
    const std::string& roi = spec_.data.target_roi;
    for (const auto& p : meta.participants) {
      if (!wanted.empty() && !wanted.count(p.id)) continue;
      int64_t targets = p.n_targets;
      if (!roi.empty()) {
        auto it = p.rois.find(roi);
        if (it == p.rois.end()) {
          return absl::InvalidArgumentError(absl::StrCat(path, ": /participants/", p.id, "/rois/", roi,
                                                         ": no such ROI (data.target_roi in ", source_, ")"));
        }
        // The reader has checked the ROI: not empty, distinct indices in [0, n_targets).
        std::vector<int32_t> cols = it->second;
        std::sort(cols.begin(), cols.end());
        targets = static_cast<int64_t>(cols.size());
        columns[p.id] = std::move(cols);
      }
      if (auto [it, inserted] = spaces_.emplace(p.space, targets); !inserted && it->second != targets && !roi.empty() &&
                                                                  spec_.model.head != "participant") {
        return absl::InvalidArgumentError(absl::StrCat(path, ": /participants/", p.id, "/rois/", roi, ": ", targets,
                                                       " targets where other participants of space ", p.space, " have ",
                                                       it->second, "; a shared head needs the same targets (model.head: participant does not)"));
      }
      participant_ids_.push_back(p.id);
      participant_targets_[p.id] = targets;
      for (const auto& r : p.runs) {
        if (int s = StoryIndex(plan_, r.story); s >= 0) heard_by_[s] += 1;
      }
    }
    ASSIGN_OR_RETURN(assignment_, AssignShards(meta, plan_, participant_ids_, comm_->size()));
    if (comm_->rank() == 0) std::cout << ShardingTable(plan_, assignment_, participant_ids_.size()) << std::flush;
    std::vector<OwnedShard> owned;
    for (const Shard& shard : assignment_[comm_->rank()]) {
      const data::Participant* p = meta.FindParticipant(shard.participant);
      OwnedShard o{shard, p->space, participant_targets_.at(p->id), {}, {}, {}, p->n_targets};
      if (auto it = columns.find(p->id); it != columns.end()) o.columns = it->second;
      owned.push_back(std::move(o));
    }
    LoaderOptions lo;
    lo.seed = spec_.training.seed;
    lo.batch_size = spec_.training.batch_size;
    lo.text = text_samples_ ? &*text_samples_ : nullptr;
    ASSIGN_OR_RETURN(loader_, Loader::Start(path, plan_, std::move(owned), lo, first_step_));
    return absl::OkStatus();
  }

  // A text model's plan: every story's words through the model's tokenizer (text_sample.h).
  absl::Status TokenizeStories(const data::Dataset& meta) {
    const std::string config_path = spec_.model.pretrained + "/config.json";
    ASSIGN_OR_RETURN(std::string json, ReadWholeFile(config_path, "model.pretrained config"));
    ASSIGN_OR_RETURN(model::TextModelConfig config, model::ParseTextConfig(json, config_path));
    ASSIGN_OR_RETURN(std::unique_ptr<model::Tokenizer> tokenizer, model::ReadTokenizer(spec_.model.pretrained, config.model_type));
    ASSIGN_OR_RETURN(TextSamples samples, TextSamples::Make(plan_, meta, *tokenizer, config.vocab_size,
                                                            config.max_position_embeddings));
    text_samples_ = std::move(samples);
    if (comm_->rank() == 0) {
      std::cout << absl::StrFormat(
                       "braintune-train: a %s text model reads the words heard in the %.1f s before each response sample "
                       "(%.1f tokens per training sample on average, %s tokens); its states at each word's last token are pooled (%s)",
                       config.model_type, plan_.window_seconds, text_samples_->MeanTokens(plan_, plan_.train_windows),
                       config.model_type == "gpt2" ? "byte-level BPE" : "WordPiece", spec_.model.pooling)
                << std::endl;
    }
    return absl::OkStatus();
  }

  // The head a shard's predictions come from (training.head: its space's, or its participant's).
  const std::string& HeadOf(const OwnedShard& owned) const {
    return spec_.model.head == "participant" ? head_of_participant_.at(owned.shard.participant) : owned.space;
  }

  absl::Status BuildModel() {
    const int threads = rank::ConfigureThreads(options_, *comm_);
    const config::TrainingSpec& t = spec_.training;
    ASSIGN_OR_RETURN(rank_device_, PickDevice(spec_, source_, *comm_));
    const bool gpu = rank_device_.gpu();
    std::map<std::string, int64_t> heads = spaces_;
    if (spec_.model.head == "participant") {
      heads.clear();
      for (const auto& [pid, targets] : participant_targets_) {
        std::string name = pid;
        std::replace(name.begin(), name.end(), '.', '_');  // module names cannot hold dots
        head_of_participant_[pid] = name;
        heads[name] = targets;
      }
    }
    ASSIGN_OR_RETURN(model_, rank::BuildModel(spec_, heads, comm_->rank() == 0));
    model_->to(rank_device_.device);
    params_ = model_->parameters();
    std::set<const void*> head_set;
    for (const auto& p : model_->HeadParameters()) head_set.insert(p.unsafeGetTensorImpl());
    std::vector<torch::Tensor> encoder, head;
    for (const auto& p : params_) {
      if (!p.requires_grad()) continue;
      (head_set.count(p.unsafeGetTensorImpl()) ? head : encoder).push_back(p);
      trainable_.push_back(p);
    }
    reducer_ = MakeReducer(spec_, comm_, rank_device_, params_);
    optimizer_ = MakeOptimizer(t, std::move(encoder), std::move(head));
    if (comm_->rank() == 0) {
      const int64_t total = CountParams(params_), trainable = CountParams(trainable_);
      std::cout << absl::StrFormat(
                       "braintune-train: %s encoder (%s), %d parameters, %d trainable (%.2f%%: %s), %s heads, %s pooling, "
                       "%s loss, %d threads per rank%s",
                       spec_.model.pretrained.empty() ? spec_.model.size : spec_.model.pretrained,
                       model_->model_type(), total, trainable, 100.0 * trainable / total,
                       spec_.model.finetune == "lora" ? "LoRA adapters and heads" : "encoder and heads",
                       spec_.model.head, spec_.model.pooling, spec_.training.loss, threads,
                       gpu ? absl::StrCat(", on ", rank_device_.device.str(), rank_device_.bf16 ? " in bf16" : "") : "")
                << std::endl;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<double> Step(int64_t step) {
    const config::TrainingSpec& t = spec_.training;
    // Dropout masks from (seed, step, rank): a resumed run draws what the uninterrupted one would.
    torch::manual_seed(t.seed * 1000003ull + static_cast<uint64_t>(step) * 7919ull + comm_->rank());
    model_->train();
    ScheduleLearningRates(t, step, optimizer_.get());
    // The same global batch on every rank (step 5 of the protocol in trainer.h); the loader
    // has already cut it down to what this rank's shards heard.
    ASSIGN_OR_RETURN(Batch batch, loader_->Next());
    int64_t global_pairs = 0, local_pairs = 0;
    for (const Window& w : batch.global_windows) global_pairs += heard_by_[w.story];
    for (const auto& tg : batch.targets) local_pairs += static_cast<int64_t>(tg.rows.size());
    optimizer_->zero_grad();
    double weighted_loss = 0;  // this rank's share of the global mean loss
    const int64_t n = static_cast<int64_t>(batch.windows.size());
    // Gradient accumulation: the rank's windows in accumulation_steps micro-batches; gradients
    // add up locally and are all-reduced once, after the last.
    const int micro = n == 0 ? 1 : t.accumulation_steps;
    for (int c = 0; c < micro; ++c) {
      const int64_t lo = n * c / micro, hi = n * (c + 1) / micro;
      reducer_->Prepare(local_pairs, global_pairs, /*sync=*/c == micro - 1);
      if (hi == lo) continue;
      torch::Tensor loss;
      {
        model::Bf16Autocast autocast(rank_device_.bf16);
        torch::Tensor pooled = Embed(batch, lo, hi);
        loss = torch::zeros({}, torch::TensorOptions().device(rank_device_.device));
        for (auto& tg : batch.targets) {
          const OwnedShard& owned = loader_->shards()[tg.shard];
          std::vector<int64_t> rows, picked;  // rows of this micro-batch, and theirs in tg.values
          for (size_t k = 0; k < tg.rows.size(); ++k) {
            if (tg.rows[k] >= lo && tg.rows[k] < hi) {
              rows.push_back(tg.rows[k] - lo);
              picked.push_back(static_cast<int64_t>(k));
            }
          }
          if (rows.empty()) continue;
          torch::Tensor pred = model_->Head(HeadOf(owned), pooled.index_select(0, torch::tensor(rows, torch::kLong).to(rank_device_.device)));
          torch::Tensor actual = View(tg.values, static_cast<int64_t>(tg.rows.size()), owned.n_targets)
                                     .index_select(0, torch::tensor(picked, torch::kLong))
                                     .to(rank_device_.device);
          loss = loss + PairLoss(t, pred, actual);
        }
      }
      // The mean over this rank's (participant, window) pairs; the reducer weights each rank's
      // gradient by its share of the global pairs.
      loss = loss / static_cast<double>(local_pairs);
      loss.backward();
      weighted_loss += loss.item<double>() * local_pairs / global_pairs;
    }
    RETURN_IF_ERROR(reducer_->Finish());
    // Every rank holds the same averaged gradients here, so clipping keeps them identical.
    torch::nn::utils::clip_grad_norm_(trainable_, t.grad_clip);
    optimizer_->step();
    // With the loss, whether any rank was asked to stop (SIGTERM): every rank learns it at the
    // same step.
    double sums[2] = {weighted_loss, g_stop_requested.load() ? 1.0 : 0.0};
    RETURN_IF_ERROR(comm_->AllReduceSum(sums, 2));
    stop_requested_ = sums[1] > 0;
    return sums[0];
  }

  // The pooled encoder output of windows [lo, hi) of `batch`. Where the input contract asks for
  // an attention mask, a padded window is encoded alone at its unpadded length: what the mask
  // gives (no padded frame is attended to or pooled), without one in the encoder.
  torch::Tensor Embed(Batch& batch, int64_t lo, int64_t hi) {
    if (plan_.text) return EmbedText(batch, lo, hi);
    const int64_t len = plan_.window_samples, n = static_cast<int64_t>(batch.windows.size());
    torch::Tensor audio = View(batch.audio, n, len).narrow(0, lo, hi - lo);
    std::vector<int64_t> whole, alone;
    for (int64_t i = lo; i < hi; ++i) {
      const WindowSpan& span = batch.spans[i];
      const bool on_its_own =
          model::EncodedAlone(plan_.input, model_->encoder()->config(), span.end - span.begin, span.padded(len));
      (on_its_own ? alone : whole).push_back(i - lo);
    }
    if (alone.empty()) return model_->Embed(audio.to(rank_device_.device));
    std::vector<torch::Tensor> rows(hi - lo);
    if (!whole.empty()) {
      torch::Tensor pooled = model_->Embed(audio.index_select(0, torch::tensor(whole, torch::kLong)).to(rank_device_.device));
      for (size_t k = 0; k < whole.size(); ++k) rows[whole[k]] = pooled[k];
    }
    for (int64_t i : alone) {
      const WindowSpan& span = batch.spans[lo + i];
      rows[i] = model_->Embed(audio[i].narrow(0, span.begin, span.end - span.begin).unsqueeze(0).to(rank_device_.device))[0];
    }
    return torch::stack(rows);
  }

  // A text model's Embed: samples [lo, hi) padded on the right to the longest.
  torch::Tensor EmbedText(const Batch& batch, int64_t lo, int64_t hi) {
    int64_t tokens = 1, words = 1;
    for (int64_t i = lo; i < hi; ++i) {
      tokens = std::max<int64_t>(tokens, batch.text[i].ids.size());
      words = std::max<int64_t>(words, batch.text[i].positions.size());
    }
    const int64_t b = hi - lo;
    torch::Tensor ids = torch::zeros({b, tokens}, torch::kLong), mask = torch::zeros({b, tokens}, torch::kLong);
    torch::Tensor at = torch::zeros({b, words}, torch::kLong), word_mask = torch::zeros({b, words}, torch::kLong);
    for (int64_t i = 0; i < b; ++i) {
      const TextSample& s = batch.text[lo + i];
      const int64_t n = static_cast<int64_t>(s.ids.size()), w = static_cast<int64_t>(s.positions.size());
      if (n > 0) {
        ids[i].narrow(0, 0, n).copy_(torch::tensor(s.ids, torch::kLong));
        mask[i].narrow(0, 0, n).fill_(1);
      } else {
        mask[i][0] = 1;  // nothing to read (GPT-2, no words): keeps attention defined; nothing is pooled
      }
      if (w > 0) {
        at[i].narrow(0, 0, w).copy_(torch::tensor(s.positions, torch::kLong));
        word_mask[i].narrow(0, 0, w).fill_(1);
      }
    }
    const torch::Device d = rank_device_.device;
    return model_->EmbedText(ids.to(d), mask.to(d), at.to(d), word_mask.to(d));
  }

  // Runs `fn(owned shard index, predictions [rows, targets] on the CPU, batch)` over `windows` of
  // every owned shard, in eval mode, eval_batch_size windows at a time.
  absl::Status ForEachPrediction(const std::vector<Window>& windows,
                                 const std::function<void(size_t, const torch::Tensor&, const Batch&)>& fn) {
    torch::NoGradGuard no_grad;
    model_->eval();
    for (size_t si = 0; si < loader_->shards().size(); ++si) {
      const OwnedShard& owned = loader_->shards()[si];
      std::vector<Window> mine;
      for (const Window& w : windows) {
        if (w.story == owned.shard.story) mine.push_back(w);
      }
      for (size_t begin = 0; begin < mine.size(); begin += spec_.training.eval_batch_size) {
        std::vector<Window> chunk(mine.begin() + begin,
                                  mine.begin() + std::min(mine.size(), begin + spec_.training.eval_batch_size));
        ASSIGN_OR_RETURN(Batch batch, loader_->Read(chunk, {static_cast<int>(si)}));
        const int64_t rows = static_cast<int64_t>(batch.windows.size());
        torch::Tensor pred;
        {
          model::Bf16Autocast autocast(rank_device_.bf16);
          pred = model_->Head(HeadOf(owned), Embed(batch, 0, rows));
        }
        fn(si, pred.to(torch::kFloat).cpu().contiguous(), batch);
      }
    }
    return absl::OkStatus();
  }

  // Mean-over-targets Pearson r of every participant on the test stories (NaN if none heard):
  // each rank scores the test shards it owns, an all-reduce collects sums and counts, and a
  // participant's r is the mean over its test stories.
  absl::Status Evaluate(std::vector<double>* r) {
    const size_t n = participant_ids_.size();
    std::vector<double> sums(2 * n, 0.0);  // r sums, then counts
    std::map<size_t, std::pair<std::vector<float>, std::vector<float>>> by_shard;  // predicted, actual
    RETURN_IF_ERROR(ForEachPrediction(plan_.test_windows, [&](size_t si, const torch::Tensor& pred, const Batch& batch) {
      auto& [predicted, actual] = by_shard[si];
      predicted.insert(predicted.end(), pred.data_ptr<float>(), pred.data_ptr<float>() + pred.numel());
      actual.insert(actual.end(), batch.targets[0].values.begin(), batch.targets[0].values.end());
    }));
    for (auto& [si, pa] : by_shard) {
      const OwnedShard& owned = loader_->shards()[si];
      const int64_t rows = static_cast<int64_t>(pa.second.size()) / owned.n_targets;
      if (rows < 2) continue;
      size_t index = std::find(participant_ids_.begin(), participant_ids_.end(), owned.shard.participant) -
                     participant_ids_.begin();
      const auto as_matrix = [&](std::vector<float>& v) { return torch::from_blob(v.data(), {rows, owned.n_targets}); };
      sums[index] += eval::PearsonPerTarget(as_matrix(pa.first), as_matrix(pa.second)).mean().item<double>();
      sums[n + index] += 1;
    }
    RETURN_IF_ERROR(comm_->AllReduceSum(sums.data(), static_cast<int64_t>(sums.size())));
    r->assign(n, std::nan(""));
    for (size_t i = 0; i < n; ++i) {
      if (sums[n + i] > 0) (*r)[i] = sums[i] / sums[n + i];
    }
    return absl::OkStatus();
  }

  // The training loss on the validation windows (the end of every training story), checked by
  // early stopping, which may end training.
  absl::Status Validate(int64_t step) {
    double sums[2] = {0, 0};  // loss over pairs, pairs
    RETURN_IF_ERROR(ForEachPrediction(plan_.validation_windows, [&](size_t si, const torch::Tensor& pred, const Batch& batch) {
      const OwnedShard& owned = loader_->shards()[si];
      const auto& values = batch.targets[0].values;
      torch::Tensor actual = torch::from_blob(const_cast<float*>(values.data()), {pred.size(0), owned.n_targets});
      sums[0] += PairLoss(spec_.training, pred, actual).item<double>();
      sums[1] += static_cast<double>(pred.size(0));
    }));
    RETURN_IF_ERROR(comm_->AllReduceSum(sums, 2));
    const double loss = sums[0] / std::max(1.0, sums[1]);
    validation_loss_ = loss;  // the next progress report carries it
    if (early_stopping_.Check(step, loss, params_)) finished_ = true;
    return absl::OkStatus();
  }

  void Report(const std::string& phase, int64_t step, double loss, double elapsed, double train_elapsed = 0,
              const v1::JobResult* result = nullptr) {
    if (comm_->rank() != 0) return;
    v1::Progress p = rank::TrainingProgress(phase, step, spec_.training.steps, loss, elapsed, step - first_step_ + 1,
                                            spec_.training.batch_size, train_elapsed);
    if (train_elapsed > 0) p.set_data_wait_share(std::clamp(loader_->wait_seconds() / train_elapsed, 0.0, 1.0));
    if (validation_loss_) p.set_validation_loss(*validation_loss_);
    if (rank_device_.device.is_cuda()) p.set_gpu_memory_bytes(dist::DeviceMemoryInUse(rank_device_.device.index()));
    reporter_.Report(p, result);
  }

  absl::Status Finish(const std::vector<double>& before, const std::vector<double>& after, double loss,
                      double train_seconds, double elapsed) {
    if (comm_->rank() != 0) return comm_->Barrier();
    const std::string dir = fs::absolute(rank::OutputDir(spec_, options_)).string();  // made in Run()
    v1::JobResult result;
    double sum_after = 0, sum_before = 0;
    int counted = 0;
    for (size_t i = 0; i < participant_ids_.size(); ++i) {
      if (std::isnan(after[i])) continue;
      v1::ParticipantScore* s = result.add_scores();
      s->set_participant(participant_ids_[i]);
      s->set_pearson_r(after[i]);
      s->set_pearson_r_untrained(before[i]);
      for (int r = comm_->size() - 1; r >= 0; --r) {  // the first rank holding any of its stories
        for (const Shard& shard : assignment_[r]) {
          if (shard.participant == participant_ids_[i]) s->set_rank(r);
        }
      }
      sum_after += after[i];
      sum_before += before[i];
      ++counted;
    }
    result.set_mean_pearson_r(counted ? sum_after / counted : 0);
    result.set_mean_pearson_r_untrained(counted ? sum_before / counted : 0);
    result.set_checkpoint_path(dir + "/checkpoint.pt");
    result.set_output_dir(dir);
    result.set_steps(last_step_);
    const int64_t done = last_step_ - first_step_ + 1;  // in this launch
    if (done > 0 && train_seconds > 0) {
      result.set_steps_per_sec(done / train_seconds);
      result.set_samples_per_sec(done * spec_.training.batch_size / train_seconds);
    }
    result.set_test_story(plan_.test_story_names);
    const std::optional<model::LoraOptions> lora =
        rank::LoraOptionsOf(spec_.model, model_->is_text() ? model_->text_encoder()->config().model_type
                                                           : model_->encoder()->config().model_type);
    const v1::TuningRecord record =
        Lineage(base_record_, participant_ids_, absl::StrSplit(plan_.test_story_names, ',', absl::SkipEmpty()));
    RETURN_IF_ERROR(Checkpoints::SaveModel(
        result.checkpoint_path(), *model_, model::PreprocessorConfigJson(input_),
        {record.participants().begin(), record.participants().end()},
        {record.test_stories().begin(), record.test_stories().end()}, lora ? model::LoraOptionsRecord(*lora) : ""));
    const std::string json = ToJson(result);
    RETURN_IF_ERROR(WriteFileAtomically(dir + "/result.json", json));
    if (spec_.training.export_hf && model_->is_text()) {
      // transformers' GPT2Model/BertModel.from_pretrained(<dir>/hf), adapters merged, with the
      // tokenizer's files: the directory is a model.pretrained or evaluation.models entry again.
      RETURN_IF_ERROR(model::ExportTextHf(*model_->text_encoder(), dir + "/hf", model_->HeadStateDict(), "brain_heads.safetensors"));
      RETURN_IF_ERROR(WriteTuningRecord(dir + "/hf", record));
      for (const std::string& file : rank::TokenizerFiles()) {
        const fs::path from = fs::path(spec_.model.pretrained) / file;
        if (!fs::is_regular_file(from)) continue;
        ASSIGN_OR_RETURN(std::string bytes, model::ReadTokenizerFile(from.string()));
        RETURN_IF_ERROR(WriteFileAtomically(dir + "/hf/" + file, bytes));
      }
    } else if (spec_.training.export_hf) {
      // For Python users: transformers' Wav2Vec2Model/HubertModel.from_pretrained(<dir>/hf), adapters
      // merged; the heads and pooling in brain_heads.safetensors beside it.
      RETURN_IF_ERROR(model::ExportHf(model_->encoder(), dir + "/hf", model_->HeadStateDict(), "brain_heads.safetensors"));
      // The contract it was tuned under, with the rate it heard (a model from scratch: the
      // dataset's), so loading the export as model.pretrained feeds it the same input.
      model::InputContract heard = plan_.input;
      heard.sampling_rate = plan_.sample_rate;
      RETURN_IF_ERROR(WriteFileAtomically(dir + "/hf/preprocessor_config.json", model::PreprocessorConfigJson(heard)));
      RETURN_IF_ERROR(WriteTuningRecord(dir + "/hf", record));
    }
    std::cout << absl::StrFormat("braintune-train: done: mean held-out r %.3f (untrained %.3f), checkpoint %s",
                                 result.mean_pearson_r(), result.mean_pearson_r_untrained(), result.checkpoint_path())
              << "\n"
              << absl::StrFormat("braintune-train: rank 0 waited %.2f s of %.1f s of training for data (%.1f MB read)",
                                 loader_->wait_seconds(), train_seconds, loader_->bytes_read() / 1e6)
              << std::endl;
    Report("done", last_step_, loss, elapsed, train_seconds, &result);
    return comm_->Barrier();
  }

  const rank::RankOptions options_;
  dist::Communicator* const comm_;
  rank::ProgressReporter reporter_;
  const config::JobSpec spec_;
  const std::string source_;  // the spec's file, for messages
  model::InputContract input_;  // what the model expects to hear (declared; plan_.input once loaded)
  Checkpoints checkpoints_;
  EarlyStopping early_stopping_;
  Plan plan_;
  std::optional<TextSamples> text_samples_;  // a text model's tokenized stories
  std::vector<std::string> participant_ids_;           // every participant in the job, sorted
  std::optional<v1::TuningRecord> base_record_;        // model.pretrained's (tuning_record.h), if it has one
  std::map<std::string, int64_t> participant_targets_; // participant -> targets
  std::map<std::string, std::string> head_of_participant_;  // with model.head: participant
  std::vector<std::vector<Shard>> assignment_;         // rank -> (participant, story) shards
  std::unique_ptr<Loader> loader_;
  std::map<std::string, int64_t> spaces_;              // space -> targets
  std::map<int, double> heard_by_;                     // story -> participants who heard it
  model::BrainModel model_{nullptr};
  std::optional<double> validation_loss_;  // the latest check on the validation windows
  RankDevice rank_device_;                             // where it computes; NCCL and bf16 on a GPU
  std::vector<torch::Tensor> params_;                  // every parameter, frozen ones too
  std::vector<torch::Tensor> trainable_;
  std::unique_ptr<ddp::GradientReducer> reducer_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  int64_t first_step_ = 1;  // > 1 when resuming
  int64_t last_step_ = 0;   // the last step trained (this launch or before)
  bool finished_ = false;   // early stopping ended training (or a resumed checkpoint was final)
  bool stop_requested_ = false;  // some rank got SIGTERM (agreed at the last step)
};

}  // namespace

absl::Status RunTrainer(const config::LoadedSpec& spec, const rank::RankOptions& options, dist::Communicator* comm) {
  std::signal(SIGTERM, OnSigterm);
  return rank::RunOnRank("braintune-train", comm, [&]() -> absl::Status {
    config::LoadedSpec resolved = spec;
    RETURN_IF_ERROR(rank::ApplyTextModelDefaults(&resolved.spec));
    Trainer trainer(resolved, options, comm);
    return trainer.Run();
  });
}

}  // namespace braintune::train

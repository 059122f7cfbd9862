#include "train/trainer.h"

#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "common/files.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "config/job_spec.h"
#include "data/dataset.h"
#include "ddp/reducer.h"
#include "model/brain_model.h"
#include "train/loader.h"
#include "train/plan.h"
#include "train/progress_reporter.h"
#include "train/rank.h"

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

class Trainer {
 public:
  Trainer(const TrainerOptions& options, dist::Communicator* comm)
      : options_(options), comm_(comm), reporter_(comm->rank() == 0 ? options.coordinator : "", options.job_id) {}

  absl::Status Run() {
    auto start = Clock::now();
    ASSIGN_OR_RETURN(spec_, config::LoadJobSpecFile(options_.spec_path));
    ASSIGN_OR_RETURN(first_step_, ResumeStep());
    RETURN_IF_ERROR(Load());
    Report("loading", first_step_ - 1, 0, Seconds(start));
    BuildModel();
    std::vector<double> r_before, r_after;
    if (first_step_ > 1) RETURN_IF_ERROR(LoadResume(&r_before));
    RETURN_IF_ERROR(reducer_->BroadcastParameters());
    RETURN_IF_ERROR(ddp::BroadcastOptimizerState(comm_, *optimizer_));
    if (first_step_ == 1) RETURN_IF_ERROR(Evaluate(&r_before));
    auto train_start = Clock::now();
    double last_loss = 0;
    for (int64_t step = first_step_; step <= spec_.training.steps; ++step) {
      ASSIGN_OR_RETURN(last_loss, Step());
      if (step % spec_.training.log_every == 0 || step == spec_.training.steps) {
        double elapsed = Seconds(train_start);
        const int64_t done = step - first_step_ + 1;
        if (comm_->rank() == 0) {
          std::cout << absl::StrFormat("step %d/%d  loss %.4f  %.2f steps/s  %.1f samples/s", step,
                                       spec_.training.steps, last_loss, done / elapsed,
                                       done * spec_.training.batch_size / elapsed)
                    << std::endl;
        }
        Report("training", step, last_loss, Seconds(start), elapsed);
      }
      const int64_t every = spec_.training.checkpoint_every;
      if (stop_requested_ && step < spec_.training.steps) {
        // Preempted or stopped: checkpoint where we are, so the next launch loses nothing.
        RETURN_IF_ERROR(SaveResume(step, r_before));
        RETURN_IF_ERROR(comm_->Barrier());
        return absl::AbortedError(absl::StrCat("stopped by SIGTERM after step ", step, "; ", ResumePath(),
                                               " holds it for the next launch"));
      }
      if (every > 0 && step % every == 0 && step < spec_.training.steps) RETURN_IF_ERROR(SaveResume(step, r_before));
    }
    double train_seconds = Seconds(train_start);
    Report("evaluating", spec_.training.steps, last_loss, Seconds(start), train_seconds);
    RETURN_IF_ERROR(Evaluate(&r_after));
    return Finish(r_before, r_after, last_loss, train_seconds, Seconds(start));
  }

 private:
  // ---- Resumable checkpoints (training.checkpoint_every) ----------------------------------
  // <output>/resume.pt, written by rank 0 (every rank holds the same parameters and optimizer
  // state): the model, the optimizer, the step reached, the untrained model's scores, and the
  // spec it belongs to. Data order follows from the step (the loader starts there), so a
  // relaunched job continues with the batches it would have seen.

  std::string ResumePath() const { return OutputDir(spec_, options_) + "/resume.pt"; }

  // The step to start from: 1, or one past a resume.pt of this spec that every rank can read
  // (kept loaded in resume_ for LoadResume).
  absl::StatusOr<int64_t> ResumeStep() {
    ASSIGN_OR_RETURN(spec_text_, ReadWholeFile(options_.spec_path, "job spec"));
    double step = 0;
    if (fs::exists(ResumePath())) {
      try {
        resume_.emplace();
        resume_->load_from(ResumePath());
        c10::IValue saved_step, saved_spec;
        resume_->read("step", saved_step);
        resume_->read("spec", saved_spec);
        if (saved_spec.toStringRef() == spec_text_) step = static_cast<double>(saved_step.toInt());
      } catch (const c10::Error& e) {
        std::cerr << "braintune-train: rank " << comm_->rank() << ": ignoring unreadable " << ResumePath() << ": "
                  << e.what_without_backtrace() << std::endl;
      }
    }
    // All ranks or none (a rank on a node that does not see the file starts everyone afresh);
    // they all read the same file, so the steps agree when every rank has one.
    double seen[2] = {step > 0 ? 1.0 : 0.0, step};
    RETURN_IF_ERROR(comm_->AllReduceSum(seen, 2));
    const bool everyone = seen[0] == comm_->size();
    const int64_t first = everyone ? static_cast<int64_t>(seen[1] / comm_->size()) + 1 : 1;
    if (comm_->rank() == 0 && first > 1) {
      std::cout << "braintune-train: resuming from step " << first - 1 << " (" << ResumePath() << ")" << std::endl;
    }
    return first;
  }

  absl::Status LoadResume(std::vector<double>* r_before) {
    try {
      torch::serialize::InputArchive model, optimizer;
      resume_->read("model", model);
      resume_->read("optimizer", optimizer);
      model_->load(model);
      optimizer_->load(optimizer);
      torch::Tensor before;
      resume_->read("r_before", before);
      r_before->assign(before.data_ptr<double>(), before.data_ptr<double>() + before.numel());
    } catch (const c10::Error& e) {
      return absl::DataLossError(absl::StrCat(ResumePath(), ": cannot resume: ", e.what_without_backtrace()));
    }
    resume_.reset();
    return absl::OkStatus();
  }

  absl::Status SaveResume(int64_t step, const std::vector<double>& r_before) {
    if (comm_->rank() != 0) return absl::OkStatus();
    std::error_code ec;
    fs::create_directories(OutputDir(spec_, options_), ec);
    return WriteAtomically(ResumePath(), [&](const std::string& tmp) {
      torch::serialize::OutputArchive out, model, optimizer;
      model_->save(model);
      optimizer_->save(optimizer);
      out.write("model", model);
      out.write("optimizer", optimizer);
      out.write("step", c10::IValue(step));
      out.write("spec", c10::IValue(spec_text_));
      out.write("r_before", torch::tensor(r_before, torch::kFloat64));
      out.save_to(tmp);
    });
  }

  absl::Status Load() {
    const std::string& path = spec_.data.path;
    data::ReadOptions meta_only;
    meta_only.load_all_responses = false;
    meta_only.load_audio = false;
    ASSIGN_OR_RETURN(data::Dataset meta, data::ReadDataset(path, meta_only));
    ASSIGN_OR_RETURN(plan_, MakePlan(meta, spec_.data));
    std::set<std::string> wanted(spec_.data.participants.begin(), spec_.data.participants.end());
    for (const auto& p : meta.participants) {
      if (!wanted.empty() && !wanted.count(p.id)) continue;
      participant_ids_.push_back(p.id);
      spaces_[p.space] = p.n_targets;
      for (const auto& r : p.runs) {
        if (int s = StoryIndex(plan_, r.story); s >= 0) heard_by_[s] += 1;
      }
    }
    ASSIGN_OR_RETURN(assignment_, AssignShards(meta, plan_, participant_ids_, comm_->size()));
    if (comm_->rank() == 0) PrintAssignment();
    std::vector<OwnedShard> owned;
    for (const Shard& shard : assignment_[comm_->rank()]) {
      const data::Participant* p = meta.FindParticipant(shard.participant);
      owned.push_back({shard, p->space, p->n_targets, {}, {}});
    }
    LoaderOptions lo;
    lo.seed = spec_.training.seed;
    lo.batch_size = spec_.training.batch_size;
    ASSIGN_OR_RETURN(loader_, Loader::Start(path, plan_, std::move(owned), lo, first_step_));
    return absl::OkStatus();
  }

  void PrintAssignment() const {
    std::cout << "braintune-train: " << comm_->size() << " ranks, " << participant_ids_.size() << " participants, "
              << plan_.stories.size() << " stories (test: " << plan_.test_story_names << "), "
              << plan_.train_windows.size() << " training windows of " << plan_.window_samples << " samples\n";
    for (int r = 0; r < comm_->size(); ++r) {
      // A participant whose every story is here is listed by name; split ones as name:story.
      std::map<std::string, std::vector<std::string>> stories;
      int64_t samples = 0;
      for (const Shard& s : assignment_[r]) {
        stories[s.participant].push_back(plan_.stories[s.story].name);
        samples += s.train_samples;
      }
      std::vector<std::string> names;
      for (const auto& [pid, list] : stories) {
        if (static_cast<int>(list.size()) == heard_count(pid)) {
          names.push_back(pid);
        } else {
          for (const auto& story : list) names.push_back(pid + ":" + story);
        }
      }
      std::cout << "  rank " << r << ": " << absl::StrJoin(names, ", ") << " (" << samples << " training samples)\n";
    }
    std::cout << std::flush;
  }

  int heard_count(const std::string& pid) const {
    int n = 0;
    for (const auto& rank : assignment_) {
      for (const Shard& s : rank) n += s.participant == pid;
    }
    return n;
  }

  void BuildModel() {
    const int threads = ConfigureThreads(options_, *comm_);
    torch::manual_seed(spec_.training.seed);
    model_ = model::BrainModel(EncoderConfigOf(spec_.model), spaces_);
    params_ = model_->parameters();
    ddp::ReducerOptions ro;
    ro.bucket_cap_bytes = static_cast<int64_t>(spec_.distributed.bucket_cap_mb * (1 << 20));
    ro.first_bucket_cap_bytes = static_cast<int64_t>(spec_.distributed.first_bucket_cap_mb * (1 << 20));
    comm_->set_timeout_seconds(spec_.distributed.collective_timeout);
    reducer_ = std::make_unique<ddp::GradientReducer>(comm_, params_, std::vector<torch::Tensor>{}, ro);
    optimizer_ = std::make_unique<torch::optim::AdamW>(
        params_, torch::optim::AdamWOptions(spec_.training.lr).weight_decay(spec_.training.weight_decay));
    if (comm_->rank() == 0) {
      std::cout << "braintune-train: model with " << CountParams(params_) << " parameters, " << threads
                << " threads per rank" << std::endl;
    }
  }

  absl::StatusOr<double> Step() {
    // The same global batch on every rank (step 5 of the protocol in trainer.h); the loader
    // has already cut it down to what this rank's shards heard.
    ASSIGN_OR_RETURN(Batch batch, loader_->Next());
    int64_t global_pairs = 0, local_pairs = 0;
    for (const Window& w : batch.global_windows) global_pairs += heard_by_[w.story];
    for (const auto& t : batch.targets) local_pairs += static_cast<int64_t>(t.rows.size());
    optimizer_->zero_grad();
    reducer_->Prepare(local_pairs, global_pairs);
    double weighted_loss = 0;  // this rank's share of the global mean loss
    if (!batch.windows.empty()) {
      const int64_t n = static_cast<int64_t>(batch.windows.size());
      torch::Tensor pooled = model_->Embed(View(batch.audio, n, plan_.window_samples));
      torch::Tensor loss = torch::zeros({});
      for (auto& t : batch.targets) {
        const OwnedShard& owned = loader_->shards()[t.shard];
        const int64_t rows = static_cast<int64_t>(t.rows.size());
        torch::Tensor pred = model_->Head(owned.space, pooled.index_select(0, torch::tensor(t.rows, torch::kLong)));
        loss = loss + (pred - View(t.values, rows, owned.n_targets)).pow(2).mean(1).sum();
      }
      // The mean over this rank's (participant, window) pairs; the reducer weights each rank's
      // gradient by its share of the global pairs.
      loss = loss / static_cast<double>(local_pairs);
      loss.backward();
      weighted_loss = loss.item<double>() * local_pairs / global_pairs;
    }
    RETURN_IF_ERROR(reducer_->Finish());
    // Every rank holds the same averaged gradients here, so clipping keeps them identical.
    torch::nn::utils::clip_grad_norm_(params_, spec_.training.grad_clip);
    optimizer_->step();
    // With the loss, whether any rank was asked to stop (SIGTERM): every rank learns it at the
    // same step.
    double sums[2] = {weighted_loss, g_stop_requested.load() ? 1.0 : 0.0};
    RETURN_IF_ERROR(comm_->AllReduceSum(sums, 2));
    stop_requested_ = sums[1] > 0;
    return sums[0];
  }

  // Mean-over-targets Pearson r of every participant on the test stories (NaN if none heard):
  // each rank scores the test shards it owns, an all-reduce collects sums and counts, and a
  // participant's r is the mean over its test stories.
  absl::Status Evaluate(std::vector<double>* r) {
    torch::NoGradGuard no_grad;
    const size_t n = participant_ids_.size();
    std::vector<double> sums(2 * n, 0.0);  // r sums, then counts
    for (size_t si = 0; si < loader_->shards().size(); ++si) {
      const OwnedShard& owned = loader_->shards()[si];
      if (!plan_.stories[owned.shard.story].test) continue;
      std::vector<Window> windows;
      for (const Window& w : plan_.test_windows) {
        if (w.story == owned.shard.story) windows.push_back(w);
      }
      std::vector<float> predicted, actual;
      for (size_t begin = 0; begin < windows.size(); begin += spec_.training.eval_batch_size) {
        std::vector<Window> chunk(windows.begin() + begin,
                                  windows.begin() + std::min(windows.size(), begin + spec_.training.eval_batch_size));
        ASSIGN_OR_RETURN(Batch batch, loader_->Read(chunk, {static_cast<int>(si)}));
        const int64_t rows = static_cast<int64_t>(batch.windows.size());
        torch::Tensor pred =
            model_->Head(owned.space, model_->Embed(View(batch.audio, rows, plan_.window_samples))).contiguous();
        predicted.insert(predicted.end(), pred.data_ptr<float>(), pred.data_ptr<float>() + pred.numel());
        actual.insert(actual.end(), batch.targets[0].values.begin(), batch.targets[0].values.end());
      }
      const int64_t rows = static_cast<int64_t>(windows.size());
      if (rows < 2) continue;
      size_t index = std::find(participant_ids_.begin(), participant_ids_.end(), owned.shard.participant) -
                     participant_ids_.begin();
      sums[index] += MeanPearson(predicted, actual, rows, owned.n_targets);
      sums[n + index] += 1;
    }
    RETURN_IF_ERROR(comm_->AllReduceSum(sums.data(), static_cast<int64_t>(sums.size())));
    r->assign(n, std::nan(""));
    for (size_t i = 0; i < n; ++i) {
      if (sums[n + i] > 0) (*r)[i] = sums[i] / sums[n + i];
    }
    return absl::OkStatus();
  }

  void Report(const std::string& phase, int64_t step, double loss, double elapsed, double train_elapsed = 0,
              const v1::JobResult* result = nullptr) {
    if (comm_->rank() != 0) return;
    v1::Progress p;
    p.set_phase(phase);
    p.set_step(step);
    p.set_total_steps(spec_.training.steps);
    p.set_loss(loss);
    p.set_elapsed_sec(elapsed);
    if (train_elapsed > 0) {
      const int64_t done = step - first_step_ + 1;
      p.set_steps_per_sec(done / train_elapsed);
      p.set_samples_per_sec(done * spec_.training.batch_size / train_elapsed);
    }
    reporter_.Report(p, result);
  }

  absl::Status Finish(const std::vector<double>& before, const std::vector<double>& after, double loss,
                      double train_seconds, double elapsed) {
    if (comm_->rank() != 0) return comm_->Barrier();
    std::string dir = OutputDir(spec_, options_);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create output directory: ", ec.message()));
    dir = fs::absolute(dir).string();
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
    result.set_steps(spec_.training.steps);
    const int64_t done = spec_.training.steps - first_step_ + 1;  // in this launch
    result.set_steps_per_sec(done / train_seconds);
    result.set_samples_per_sec(done * spec_.training.batch_size / train_seconds);
    result.set_test_story(plan_.test_story_names);
    RETURN_IF_ERROR(WriteAtomically(result.checkpoint_path(), [&](const std::string& tmp) {
      torch::serialize::OutputArchive archive;
      model_->save(archive);
      archive.save_to(tmp);
    }));
    const std::string json = ToJson(result);
    RETURN_IF_ERROR(WriteFileAtomically(dir + "/result.json", json));
    fs::remove(ResumePath(), ec);  // finished: nothing to resume
    std::cout << absl::StrFormat("braintune-train: done: mean held-out r %.3f (untrained %.3f), checkpoint %s",
                                 result.mean_pearson_r(), result.mean_pearson_r_untrained(), result.checkpoint_path())
              << "\n"
              << absl::StrFormat("braintune-train: rank 0 waited %.2f s of %.1f s of training for data (%.1f MB read)",
                                 loader_->wait_seconds(), train_seconds, loader_->bytes_read() / 1e6)
              << std::endl;
    Report("done", spec_.training.steps, loss, elapsed, train_seconds, &result);
    return comm_->Barrier();
  }

  const TrainerOptions options_;
  dist::Communicator* const comm_;
  ProgressReporter reporter_;
  config::JobSpec spec_;
  Plan plan_;
  std::vector<std::string> participant_ids_;           // every participant in the job, sorted
  std::vector<std::vector<Shard>> assignment_;         // rank -> (participant, story) shards
  std::unique_ptr<Loader> loader_;
  std::map<std::string, int64_t> spaces_;              // space -> targets
  std::map<int, double> heard_by_;                     // story -> participants who heard it
  model::BrainModel model_{nullptr};
  std::vector<torch::Tensor> params_;
  std::unique_ptr<ddp::GradientReducer> reducer_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  int64_t first_step_ = 1;  // > 1 when resuming
  std::string spec_text_;   // the spec file as given: a resume.pt belongs to exactly this text
  std::optional<torch::serialize::InputArchive> resume_;  // resume.pt, from ResumeStep to LoadResume
  bool stop_requested_ = false;  // some rank got SIGTERM (agreed at the last step)
};

}  // namespace

std::string OutputDir(const config::JobSpec& spec, const TrainerOptions& options) {
  return !spec.output.dir.empty() ? spec.output.dir : !options.output_dir.empty() ? options.output_dir : "braintune-output";
}

absl::Status RunTrainer(const TrainerOptions& options, dist::Communicator* comm) {
  std::signal(SIGTERM, OnSigterm);
  Trainer trainer(options, comm);
  return RunOnRank("braintune-train", comm, [&] { return trainer.Run(); });
}

}  // namespace braintune::train

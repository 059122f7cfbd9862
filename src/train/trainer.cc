#include "train/trainer.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "config/job_spec.h"
#include "data/dataset.h"
#include "model/brain_model.h"
#include "train/plan.h"
#include "train/progress_reporter.h"

namespace braintune::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// A participant this rank owns, with its responses by story index (nullptr = not heard).
struct OwnedParticipant {
  int global_index = 0;
  const data::Participant* data = nullptr;
  std::vector<const data::Run*> run_of_story;
};

void ZScorePerStory(data::Participant* p) {
  for (auto& run : p->runs) {
    for (int64_t c = 0; c < run.n_targets; ++c) {
      double mean = 0, sq = 0;
      for (int64_t r = 0; r < run.n_times; ++r) mean += run.responses[r * run.n_targets + c];
      mean /= run.n_times;
      for (int64_t r = 0; r < run.n_times; ++r) {
        double d = run.responses[r * run.n_targets + c] - mean;
        sq += d * d;
      }
      double sd = std::sqrt(sq / run.n_times);
      for (int64_t r = 0; r < run.n_times; ++r) {
        float& v = run.responses[r * run.n_targets + c];
        v = sd > 0 ? static_cast<float>((v - mean) / sd) : 0.0f;
      }
    }
  }
}

torch::Tensor Windows(const Plan& plan, const data::Dataset& ds, const std::vector<Window>& windows) {
  torch::Tensor audio = torch::empty({static_cast<int64_t>(windows.size()), plan.window_samples});
  float* out = audio.data_ptr<float>();
  for (size_t i = 0; i < windows.size(); ++i) {
    CutWindow(plan, *ds.FindStory(plan.stories[windows[i].story].name), windows[i], out + i * plan.window_samples);
  }
  return audio;
}

torch::Tensor Targets(const data::Run& run, const std::vector<Window>& windows) {
  torch::Tensor y = torch::empty({static_cast<int64_t>(windows.size()), run.n_targets});
  float* out = y.data_ptr<float>();
  for (size_t i = 0; i < windows.size(); ++i) {
    std::copy_n(run.responses.data() + windows[i].index * run.n_targets, run.n_targets, out + i * run.n_targets);
  }
  return y;
}

// Flattens every parameter (or gradient) into `buffer` in registration order, and back.
void Flatten(const std::vector<torch::Tensor>& params, bool grads, std::vector<float>* buffer) {
  size_t offset = 0;
  for (const auto& p : params) {
    torch::Tensor t = grads ? p.grad() : p;
    int64_t n = p.numel();
    if (t.defined()) {
      torch::Tensor c = t.detach().contiguous();
      std::copy_n(c.data_ptr<float>(), n, buffer->data() + offset);
    } else {
      std::fill_n(buffer->data() + offset, n, 0.0f);
    }
    offset += n;
  }
}

void Unflatten(const std::vector<float>& buffer, bool grads, std::vector<torch::Tensor>* params) {
  torch::NoGradGuard no_grad;
  size_t offset = 0;
  for (auto& p : *params) {
    int64_t n = p.numel();
    torch::Tensor src = torch::from_blob(const_cast<float*>(buffer.data() + offset), p.sizes());
    if (grads) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      p.mutable_grad().copy_(src);
    } else {
      p.copy_(src);
    }
    offset += n;
  }
}

int64_t CountParams(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

// Writes `write(tmp)` then fsyncs and renames onto `path`: readers see the old file or the new
// one, never half of one.
absl::Status WriteAtomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  std::string tmp = path + ".tmp";
  try {
    write(tmp);
  } catch (const std::exception& e) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat(path, ": cannot write: ", e.what()));
  }
  int fd = ::open(tmp.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat(path, ": cannot rename the temporary file into place"));
  }
  return absl::OkStatus();
}

class Trainer {
 public:
  Trainer(const TrainerOptions& options, dist::Communicator* comm)
      : options_(options), comm_(comm), reporter_(comm->rank() == 0 ? options.coordinator : "", options.job_id) {}

  absl::Status Run() {
    auto start = Clock::now();
    ASSIGN_OR_RETURN(spec_, config::LoadJobSpecFile(options_.spec_path));
    RETURN_IF_ERROR(Load());
    Report("loading", 0, 0, Seconds(start));
    BuildModel();
    RETURN_IF_ERROR(BroadcastParameters());
    std::vector<double> r_before, r_after;
    RETURN_IF_ERROR(Evaluate(&r_before));
    auto train_start = Clock::now();
    double last_loss = 0;
    for (int64_t step = 1; step <= spec_.training.steps; ++step) {
      ASSIGN_OR_RETURN(last_loss, Step(step));
      if (step % spec_.training.log_every == 0 || step == spec_.training.steps) {
        double elapsed = Seconds(train_start);
        if (comm_->rank() == 0) {
          std::cout << absl::StrFormat("step %d/%d  loss %.4f  %.2f steps/s  %.1f samples/s", step,
                                       spec_.training.steps, last_loss, step / elapsed,
                                       step * spec_.training.batch_size / elapsed)
                    << std::endl;
        }
        Report("training", step, last_loss, Seconds(start), elapsed);
      }
    }
    double train_seconds = Seconds(train_start);
    Report("evaluating", spec_.training.steps, last_loss, Seconds(start), train_seconds);
    RETURN_IF_ERROR(Evaluate(&r_after));
    return Finish(r_before, r_after, last_loss, train_seconds, Seconds(start));
  }

 private:
  absl::Status Load() {
    const std::string& path = spec_.data.path;
    data::ReadOptions meta_only;
    meta_only.load_all_responses = false;
    meta_only.load_audio = false;
    ASSIGN_OR_RETURN(data::Dataset meta, data::ReadDataset(path, meta_only));
    ASSIGN_OR_RETURN(plan_, MakePlan(meta, spec_.data));
    std::vector<ParticipantLoad> loads;
    std::set<std::string> wanted(spec_.data.participants.begin(), spec_.data.participants.end());
    for (const auto& p : meta.participants) {
      if (!wanted.empty() && !wanted.count(p.id)) continue;
      int64_t samples = 0;
      for (const auto& r : p.runs) samples += r.n_times;
      loads.push_back({p.id, samples});
      participant_ids_.push_back(p.id);
      spaces_[p.space] = p.n_targets;
      for (const auto& r : p.runs) {
        for (size_t s = 0; s < plan_.stories.size(); ++s) {
          if (plan_.stories[s].name == r.story) heard_by_[s] += 1;
        }
      }
    }
    ASSIGN_OR_RETURN(assignment_, AssignParticipants(loads, comm_->size()));
    if (comm_->rank() == 0) {
      std::cout << "braintune-train: " << comm_->size() << " ranks, " << participant_ids_.size()
                << " participants, " << plan_.stories.size() << " stories (test: " << plan_.test_story_names << "), "
                << plan_.train_windows.size() << " training windows of " << plan_.window_samples << " samples\n";
      for (int r = 0; r < comm_->size(); ++r) {
        int64_t samples = 0;
        for (const auto& id : assignment_[r]) {
          for (const auto& l : loads) samples += l.id == id ? l.samples : 0;
        }
        std::cout << "  rank " << r << ": " << absl::StrJoin(assignment_[r], ", ") << " (" << samples << " samples)\n";
      }
      std::cout << std::flush;
    }
    data::ReadOptions mine;
    mine.load_all_responses = false;
    mine.load_responses_of = assignment_[comm_->rank()];
    ASSIGN_OR_RETURN(dataset_, data::ReadDataset(path, mine));
    for (const auto& id : assignment_[comm_->rank()]) {
      auto* p = const_cast<data::Participant*>(dataset_.FindParticipant(id));
      ZScorePerStory(p);
      OwnedParticipant owned;
      owned.global_index = static_cast<int>(
          std::find(participant_ids_.begin(), participant_ids_.end(), id) - participant_ids_.begin());
      owned.data = p;
      owned.run_of_story.assign(plan_.stories.size(), nullptr);
      for (const auto& run : p->runs) {
        for (size_t s = 0; s < plan_.stories.size(); ++s) {
          if (plan_.stories[s].name == run.story) owned.run_of_story[s] = &run;
        }
      }
      owned_.push_back(owned);
    }
    return absl::OkStatus();
  }

  void BuildModel() {
    int threads = options_.threads > 0 ? options_.threads
                                       : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) /
                                             std::max(1, comm_->local_size());
    threads = std::max(1, threads);
    torch::set_num_threads(threads);
    // Denormal floats make CPU kernels many times slower as weights get small.
    torch::globalContext().setFlushDenormal(true);
    torch::manual_seed(spec_.training.seed);
    model::EncoderConfig cfg;
    cfg.conv_channels = spec_.model.conv_channels;
    cfg.hidden = spec_.model.hidden;
    cfg.layers = spec_.model.layers;
    cfg.heads = spec_.model.heads;
    cfg.ffn = spec_.model.ffn;
    model_ = model::BrainModel(cfg, spaces_);
    params_ = model_->parameters();
    buffer_.resize(CountParams(params_) + 1);
    optimizer_ = std::make_unique<torch::optim::AdamW>(
        params_, torch::optim::AdamWOptions(spec_.training.lr).weight_decay(spec_.training.weight_decay));
    if (comm_->rank() == 0) {
      std::cout << "braintune-train: model with " << CountParams(params_) << " parameters, " << threads
                << " threads per rank" << std::endl;
    }
  }

  absl::Status BroadcastParameters() {
    Flatten(params_, /*grads=*/false, &buffer_);
    RETURN_IF_ERROR(comm_->Broadcast(buffer_.data(), static_cast<int64_t>(buffer_.size()), 0));
    Unflatten(buffer_, /*grads=*/false, &params_);
    return absl::OkStatus();
  }

  absl::StatusOr<double> Step(int64_t step) {
    // The same global batch on every rank (step 5 of the protocol in trainer.h).
    std::mt19937_64 rng(spec_.training.seed * 1000003ULL + static_cast<uint64_t>(step));
    std::uniform_int_distribution<size_t> pick(0, plan_.train_windows.size() - 1);
    std::vector<Window> batch;
    double global_pairs = 0;
    for (int i = 0; i < spec_.training.batch_size; ++i) {
      batch.push_back(plan_.train_windows[pick(rng)]);
      global_pairs += heard_by_[batch.back().story];
    }
    // The windows this rank needs, and for each owned participant the rows it heard.
    std::vector<Window> local;
    std::vector<std::vector<int64_t>> rows(owned_.size());
    std::vector<std::vector<Window>> heard(owned_.size());
    for (const auto& w : batch) {
      bool needed = false;
      for (size_t p = 0; p < owned_.size(); ++p) {
        if (owned_[p].run_of_story[w.story]) {
          rows[p].push_back(static_cast<int64_t>(local.size()));
          heard[p].push_back(w);
          needed = true;
        }
      }
      if (needed) local.push_back(w);
    }
    optimizer_->zero_grad();
    double local_loss = 0;
    if (!local.empty()) {
      torch::Tensor pooled = model_->Embed(Windows(plan_, dataset_, local));
      torch::Tensor loss = torch::zeros({});
      for (size_t p = 0; p < owned_.size(); ++p) {
        if (rows[p].empty()) continue;
        torch::Tensor idx = torch::tensor(rows[p], torch::kLong);
        torch::Tensor pred = model_->Head(owned_[p].data->space, pooled.index_select(0, idx));
        // Rows can come from different stories: gather targets window by window.
        std::vector<torch::Tensor> ys;
        for (const auto& w : heard[p]) ys.push_back(Targets(*owned_[p].run_of_story[w.story], {w}));
        loss = loss + (pred - torch::cat(ys, 0)).pow(2).mean(1).sum();
      }
      loss = loss / global_pairs;
      loss.backward();
      local_loss = loss.item<double>();
    }
    Flatten(params_, /*grads=*/true, &buffer_);
    buffer_.back() = static_cast<float>(local_loss);
    RETURN_IF_ERROR(comm_->AllReduceSum(buffer_.data(), static_cast<int64_t>(buffer_.size())));
    Unflatten(buffer_, /*grads=*/true, &params_);
    // Every rank holds the same summed gradients here, so clipping keeps them identical.
    torch::nn::utils::clip_grad_norm_(params_, spec_.training.grad_clip);
    optimizer_->step();
    return static_cast<double>(buffer_.back());
  }

  // Mean-over-targets Pearson r of every participant on the test stories (NaN if none heard);
  // each rank fills its own participants, an all-reduce collects them.
  absl::Status Evaluate(std::vector<double>* r) {
    torch::NoGradGuard no_grad;
    std::vector<double> sums(2 * participant_ids_.size(), 0.0);  // r, then "has a value"
    for (const auto& owned : owned_) {
      std::vector<float> predicted, actual;
      int64_t rows = 0, cols = owned.data->n_targets;
      for (size_t begin = 0; begin < plan_.test_windows.size(); begin += spec_.training.eval_batch_size) {
        std::vector<Window> chunk;
        for (size_t i = begin; i < std::min(plan_.test_windows.size(), begin + spec_.training.eval_batch_size); ++i) {
          if (owned.run_of_story[plan_.test_windows[i].story]) chunk.push_back(plan_.test_windows[i]);
        }
        if (chunk.empty()) continue;
        torch::Tensor pred = model_->Head(owned.data->space, model_->Embed(Windows(plan_, dataset_, chunk))).contiguous();
        predicted.insert(predicted.end(), pred.data_ptr<float>(), pred.data_ptr<float>() + pred.numel());
        for (const auto& w : chunk) {
          const data::Run& run = *owned.run_of_story[w.story];
          actual.insert(actual.end(), run.responses.begin() + w.index * cols, run.responses.begin() + (w.index + 1) * cols);
        }
        rows += static_cast<int64_t>(chunk.size());
      }
      if (rows > 1) {
        sums[owned.global_index] = MeanPearson(predicted, actual, rows, cols);
        sums[participant_ids_.size() + owned.global_index] = 1;
      }
    }
    RETURN_IF_ERROR(comm_->AllReduceSum(sums.data(), static_cast<int64_t>(sums.size())));
    r->assign(participant_ids_.size(), std::nan(""));
    for (size_t i = 0; i < participant_ids_.size(); ++i) {
      if (sums[participant_ids_.size() + i] > 0) (*r)[i] = sums[i];
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
      p.set_steps_per_sec(step / train_elapsed);
      p.set_samples_per_sec(step * spec_.training.batch_size / train_elapsed);
    }
    reporter_.Report(p, result);
  }

  absl::Status Finish(const std::vector<double>& before, const std::vector<double>& after, double loss,
                      double train_seconds, double elapsed) {
    if (comm_->rank() != 0) return comm_->Barrier();
    std::string dir = !spec_.output.dir.empty() ? spec_.output.dir
                      : !options_.output_dir.empty() ? options_.output_dir
                                                     : "braintune-output";
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
      for (int r = 0; r < comm_->size(); ++r) {
        for (const auto& id : assignment_[r]) {
          if (id == participant_ids_[i]) s->set_rank(r);
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
    result.set_steps_per_sec(spec_.training.steps / train_seconds);
    result.set_samples_per_sec(spec_.training.steps * spec_.training.batch_size / train_seconds);
    result.set_test_story(plan_.test_story_names);
    RETURN_IF_ERROR(WriteAtomically(result.checkpoint_path(), [&](const std::string& tmp) {
      torch::serialize::OutputArchive archive;
      model_->save(archive);
      archive.save_to(tmp);
    }));
    std::string json;
    google::protobuf::util::JsonPrintOptions opts;
    opts.add_whitespace = true;
    opts.preserve_proto_field_names = true;
    opts.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(result, &json, opts);
    RETURN_IF_ERROR(WriteAtomically(dir + "/result.json", [&](const std::string& tmp) {
      std::ofstream out(tmp);
      out << json;
      if (!out) throw std::runtime_error("write failed");
    }));
    std::cout << absl::StrFormat("braintune-train: done: mean held-out r %.3f (untrained %.3f), checkpoint %s",
                                 result.mean_pearson_r(), result.mean_pearson_r_untrained(), result.checkpoint_path())
              << std::endl;
    Report("done", spec_.training.steps, loss, elapsed, train_seconds, &result);
    return comm_->Barrier();
  }

  const TrainerOptions options_;
  dist::Communicator* const comm_;
  ProgressReporter reporter_;
  config::JobSpec spec_;
  Plan plan_;
  data::Dataset dataset_;
  std::vector<std::string> participant_ids_;           // every participant in the job, sorted
  std::vector<std::vector<std::string>> assignment_;   // rank -> participants
  std::map<std::string, int64_t> spaces_;              // space -> targets
  std::map<int, double> heard_by_;                     // story -> participants who heard it
  std::vector<OwnedParticipant> owned_;
  model::BrainModel model_{nullptr};
  std::vector<torch::Tensor> params_;
  std::vector<float> buffer_;                          // flattened gradients + the loss
  std::unique_ptr<torch::optim::AdamW> optimizer_;
};

}  // namespace

absl::Status RunTrainer(const TrainerOptions& options, dist::Communicator* comm) {
  try {
    return Trainer(options, comm).Run();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("LibTorch: ", e.what_without_backtrace()));
  }
}

}  // namespace braintune::train

#include "train/loader.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "data/resample.h"

namespace braintune::train {

Loader::Loader(const Plan& plan, std::vector<OwnedShard> shards, const LoaderOptions& options,
               std::unique_ptr<data::DatasetReader> reader)
    : plan_(plan), options_(options), shards_(std::move(shards)), reader_(std::move(reader)) {
  shards_of_story_.resize(plan_.stories.size());
  for (size_t i = 0; i < shards_.size(); ++i) shards_of_story_[shards_[i].shard.story].push_back(static_cast<int>(i));
}

Loader::~Loader() {
  {
    absl::MutexLock lock(&queue_mu_);
    stop_ = true;
  }
  queue_cv_.SignalAll();
  if (prefetcher_.joinable()) prefetcher_.join();
}

absl::StatusOr<std::unique_ptr<Loader>> Loader::Start(const std::string& path, const Plan& plan,
                                                      std::vector<OwnedShard> shards, const LoaderOptions& options,
                                                      int64_t first_step) {
  ASSIGN_OR_RETURN(std::unique_ptr<data::DatasetReader> reader, data::DatasetReader::Open(path));
  std::unique_ptr<Loader> loader(new Loader(plan, std::move(shards), options, std::move(reader)));
  RETURN_IF_ERROR(loader->ComputeStatistics());
  Loader* raw = loader.get();
  loader->prefetcher_ = std::thread([raw, first_step] { raw->PrefetchLoop(first_step); });
  return loader;
}

absl::Status Loader::ComputeStatistics() {
  constexpr int64_t kChunkRows = 256;  // bounded memory however long the run
  absl::MutexLock lock(&reader_mu_);
  for (auto& owned : shards_) {
    const int64_t cols = owned.n_targets, n = owned.shard.samples;
    std::vector<double> sum(cols, 0.0), sq(cols, 0.0);
    std::vector<float> chunk;
    for (int64_t begin = 0; begin < n; begin += kChunkRows) {
      const int64_t rows = std::min(kChunkRows, n - begin);
      RETURN_IF_ERROR(ReadRows(owned, begin, rows, &chunk));
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          const double v = chunk[r * cols + c];
          sum[c] += v;
          sq[c] += v * v;
        }
      }
    }
    owned.mean.resize(cols);
    owned.inv_std.resize(cols);
    for (int64_t c = 0; c < cols; ++c) {
      const double mean = sum[c] / n, var = std::max(0.0, sq[c] / n - mean * mean);
      owned.mean[c] = static_cast<float>(mean);
      owned.inv_std[c] = var > 1e-12 ? static_cast<float>(1.0 / std::sqrt(var)) : 0.0f;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Batch> Loader::Build(const std::vector<Window>& windows, const std::vector<int>& only) {
  Batch batch;
  batch.global_windows = windows;
  std::map<int, size_t> slot;  // shard -> index into batch.targets
  auto wanted = [&](int shard) { return only.empty() || std::count(only.begin(), only.end(), shard); };
  for (const auto& w : windows) {
    bool needed = false;
    for (int s : shards_of_story_[w.story]) {
      if (!wanted(s)) continue;
      auto [it, inserted] = slot.emplace(s, batch.targets.size());
      if (inserted) batch.targets.push_back({s, {}, {}});
      batch.targets[it->second].rows.push_back(static_cast<int64_t>(batch.windows.size()));
      needed = true;
    }
    if (needed) batch.windows.push_back(w);
  }
  const int64_t len = plan_.window_samples;
  if (plan_.text) {
    for (const Window& w : batch.windows) batch.text.push_back(options_.text->Cut(plan_, w));
  } else {
    batch.audio.resize(batch.windows.size() * len);
  }
  absl::MutexLock lock(&reader_mu_);
  for (size_t i = 0; i < batch.windows.size() && !plan_.text; ++i) {
    const Window& w = batch.windows[i];
    float* out = &batch.audio[i * len];
    if (NeedsResampling(plan_, w.story)) {
      ASSIGN_OR_RETURN(const std::vector<float>* audio, ResampledAudio(w.story));
      CutWindow(plan_, *audio, w, out);
    } else {  // straight from the file: memory holds only the batch
      RETURN_IF_ERROR(reader_->ReadAudio(plan_.stories[w.story].name, WindowStart(plan_, w), len, out));
    }
    const WindowSpan span = ValidSpan(plan_, w);
    model::PrepareWindow(plan_.input, out, len, span.begin, span.end);
    batch.spans.push_back(span);
  }
  for (auto& t : batch.targets) {
    const OwnedShard& owned = shards_[t.shard];
    const int64_t cols = owned.n_targets;
    t.values.resize(t.rows.size() * cols);
    std::vector<float> read;
    for (size_t r = 0; r < t.rows.size(); ++r) {
      float* row = &t.values[r * cols];
      RETURN_IF_ERROR(ReadRows(owned, batch.windows[t.rows[r]].index, 1, &read));
      for (int64_t c = 0; c < cols; ++c) row[c] = (read[c] - owned.mean[c]) * owned.inv_std[c];
    }
  }
  return batch;
}

absl::Status Loader::ReadRows(const OwnedShard& owned, int64_t begin, int64_t rows, std::vector<float>* out) {
  const std::string& story = plan_.stories[owned.shard.story].name;
  if (owned.columns.empty()) {
    out->resize(rows * owned.n_targets);
    return reader_->ReadResponseRows(owned.shard.participant, story, begin, rows, out->data());
  }
  std::vector<float> whole(rows * owned.file_targets);
  RETURN_IF_ERROR(reader_->ReadResponseRows(owned.shard.participant, story, begin, rows, whole.data()));
  const int64_t cols = static_cast<int64_t>(owned.columns.size());
  out->resize(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) (*out)[r * cols + c] = whole[r * owned.file_targets + owned.columns[c]];
  }
  return absl::OkStatus();
}

absl::StatusOr<const std::vector<float>*> Loader::ResampledAudio(int story) {
  auto it = resampled_.find(story);
  if (it != resampled_.end()) return &it->second;
  const StoryTiming& t = plan_.stories[story];
  std::vector<float> recorded(static_cast<size_t>(t.recorded_samples));
  RETURN_IF_ERROR(reader_->ReadAudio(t.name, 0, t.recorded_samples, recorded.data()));
  ASSIGN_OR_RETURN(std::vector<float> heard, data::Resample(recorded, t.recorded_rate, plan_.sample_rate,
                                                            absl::StrCat("/stimuli/", t.name, "/audio")));
  return &resampled_.emplace(story, std::move(heard)).first->second;
}

void Loader::PrefetchLoop(int64_t first_step) {
  for (int64_t step = first_step;; ++step) {
    {
      absl::MutexLock lock(&queue_mu_);
      while (!stop_ && static_cast<int>(queue_.size()) >= options_.prefetch) queue_cv_.Wait(&queue_mu_);
      if (stop_) return;
    }
    absl::StatusOr<Batch> batch = Build(GlobalBatch(plan_, options_.seed, options_.batch_size, step), {});
    if (batch.ok()) batch->step = step;
    bool failed = !batch.ok();
    {
      absl::MutexLock lock(&queue_mu_);
      queue_.push_back(std::move(batch));
    }
    queue_cv_.SignalAll();
    if (failed) return;  // the consumer sees the error; nothing after it would be valid
  }
}

absl::StatusOr<Batch> Loader::Next() {
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<Batch> batch;
  {
    absl::MutexLock lock(&queue_mu_);
    while (queue_.empty()) queue_cv_.Wait(&queue_mu_);
    batch = std::move(queue_.front());
    queue_.pop_front();
  }
  queue_cv_.SignalAll();
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return batch;
}

absl::StatusOr<Batch> Loader::Read(const std::vector<Window>& windows, const std::vector<int>& only) {
  return Build(windows, only);
}

int64_t Loader::bytes_read() const {
  absl::MutexLock lock(&reader_mu_);
  return reader_->bytes_read();
}

}  // namespace braintune::train

// The training data loader of one rank: global batches (plan.h) cut down to the windows this
// rank's shards heard, with their audio and z-scored targets, read from the HDF5 file on a
// background thread a few steps ahead, so a step does not wait on I/O in steady state and memory
// holds only `prefetch` batches (not the dataset). Torch-free: plain float buffers.
#ifndef BRAINTUNE_TRAIN_LOADER_H_
#define BRAINTUNE_TRAIN_LOADER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "data/reader.h"
#include "train/plan.h"
#include "train/text_sample.h"

namespace braintune::train {

// A shard this rank owns, with the per-target statistics used to z-score its responses.
struct OwnedShard {
  Shard shard;
  std::string space;
  int64_t n_targets = 0;             // the targets trained on
  std::vector<float> mean, inv_std;  // [n_targets]; inv_std is 0 for constant targets
  // data.target_roi: the columns of the responses trained on (n_targets of them, ascending),
  // out of file_targets; empty: all of them (file_targets == n_targets).
  std::vector<int32_t> columns;
  int64_t file_targets = 0;
};

struct Batch {
  int64_t step = 0;
  std::vector<Window> windows;  // the windows some owned shard heard, in batch order
  std::vector<float> audio;     // [windows.size(), plan.window_samples], prepared as plan.input says
  std::vector<TextSample> text;  // [windows.size()] for a text model's plan, instead of audio
  std::vector<WindowSpan> spans;  // [windows.size()]: each window's samples inside its story
  struct Targets {
    int shard = 0;                // index into Loader::shards()
    std::vector<int64_t> rows;    // into windows
    std::vector<float> values;    // [rows.size(), n_targets], z-scored per story
  };
  std::vector<Targets> targets;
  std::vector<Window> global_windows;  // the global batch (all ranks) this batch was cut from
};

struct LoaderOptions {
  uint64_t seed = 0;
  int batch_size = 16;
  int prefetch = 4;  // batches read ahead
  const TextSamples* text = nullptr;  // a text model's plan: its tokenized stories (outlive the loader)
};

// One rank's batches, read ahead of its step loop.
// Thread model: one consumer thread (the trainer's) calls every method; an internal prefetch
// thread builds Next's batches. They share the reader under reader_mu_ (every HDF5 call: Debian's
// HDF5 is not thread-safe) and the queue under queue_mu_; shards_ is final before that thread starts.
class Loader {
 public:
  // Opens `path`, computes the z-score statistics of every shard in `shards` (streamed in chunks)
  // and starts prefetching the batches of steps first_step, first_step+1, ...
  static absl::StatusOr<std::unique_ptr<Loader>> Start(const std::string& path, const Plan& plan,
                                                       std::vector<OwnedShard> shards, const LoaderOptions& options,
                                                       int64_t first_step);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next step's batch; blocks only when the prefetch thread is behind.
  absl::StatusOr<Batch> Next() ABSL_LOCKS_EXCLUDED(queue_mu_);

  // Reads `windows` for the shards in `only` (indices; empty = all) synchronously, e.g. for
  // evaluation.
  absl::StatusOr<Batch> Read(const std::vector<Window>& windows, const std::vector<int>& only = {})
      ABSL_LOCKS_EXCLUDED(reader_mu_);

  const std::vector<OwnedShard>& shards() const { return shards_; }
  int64_t bytes_read() const ABSL_LOCKS_EXCLUDED(reader_mu_);
  // Seconds Next() spent waiting for the prefetch thread.
  double wait_seconds() const { return wait_seconds_; }

 private:
  Loader(const Plan& plan, std::vector<OwnedShard> shards, const LoaderOptions& options,
         std::unique_ptr<data::DatasetReader> reader);
  absl::Status ComputeStatistics() ABSL_LOCKS_EXCLUDED(reader_mu_);
  absl::StatusOr<Batch> Build(const std::vector<Window>& windows, const std::vector<int>& only)
      ABSL_LOCKS_EXCLUDED(reader_mu_);
  void PrefetchLoop(int64_t first_step) ABSL_LOCKS_EXCLUDED(queue_mu_);
  // Rows [begin, begin + rows) of `owned`'s responses, only its columns (data.target_roi), raw.
  absl::Status ReadRows(const OwnedShard& owned, int64_t begin, int64_t rows, std::vector<float>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reader_mu_);
  // The whole audio of plan story `story` at the plan's rate: read and resampled the first time,
  // then kept (the map's nodes do not move).
  absl::StatusOr<const std::vector<float>*> ResampledAudio(int story) ABSL_EXCLUSIVE_LOCKS_REQUIRED(reader_mu_);

  // Constant after Start.
  const Plan plan_;
  const LoaderOptions options_;
  std::vector<OwnedShard> shards_;                 // statistics filled in by Start
  std::vector<std::vector<int>> shards_of_story_;  // story -> owned shard indices

  mutable absl::Mutex reader_mu_;
  std::unique_ptr<data::DatasetReader> reader_ ABSL_GUARDED_BY(reader_mu_);
  // Stories heard at another rate than recorded, resampled once (memory: their length at the
  // model's rate; 58 MB per hour of 16 kHz audio).
  std::map<int, std::vector<float>> resampled_ ABSL_GUARDED_BY(reader_mu_);

  absl::Mutex queue_mu_;
  absl::CondVar queue_cv_;  // the queue changed, or stop_ was set
  std::deque<absl::StatusOr<Batch>> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stop_ ABSL_GUARDED_BY(queue_mu_) = false;

  std::thread prefetcher_;
  double wait_seconds_ = 0;  // the consumer thread's
};

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_LOADER_H_

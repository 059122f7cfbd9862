// The training data loader of one rank: global batches (plan.h) cut down to the windows this
// rank's shards heard, with their audio and z-scored targets, read from the HDF5 file on a
// background thread a few steps ahead, so a step does not wait on I/O in steady state and memory
// holds only `prefetch` batches (not the dataset). Torch-free: plain float buffers.
#ifndef BRAINTUNE_TRAIN_LOADER_H_
#define BRAINTUNE_TRAIN_LOADER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "data/reader.h"
#include "train/plan.h"

namespace braintune::train {

// A shard this rank owns, with the per-target statistics used to z-score its responses.
struct OwnedShard {
  Shard shard;
  std::string space;
  int64_t n_targets = 0;
  std::vector<float> mean, inv_std;  // [n_targets]; inv_std is 0 for constant targets
};

struct Batch {
  int64_t step = 0;
  std::vector<Window> windows;  // the windows some owned shard heard, in batch order
  std::vector<float> audio;     // [windows.size(), plan.window_samples]
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
};

// Thread model: Next() and Read() from one consumer thread; one internal prefetch thread.
// Every HDF5 call is made under one mutex (Debian's HDF5 is not thread-safe).
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
  absl::StatusOr<Batch> Next();

  // Reads `windows` for the shards in `only` (indices; empty = all) synchronously, e.g. for
  // evaluation.
  absl::StatusOr<Batch> Read(const std::vector<Window>& windows, const std::vector<int>& only = {});

  const std::vector<OwnedShard>& shards() const { return shards_; }
  int64_t bytes_read() const;
  // Seconds Next() spent waiting for the prefetch thread.
  double wait_seconds() const { return wait_seconds_; }

 private:
  Loader(const Plan& plan, std::vector<OwnedShard> shards, const LoaderOptions& options,
         std::unique_ptr<data::DatasetReader> reader);
  absl::Status ComputeStatistics();
  absl::StatusOr<Batch> Build(const std::vector<Window>& windows, const std::vector<int>& only);
  void PrefetchLoop(int64_t first_step);

  const Plan plan_;
  const LoaderOptions options_;
  std::vector<OwnedShard> shards_;
  std::vector<std::vector<int>> shards_of_story_;  // story -> owned shard indices

  mutable std::mutex reader_mu_;
  std::unique_ptr<data::DatasetReader> reader_;  // guarded by reader_mu_

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<absl::StatusOr<Batch>> queue_;  // guarded by queue_mu_
  bool stop_ = false;                        // guarded by queue_mu_
  std::thread prefetcher_;
  double wait_seconds_ = 0;
};

}  // namespace braintune::train

#endif  // BRAINTUNE_TRAIN_LOADER_H_

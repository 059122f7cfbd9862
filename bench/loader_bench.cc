// Loader throughput against plain sequential reads of the same file (design.md section 8).
// Usage: loader_bench FILE [seconds] [warm|cold]. Prints one JSON line; bench/loader_bench.sh adds h5py and
// the trainer's consumption and prints the ratios.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <vector>

#include "absl/strings/str_format.h"
#include "data/dataset.h"
#include "train/loader.h"

using Clock = std::chrono::steady_clock;

static double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// With "cold", each measurement starts from an empty page cache (needs root), so the figures are
// the disk's, not memcpy's.
static void MaybeDropCaches(bool cold) {
  if (!cold) return;
  ::sync();
  FILE* f = std::fopen("/proc/sys/vm/drop_caches", "w");
  if (!f || std::fputs("3", f) < 0) std::cerr << "loader_bench: cannot drop caches (not root?)\n";
  if (f) std::fclose(f);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: loader_bench FILE [seconds]\n";
    return 2;
  }
  const std::string path = argv[1];
  const double budget = argc > 2 ? std::atof(argv[2]) : 20;
  const bool cold = argc > 3 && std::string(argv[3]) == "cold";
  MaybeDropCaches(cold);

  // Reference: the whole file with read(2) in 8 MB chunks.
  std::vector<char> buf(8 << 20);
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return std::perror(path.c_str()), 1;
  auto t = Clock::now();
  int64_t plain_bytes = 0;
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) plain_bytes += n;
  double plain_s = Since(t);
  ::close(fd);

  braintune::data::ReadOptions meta;
  meta.load_all_responses = false;
  meta.load_audio = false;
  auto ds = braintune::data::ReadDataset(path, meta);
  if (!ds.ok()) return std::cerr << ds.status() << "\n", 1;
  braintune::config::DataSpec spec;
  auto plan = braintune::train::MakePlan(*ds, spec, braintune::model::NoContract());
  if (!plan.ok()) return std::cerr << plan.status() << "\n", 1;
  std::vector<std::string> ids;
  for (const auto& p : ds->participants) ids.push_back(p.id);
  auto shards = braintune::train::AssignShards(*ds, *plan, ids, 1);
  std::vector<braintune::train::OwnedShard> owned;
  for (const auto& s : (*shards)[0]) {
    const auto* p = ds->FindParticipant(s.participant);
    owned.push_back({s, p->space, p->n_targets, {}, {}});
  }
  braintune::train::LoaderOptions o;
  o.batch_size = 16;
  MaybeDropCaches(cold);
  t = Clock::now();
  auto loader = braintune::train::Loader::Start(path, *plan, std::move(owned), o, 1);
  if (!loader.ok()) return std::cerr << loader.status() << "\n", 1;
  double stats_s = Since(t);
  int64_t stats_bytes = (*loader)->bytes_read();
  t = Clock::now();
  int64_t samples = 0, steps = 0;
  while (Since(t) < budget && (*loader)->bytes_read() - stats_bytes < plain_bytes) {
    auto batch = (*loader)->Next();
    if (!batch.ok()) return std::cerr << batch.status() << "\n", 1;
    samples += static_cast<int64_t>(batch->windows.size());
    ++steps;
  }
  double loader_s = Since(t);
  int64_t loader_bytes = (*loader)->bytes_read() - stats_bytes;
  std::cout << absl::StrFormat(
                   "{\"file_bytes\": %d, \"plain_mb_s\": %.1f, \"stats_mb_s\": %.1f, \"loader_mb_s\": %.1f, "
                   "\"loader_samples_s\": %.1f, \"loader_steps\": %d, \"participants\": %d, \"targets\": %d}",
                   plain_bytes, plain_bytes / plain_s / 1e6, stats_bytes / stats_s / 1e6,
                   loader_bytes / loader_s / 1e6, samples / loader_s, steps, ids.size(),
                   ds->participants[0].n_targets)
            << std::endl;
  return 0;
}

#include "rank/rank.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "model/threads.h"

namespace braintune::rank {

std::string OutputDir(const config::JobSpec& spec, const RankOptions& options) {
  return !spec.output.dir.empty() ? spec.output.dir : !options.output_dir.empty() ? options.output_dir : "braintune-output";
}

absl::Status CreateOutputDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create output directory: ", ec.message()));
  return absl::OkStatus();
}

int ConfigureThreads(const RankOptions& options, const dist::Communicator& comm) {
  int threads = options.threads > 0 ? options.threads
                                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) /
                                          std::max(1, comm.local_size());
  threads = std::max(1, threads);
  model::SetCpuThreads(threads);
  // Denormal floats make CPU kernels many times slower as weights get small.
  torch::globalContext().setFlushDenormal(true);
  return threads;
}

absl::Status RunOnRank(const char* program, dist::Communicator* comm, const std::function<absl::Status()>& job) {
  absl::Status status;
  try {
    status = job();
  } catch (const c10::Error& e) {
    status = absl::InternalError(absl::StrCat("LibTorch: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {  // std::bad_alloc above all: a job too big for the host
    status = absl::InternalError(absl::StrCat("unexpected error: ", e.what()));
  }
  // Aborted: every rank stopped at the same step on purpose (trainer.h, SIGTERM); nothing hangs.
  if (!status.ok() && status.code() != absl::StatusCode::kAborted && comm->size() > 1) {
    // Now, not after unwinding: a collective that timed out may still be writing into the
    // job's buffers, and the other ranks may be waiting in one.
    std::cerr << program << ": rank " << comm->rank() << ": " << status.message() << std::endl;
    comm->Abort(1);
  }
  return status;
}

}  // namespace braintune::rank

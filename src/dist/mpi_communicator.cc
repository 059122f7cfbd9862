// MPI backend: host buffers; every MPI call of the job's collectives runs on one communication
// thread, in issue order, so the caller overlaps computation with them.
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "dist/communicator.h"
#include "dist/work.h"

namespace braintune::dist {
namespace {

// Wraps an MPI return code with the call and MPI's own message.
absl::Status MpiStatus(int rc, const std::string& what) {
  if (rc == MPI_SUCCESS) return absl::OkStatus();
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return absl::InternalError(absl::StrCat(what, " failed: ", std::string(msg, len)));
}

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

// Tag of the timeout reports exchanged on the diagnosis communicator.
constexpr int kTimeoutTag = 7;

// Thread model: one thread issues the collectives (Communicator's rule) into queue_; the
// communication thread runs them; a waiting thread may diagnose a timeout.
class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // Timeout reports travel apart from the collectives, so they cannot match one by mistake.
    MPI_Comm_dup(MPI_COMM_WORLD, &diag_comm_);
    local_rank_ = EnvInt("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    local_size_ = EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
    thread_ = std::thread([this] { Loop(); });
  }
  ~MpiCommunicator() override {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    thread_.join();
    MPI_Comm_free(&diag_comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  std::string backend() const override { return "mpi"; }

  std::shared_ptr<Work> AllReduceSumAsync(float* data, int64_t count) override {
    return Issue("all_reduce", count, "floats", [=](int n) {
      return MPI_Allreduce(MPI_IN_PLACE, data, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    });
  }
  std::shared_ptr<Work> AllReduceSumAsync(double* data, int64_t count) override {
    return Issue("all_reduce", count, "doubles", [=](int n) {
      return MPI_Allreduce(MPI_IN_PLACE, data, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    });
  }
  std::shared_ptr<Work> BroadcastAsync(float* data, int64_t count, int root) override {
    return Issue("broadcast", count, "floats",
                 [=](int n) { return MPI_Bcast(data, n, MPI_FLOAT, root, MPI_COMM_WORLD); });
  }
  std::shared_ptr<Work> BroadcastBytesAsync(void* data, int64_t bytes, int root) override {
    return Issue("broadcast", bytes, "bytes",
                 [=](int n) { return MPI_Bcast(data, n, MPI_BYTE, root, MPI_COMM_WORLD); });
  }
  std::shared_ptr<Work> AllGatherAsync(const float* send, int64_t count, float* recv) override {
    return Issue("all_gather", count, "floats", [=](int n) {
      return MPI_Allgather(send, n, MPI_FLOAT, recv, n, MPI_FLOAT, MPI_COMM_WORLD);
    });
  }
  std::shared_ptr<Work> BarrierAsync() override {
    return Issue("barrier", 0, "", [](int) { return MPI_Barrier(MPI_COMM_WORLD); });
  }
  [[noreturn]] void Abort(int exit_code) override {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);  // MPI_Abort should not return; make sure.
  }

 private:
  struct Op {
    std::shared_ptr<PendingWork> work;
    std::function<int()> run;
  };

  std::shared_ptr<Work> Issue(const char* what, int64_t count, const char* unit, std::function<int(int)> call) {
    const int64_t seq = next_seq_++;
    std::string name = count > 0 ? absl::StrFormat("%s #%d (%d %s)", what, seq, count, unit)
                                 : absl::StrFormat("%s #%d", what, seq);
    auto work = std::make_shared<PendingWork>(std::move(name), rank_, timeout_seconds(),
                                              [this, seq](const std::string& op) { return Diagnose(op, seq); });
    if (count > INT_MAX) {
      work->Finish(absl::InvalidArgumentError(absl::StrCat(work->name(), ": more than 2^31-1 elements")));
      return work;
    }
    absl::MutexLock lock(&mu_);
    queue_.push_back({work, [call = std::move(call), n = static_cast<int>(count)] { return call(n); }});
    cv_.SignalAll();
    return work;
  }

  void Loop() {
    for (;;) {
      Op op;
      {
        absl::MutexLock lock(&mu_);
        while (!stop_ && queue_.empty()) cv_.Wait(&mu_);
        if (queue_.empty()) return;  // stopping, nothing left
        op = std::move(queue_.front());
        queue_.pop_front();
      }
      op.work->MarkStarted();
      op.work->Finish(MpiStatus(op.run(), op.work->name()));
    }
  }

  // Called on the waiting thread when operation `seq` timed out: tells every other rank so, and
  // listens for their reports for a grace period. Ranks stuck in the same collective report too;
  // the ranks that stay silent are the ones that never arrived (hung in computation, or dead).
  std::string Diagnose(const std::string& op, int64_t seq) {
    if (size_ == 1) return "";
    timed_out_seq_ = seq;  // a member: the sends to silent ranks never complete
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      MPI_Request send;
      MPI_Isend(&timed_out_seq_, 1, MPI_LONG_LONG, r, kTimeoutTag, diag_comm_, &send);
      MPI_Request_free(&send);
    }
    std::vector<bool> reported(size_, false);
    reported[rank_] = true;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      int flag = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, kTimeoutTag, diag_comm_, &flag, &status);
      if (flag) {
        long long theirs = 0;
        MPI_Recv(&theirs, 1, MPI_LONG_LONG, status.MPI_SOURCE, kTimeoutTag, diag_comm_, MPI_STATUS_IGNORE);
        if (theirs == seq) reported[status.MPI_SOURCE] = true;
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::vector<int> waiting, silent;
    for (int r = 0; r < size_; ++r) {
      if (r != rank_) (reported[r] ? waiting : silent).push_back(r);
    }
    if (silent.empty()) return "every rank reached the timeout in this operation";
    return absl::StrCat("rank(s) ", absl::StrJoin(silent, ", "), " never joined it (no report within 2 s)",
                        waiting.empty() ? "" : absl::StrCat(" (rank(s) ", absl::StrJoin(waiting, ", "),
                                                            " were waiting in it too)"));
  }

  // Constant after construction.
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  MPI_Comm diag_comm_ = MPI_COMM_NULL;

  long long timed_out_seq_ = 0;  // the waiting thread only
  int64_t next_seq_ = 1;  // issue thread only
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<Op> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

void FinalizeAtExit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Communicator>> MakeMpiCommunicator() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // A rank waiting in a collective on the communication thread yields its core instead of
    // spinning on it: the backward pass it overlaps with needs that core (unless the user set it).
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", /*overwrite=*/0);
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
      return absl::UnavailableError("MPI_Init_thread failed");
    }
    std::atexit(FinalizeAtExit);
    if (provided < MPI_THREAD_MULTIPLE) {
      return absl::UnavailableError(
          "this MPI library does not support MPI_THREAD_MULTIPLE (needed: collectives run on a "
          "communication thread while timeouts are diagnosed on the caller's)");
    }
    // Errors come back as codes (wrapped into Status) instead of aborting inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  return std::unique_ptr<Communicator>(new MpiCommunicator());
}

absl::StatusOr<std::unique_ptr<Communicator>> MakeCommunicator(const std::string& device) {
  if (device == "cpu") return MakeMpiCommunicator();
  if (device == "cuda") {
    if (!NcclBuilt()) {
      return absl::UnimplementedError(
          "device \"cuda\" needs the NCCL backend, and this braintune was built without it (CUDA and "
          "NCCL were not found under /usr/local/cuda at configure time)");
    }
    ASSIGN_OR_RETURN(std::unique_ptr<Communicator> mpi, MakeMpiCommunicator());
    return MakeNcclCommunicator(std::move(mpi));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown device \"", device, "\" (cpu or cuda)"));
}

}  // namespace braintune::dist

#include <mpi.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "dist/communicator.h"

namespace braintune::dist {
namespace {

// Wraps an MPI return code with the call site and MPI's own message.
absl::Status MpiCheck(int rc, const char* what, const char* file, int line) {
  if (rc == MPI_SUCCESS) return absl::OkStatus();
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return absl::InternalError(absl::StrCat(what, " failed at ", file, ":", line, ": ", std::string(msg, len)));
}
#define MPI_CHECK(call) MpiCheck((call), #call, __FILE__, __LINE__)

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    local_rank_ = EnvInt("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    local_size_ = EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  std::string backend() const override { return "mpi"; }

  absl::Status AllReduceSum(float* data, int64_t count) override {
    return MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
  }
  absl::Status AllReduceSum(double* data, int64_t count) override {
    return MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
  }
  absl::Status Broadcast(float* data, int64_t count, int root) override {
    return MPI_CHECK(MPI_Bcast(data, static_cast<int>(count), MPI_FLOAT, root, MPI_COMM_WORLD));
  }
  absl::Status Barrier() override { return MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); }
  [[noreturn]] void Abort(int exit_code) override {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);  // MPI_Abort should not return; make sure.
  }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
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
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      return absl::UnavailableError("MPI_Init_thread failed");
    }
    std::atexit(FinalizeAtExit);
    // Errors come back as codes (wrapped into Status) instead of aborting inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  return std::unique_ptr<Communicator>(new MpiCommunicator());
}

}  // namespace braintune::dist

// The Work handle every backend hands out: finished by the backend's thread, waited on by the
// caller with the communicator's timeout. Internal to src/dist and its test double
// (tests/testing/thread_communicator.h).
#ifndef BRAINTUNE_DIST_WORK_H_
#define BRAINTUNE_DIST_WORK_H_

#include <chrono>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dist/communicator.h"

namespace braintune::dist {

// Seconds since the first call in this process (the time base of Work::started_at).
inline double MonotonicSeconds() {
  static const auto epoch = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch).count();
}

// Thread model: any thread may call any method (the backend's thread finishes it, the caller's
// waits on it); mu_ guards the state.
class PendingWork : public Work {
 public:
  // `diagnose` (may be empty) explains a timeout: which peers did not arrive.
  PendingWork(std::string name, int rank, double timeout_seconds,
              std::function<std::string(const std::string&)> diagnose)
      : name_(std::move(name)), rank_(rank), timeout_seconds_(timeout_seconds),
        issued_(std::chrono::steady_clock::now()), diagnose_(std::move(diagnose)) {}

  const std::string& name() const { return name_; }
  double issued_seconds_ago() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - issued_).count();
  }
  double timeout_seconds() const { return timeout_seconds_; }

  void MarkStarted() {
    absl::MutexLock lock(&mu_);
    started_at_ = MonotonicSeconds();
  }
  // First call wins (the watchdog and the backend may both finish a work).
  void Finish(absl::Status status) {
    absl::MutexLock lock(&mu_);
    FinishLocked(std::move(status));
  }
  // The message of an operation that outlived the timeout.
  absl::Status TimeoutStatus() {
    std::string why = absl::StrFormat("rank %d: %s did not complete within %g s", rank_, name_, timeout_seconds_);
    if (diagnose_) {
      const std::string peers = diagnose_(name_);
      if (!peers.empty()) why += "; " + peers;
    }
    return absl::DeadlineExceededError(why);
  }

  absl::Status Wait() override {
    {
      absl::MutexLock lock(&mu_);
      // Timed from the issue, on the steady clock (absl's deadlines follow the wall clock).
      for (double left = timeout_seconds_ - issued_seconds_ago(); !done_ && left > 0;
           left = timeout_seconds_ - issued_seconds_ago()) {
        cv_.WaitWithTimeout(&mu_, absl::Seconds(left));
      }
      if (done_) return status_;
    }
    // Diagnosing may take a while (it asks the peers): not under mu_.
    absl::Status timeout = TimeoutStatus();
    absl::MutexLock lock(&mu_);
    FinishLocked(std::move(timeout));
    return status_;
  }
  bool Done() override {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  double started_at() const override {
    absl::MutexLock lock(&mu_);
    return started_at_;
  }

 private:
  void FinishLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (done_) return;
    done_ = true;
    status_ = std::move(status);
    cv_.SignalAll();
  }

  // Constant after construction.
  const std::string name_;
  const int rank_;
  const double timeout_seconds_;
  const std::chrono::steady_clock::time_point issued_;
  const std::function<std::string(const std::string&)> diagnose_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  double started_at_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace braintune::dist

#endif  // BRAINTUNE_DIST_WORK_H_

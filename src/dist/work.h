// The Work handle both backends hand out: finished by the backend's thread, waited on by the
// caller with the communicator's timeout. Internal to src/dist.
#ifndef BRAINTUNE_DIST_WORK_H_
#define BRAINTUNE_DIST_WORK_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "absl/strings/str_format.h"
#include "dist/communicator.h"

namespace braintune::dist {

// Seconds since the first call in this process (the time base of Work::started_at).
inline double MonotonicSeconds() {
  static const auto epoch = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch).count();
}

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
    std::lock_guard<std::mutex> lock(mu_);
    started_at_ = MonotonicSeconds();
  }
  // First call wins (the watchdog and the backend may both finish a work).
  void Finish(absl::Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return;
      done_ = true;
      status_ = std::move(status);
    }
    cv_.notify_all();
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
    std::unique_lock<std::mutex> lock(mu_);
    const auto deadline = issued_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                        std::chrono::duration<double>(timeout_seconds_));
    if (!cv_.wait_until(lock, deadline, [&] { return done_; })) {
      lock.unlock();
      absl::Status timeout = TimeoutStatus();
      Finish(timeout);
      lock.lock();
    }
    return status_;
  }
  bool Done() override {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  double started_at() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return started_at_;
  }

 private:
  const std::string name_;
  const int rank_;
  const double timeout_seconds_;
  const std::chrono::steady_clock::time_point issued_;
  const std::function<std::string(const std::string&)> diagnose_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  absl::Status status_;
  double started_at_ = 0;
};

}  // namespace braintune::dist

#endif  // BRAINTUNE_DIST_WORK_H_

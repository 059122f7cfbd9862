#include "testing/thread_communicator.h"

#include <climits>
#include <cstring>
#include <deque>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "dist/work.h"

namespace braintune::testing {
namespace {

// How Abort ends a rank's thread; Run catches it.
struct RankAborted {
  int exit_code;
};

template <typename T>
void SumInto(const std::vector<void*>& buffers, int64_t bytes) {
  const int64_t n = bytes / static_cast<int64_t>(sizeof(T));
  std::vector<T> sum(static_cast<const T*>(buffers[0]), static_cast<const T*>(buffers[0]) + n);
  for (size_t r = 1; r < buffers.size(); ++r) {  // rank order: every rank gets the same bits
    const T* theirs = static_cast<const T*>(buffers[r]);
    for (int64_t i = 0; i < n; ++i) sum[i] += theirs[i];
  }
  for (void* b : buffers) std::memcpy(b, sum.data(), bytes);
}

}  // namespace

// Thread model: as Communicator says; the queue is shared with the communication thread.
class ThreadWorld::RankCommunicator : public dist::Communicator {
 public:
  RankCommunicator(ThreadWorld* world, int rank) : world_(world), rank_(rank) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~RankCommunicator() override {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    thread_.join();
  }
  int rank() const override { return rank_; }
  int size() const override { return world_->size_; }
  int local_rank() const override { return rank_; }
  int local_size() const override { return world_->size_; }
  std::string backend() const override { return "threads"; }

  std::shared_ptr<dist::Work> AllReduceSumAsync(float* data, int64_t count) override {
    return Issue("all_reduce", count, "floats", {Contribution::kSumFloat, "", data, nullptr, 4 * count, -1});
  }
  std::shared_ptr<dist::Work> AllReduceSumAsync(double* data, int64_t count) override {
    return Issue("all_reduce", count, "doubles", {Contribution::kSumDouble, "", data, nullptr, 8 * count, -1});
  }
  std::shared_ptr<dist::Work> BroadcastAsync(float* data, int64_t count, int root) override {
    return Issue("broadcast", count, "floats", {Contribution::kBroadcast, "", data, nullptr, 4 * count, root});
  }
  std::shared_ptr<dist::Work> BroadcastBytesAsync(void* data, int64_t bytes, int root) override {
    return Issue("broadcast", bytes, "bytes", {Contribution::kBroadcast, "", data, nullptr, bytes, root});
  }
  std::shared_ptr<dist::Work> AllGatherAsync(const float* send, int64_t count, float* recv) override {
    return Issue("all_gather", count, "floats", {Contribution::kAllGather, "", recv, send, 4 * count, -1});
  }
  std::shared_ptr<dist::Work> BarrierAsync() override {
    return Issue("barrier", 0, "", {Contribution::kBarrier, "", nullptr, nullptr, 0, -1});
  }
  [[noreturn]] void Abort(int exit_code) override {
    world_->AbortAll(rank_, exit_code);
    throw RankAborted{exit_code};
  }

 private:
  struct Op {
    std::shared_ptr<dist::PendingWork> work;
    Contribution contribution;
    int64_t seq;
  };

  std::shared_ptr<dist::Work> Issue(const char* what, int64_t count, const char* unit, Contribution c) {
    const int64_t seq = next_seq_++;
    // The MPI backend's names, so that messages read the same.
    c.name = count > 0 ? absl::StrFormat("%s #%d (%d %s)", what, seq, count, unit) : absl::StrFormat("%s #%d", what, seq);
    auto work = std::make_shared<dist::PendingWork>(
        c.name, rank_, timeout_seconds(), [this, seq](const std::string&) { return world_->Diagnose(seq, rank_); });
    absl::MutexLock lock(&mu_);
    queue_.push_back({work, std::move(c), seq});
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
      op.work->Finish(world_->Meet(rank_, op.seq, op.contribution));
    }
  }

  // Constant after construction.
  ThreadWorld* const world_;
  const int rank_;

  int64_t next_seq_ = 1;  // the issuing thread only
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<Op> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

ThreadWorld::ThreadWorld(int size) : size_(size) {
  for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<RankCommunicator>(this, r));
}

ThreadWorld::~ThreadWorld() {
  {
    absl::MutexLock lock(&mu_);
    ending_ = true;
    cv_.SignalAll();
  }
  ranks_.clear();  // joins the communication threads
}

dist::Communicator& ThreadWorld::rank(int r) { return *ranks_[r]; }

std::vector<int> ThreadWorld::Run(const std::function<void(dist::Communicator&)>& body) {
  std::vector<int> exit_codes(size_, 0);
  std::vector<std::thread> threads;
  for (int r = 0; r < size_; ++r) {
    threads.emplace_back([&, r] {
      try {
        body(*ranks_[r]);
      } catch (const RankAborted& aborted) {
        exit_codes[r] = aborted.exit_code;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return exit_codes;
}

absl::Status ThreadWorld::Meet(int rank, int64_t seq, const Contribution& mine) {
  absl::MutexLock lock(&mu_);
  if (!aborted_.empty()) return absl::AbortedError(absl::StrCat(mine.name, ": ", aborted_));
  if (ending_) return absl::CancelledError(absl::StrCat(mine.name, ": the thread world is ending"));
  Meeting& m = meetings_[seq];
  if (m.arrived.empty()) m.arrived.resize(size_, nullptr);
  for (int r = 0; r < size_ && m.status.ok(); ++r) {
    const Contribution* other = m.arrived[r];
    if (other && (other->name != mine.name || other->root != mine.root)) {
      m.status = absl::InvalidArgumentError(absl::StrFormat(
          "rank %d issued %s (root %d) where rank %d issued %s (root %d): every rank must issue the same "
          "collectives in the same order",
          rank, mine.name, mine.root, r, other->name, other->root));
    }
  }
  m.arrived[rank] = &mine;
  if (++m.count == size_) {
    if (m.status.ok()) CarryOutLocked(m);
    m.done = true;
    cv_.SignalAll();
  }
  while (!m.done && aborted_.empty() && !ending_) cv_.Wait(&mu_);
  if (!m.done) {
    // The other ranks' buffers may be gone: this meeting is never carried out.
    return aborted_.empty() ? absl::CancelledError(absl::StrCat(mine.name, ": the thread world is ending"))
                            : absl::AbortedError(absl::StrCat(mine.name, ": ", aborted_));
  }
  const absl::Status status = m.status;
  if (++m.left == size_) meetings_.erase(seq);
  return status;
}

void ThreadWorld::CarryOutLocked(const Meeting& m) {
  const Contribution& first = *m.arrived[0];
  std::vector<void*> data;
  for (const Contribution* c : m.arrived) data.push_back(c->data);
  switch (first.kind) {
    case Contribution::kSumFloat:
      SumInto<float>(data, first.bytes);
      break;
    case Contribution::kSumDouble:
      SumInto<double>(data, first.bytes);
      break;
    case Contribution::kBroadcast:
      for (void* d : data) {
        if (d != data[first.root]) std::memcpy(d, data[first.root], first.bytes);
      }
      break;
    case Contribution::kAllGather:
      for (void* d : data) {
        for (int q = 0; q < size_; ++q) {
          std::memcpy(static_cast<char*>(d) + q * first.bytes, m.arrived[q]->send, first.bytes);
        }
      }
      break;
    case Contribution::kBarrier:
      break;
  }
}

std::string ThreadWorld::Diagnose(int64_t seq, int rank) {
  absl::MutexLock lock(&mu_);
  auto it = meetings_.find(seq);
  if (it == meetings_.end() || it->second.done) return "";
  std::vector<int> waiting, silent;
  for (int r = 0; r < size_; ++r) {
    if (r != rank) (it->second.arrived[r] ? waiting : silent).push_back(r);
  }
  if (silent.empty()) return "every rank reached the timeout in this operation";
  return absl::StrCat("rank(s) ", absl::StrJoin(silent, ", "), " never joined it",
                      waiting.empty() ? "" : absl::StrCat(" (rank(s) ", absl::StrJoin(waiting, ", "),
                                                          " were waiting in it too)"));
}

void ThreadWorld::AbortAll(int rank, int exit_code) {
  absl::MutexLock lock(&mu_);
  if (aborted_.empty()) aborted_ = absl::StrFormat("rank %d aborted the job (exit code %d)", rank, exit_code);
  cv_.SignalAll();
}

}  // namespace braintune::testing

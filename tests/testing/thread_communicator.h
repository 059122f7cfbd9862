// N ranks of one job as N threads of this process, sharing memory, so that multi-rank logic
// built on dist::Communicator (the gradient reducer) is unit-tested in one process, as PyTorch's
// c10d tests do, beside the mpirun tests.
//
//   ThreadWorld world(3);
//   std::vector<int> exit_codes = world.Run([&](dist::Communicator& comm) { ... });
//
// The ranks' communicators keep dist/communicator.h's contract:
// 1. Each rank's operations run in issue order on a communication thread of that rank, and the
//    callers get a Work at once.
// 2. Operation #k of a rank meets operation #k of every other rank; the last to arrive carries it
//    out on every rank's buffer. Ranks that issued different operations (kind, size or root)
//    all fail with INVALID_ARGUMENT naming both: the same-order rule, checked.
// 3. Wait() is bounded by the rank's timeout_seconds(); a timeout names the ranks that never
//    joined, in the MPI backend's words.
// 4. Abort() fails every pending and later operation of every rank with ABORTED and ends the
//    calling rank's thread (Run reports its exit code); peers learn it from their next Wait().
#ifndef BRAINTUNE_TESTS_TESTING_THREAD_COMMUNICATOR_H_
#define BRAINTUNE_TESTS_TESTING_THREAD_COMMUNICATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "dist/communicator.h"

namespace braintune::testing {

// Thread model: each rank's communicator as Communicator says (one issuing thread per rank);
// Run and the destructor from the test's thread; mu_ guards what the ranks share.
class ThreadWorld {
 public:
  explicit ThreadWorld(int size);
  // Fails what is still pending with CANCELLED and joins the communication threads.
  ~ThreadWorld();
  ThreadWorld(const ThreadWorld&) = delete;
  ThreadWorld& operator=(const ThreadWorld&) = delete;

  int size() const { return size_; }
  dist::Communicator& rank(int r);

  // Runs body(rank r's communicator) on one thread per rank and joins them. Returns each rank's
  // exit code: 0 when body returned, or the code it passed to Abort.
  std::vector<int> Run(const std::function<void(dist::Communicator&)>& body);

 private:
  class RankCommunicator;

  // One rank's part in one collective: its buffers stay alive while it waits in Meet().
  struct Contribution {
    enum Kind { kSumFloat, kSumDouble, kBroadcast, kAllGather, kBarrier } kind;
    std::string name;   // the Work's name, e.g. "all_reduce #3 (4 floats)"
    void* data;         // in/out; the receive buffer of an all-gather
    const void* send;   // all-gather only
    int64_t bytes;      // per rank
    int root;           // broadcast only, else -1
  };
  // Collective #seq as the ranks arrive at it.
  struct Meeting {
    std::vector<const Contribution*> arrived;  // by rank, null until it arrives
    int count = 0, left = 0;
    bool done = false;
    absl::Status status;  // once done
  };

  // Blocks until every rank has arrived at collective #seq (or the job is aborted or ending).
  absl::Status Meet(int rank, int64_t seq, const Contribution& mine);
  void CarryOutLocked(const Meeting& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why collective #seq has not completed: which ranks never joined it.
  std::string Diagnose(int64_t seq, int rank);
  void AbortAll(int rank, int exit_code);

  const int size_;
  std::vector<std::unique_ptr<RankCommunicator>> ranks_;  // constant after construction

  absl::Mutex mu_;
  absl::CondVar cv_;
  std::map<int64_t, Meeting> meetings_ ABSL_GUARDED_BY(mu_);
  std::string aborted_ ABSL_GUARDED_BY(mu_);  // why, once a rank called Abort
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace braintune::testing

#endif  // BRAINTUNE_TESTS_TESTING_THREAD_COMMUNICATOR_H_

// A training job small enough for the multi-process tests: a synthetic brain of `participants`
// x 3 stories of 60 s with 8 targets at dir/brain.h5, and a spec for it at dir/job.yaml (a
// tiny encoder; a few steps take seconds on one core).
#ifndef BRAINTUNE_TESTS_TESTING_TINY_JOB_H_
#define BRAINTUNE_TESTS_TESTING_TINY_JOB_H_

#include <string>

#include "testing/process.h"

namespace braintune::testing {

struct TinyJob {
  std::string name = "small";
  int participants = 2;
  int steps = 4;
  std::string resources = "ranks: 1";  // the inside of the spec's resources: {...}
  int checkpoint_every = 100;          // training.checkpoint_every
  std::string file = "job.yaml";
  std::string output_dir;              // output.dir (relative to dir); empty: the agent's job directory
};

// Writes dir/brain.h5 (unless there) and dir/<job.file>; fails the calling test on error.
void WriteTinyJob(const TempDir& dir, const TinyJob& job);

}  // namespace braintune::testing

#endif  // BRAINTUNE_TESTS_TESTING_TINY_JOB_H_

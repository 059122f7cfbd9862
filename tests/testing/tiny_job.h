// A training job small enough for the multi-process tests: a synthetic brain of `participants`
// x 3 stories of 60 s with 8 targets at dir/brain.h5, and a spec for it at dir/job.yaml (a
// tiny encoder; a few steps take seconds on one core).
#ifndef BRAINTUNE_TESTS_TESTING_TINY_JOB_H_
#define BRAINTUNE_TESTS_TESTING_TINY_JOB_H_

#include <string>

#include "testing/process.h"

namespace braintune::testing {

// What differs between the tiny jobs of the tests; every field has a default, so a call names
// only what it changes, with designated initialisers in declaration order:
//   WriteTinyJob(dir, {.name = "urgent", .steps = 60, .resources = "ranks: 2, priority: 900"});
// (designated initialisers are C++20; GCC and Clang accept them in C++17 without -pedantic).
struct TinyJob {
  std::string name = "small";          // the spec's name
  int participants = 2;                // of the synthetic brain (read only when brain.h5 is new)
  int steps = 4;                       // training.steps
  std::string resources = "ranks: 1";  // the inside of the spec's resources: {...}
  int checkpoint_every = 100;          // training.checkpoint_every
  std::string file = "job.yaml";       // the spec's file name in dir
  // output.dir (relative to dir); empty: the agent's job directory.
  std::string output_dir;
  // More of training: {...}, after a comma, e.g. ", patience: 0".
  std::string training;
};

// Writes dir/brain.h5 (unless there) and dir/<job.file>; fails the calling test on error.
void WriteTinyJob(const TempDir& dir, const TinyJob& job);

}  // namespace braintune::testing

#endif  // BRAINTUNE_TESTS_TESTING_TINY_JOB_H_

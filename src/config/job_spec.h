// The YAML job spec (configs/*.yaml) as typed, validated structs.
// Every field, its default and its range is documented in docs/job-spec.md; the defaults are
// written here, in the structs, and nowhere else.
#ifndef BRAINTUNE_CONFIG_JOB_SPEC_H_
#define BRAINTUNE_CONFIG_JOB_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace braintune::config {

struct ResourcesSpec {
  int ranks = 1;          // MPI ranks (one CPU slot or GPU each); 1..1024
  int gpus_per_rank = 0;  // 0 = CPU; 0..8
};

struct DataSpec {
  std::string path;                       // HDF5 dataset (required); relative to the spec file
  std::vector<std::string> participants;  // empty = every participant in the file
  std::vector<std::string> test_stories;  // held out for evaluation; empty = the last story
  int context_trs = 5;   // audio of the current TR plus the preceding context_trs-1; 1..32
  // Seconds of audio per sample, ending with the sample; [0, 120]. 0: context_trs TRs (fMRI),
  // 1 s (MEG, whose samples are milliseconds apart).
  double context_seconds = 0;
  int trim_start = 10;   // TRs dropped at the start of every story; 0..1000
  int trim_end = 5;      // TRs dropped at the end of every story; 0..1000
};

struct ModelSpec {
  std::string size = "tiny";  // "tiny": a CPU-sized speech encoder
  int hidden = 64;            // transformer width; 8..4096, divisible by heads
  int layers = 2;             // transformer layers; 1..48
  int heads = 4;              // attention heads; 1..64
  int ffn = 128;              // feed-forward width; 8..16384
  int conv_channels = 64;     // channels of the convolutional front end; 8..1024
};

struct TrainingSpec {
  int64_t steps = 200;        // optimizer steps; 1..10,000,000
  int batch_size = 16;        // stimulus windows per global batch; 1..65536
  double lr = 1e-3;           // AdamW learning rate; (0, 1]
  double weight_decay = 0.01; // AdamW weight decay; [0, 1]
  double grad_clip = 1.0;     // maximum global gradient norm; (0, 1e6]
  uint64_t seed = 0;          // batches and initialisation; same seed, same run
  int log_every = 10;         // steps between progress reports; 1..100000
  int eval_batch_size = 32;   // windows per forward pass during evaluation; 1..65536
};

struct OutputSpec {
  std::string dir;            // where checkpoint and results go; empty = the agent's job directory
};

// Gradient synchronisation across ranks (src/ddp/reducer.h, docs/ddp.md).
struct DistributedSpec {
  double bucket_cap_mb = 25;        // gradient bucket size; (0, 4096]
  double first_bucket_cap_mb = 1;   // the first bucket, ready earliest; (0, 4096]
  double collective_timeout = 600;  // seconds a rank waits in a collective before failing; (0, 86400]
};

struct JobSpec {
  std::string name;           // required; [A-Za-z0-9._-], 1..64 characters
  std::string kind = "train"; // "train"
  ResourcesSpec resources;
  DataSpec data;
  ModelSpec model;
  TrainingSpec training;
  DistributedSpec distributed;
  OutputSpec output;
};

// Parses and validates a spec. `source` names the text in error messages (usually the file).
// Errors are InvalidArgument and read "<source>:<line>: <key>: <what is wrong>".
absl::StatusOr<JobSpec> ParseJobSpec(const std::string& yaml_text, const std::string& source);

// Reads `path` and parses it; relative paths inside (data.path, output.dir) are resolved
// against the directory of `path`.
absl::StatusOr<JobSpec> LoadJobSpecFile(const std::string& path);

// Returns `yaml_text` with data.path and output.dir made absolute against `base_dir`, so a
// spec can travel to a worker. The text must already parse.
absl::StatusOr<std::string> ResolveSpecPaths(const std::string& yaml_text,
                                             const std::string& base_dir);

}  // namespace braintune::config

#endif  // BRAINTUNE_CONFIG_JOB_SPEC_H_

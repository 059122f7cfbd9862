// The coordinator's one mapping from a job spec's text to the typed fields it schedules by.
// Clients send the text alone (a client in any language can submit); everything the scheduler
// reads is derived here, from the coordinator's own parse. Thread-compatible (pure functions).
#ifndef BRAINTUNE_COORDINATOR_JOB_SPEC_PROTO_H_
#define BRAINTUNE_COORDINATOR_JOB_SPEC_PROTO_H_

#include <string>

#include "absl/status/statusor.h"
#include "braintune/v1/job.pb.h"

namespace braintune::coordinator {

// Parses `spec_yaml` (errors name `source_file`, or "job spec") and returns the proto a job
// keeps: the text, its source, and every scheduling field (name, kind, every resources key).
// With `base_dir` (absolute), the text kept has its relative paths made absolute against it.
// Whatever else a client put in its JobSpec is not read.
absl::StatusOr<v1::JobSpec> JobSpecProtoFromText(const std::string& spec_yaml, const std::string& source_file,
                                                 const std::string& base_dir = "");

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_JOB_SPEC_PROTO_H_

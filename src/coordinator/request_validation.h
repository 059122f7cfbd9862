// Checks of every RPC request before it reaches the job manager: sizes, ranges, string
// lengths and characters, enum values. An error is InvalidArgument naming the field, e.g.
// "spec.spec_yaml: 2000000 bytes, at most 1048576", and the request changes nothing.
#ifndef BRAINTUNE_COORDINATOR_REQUEST_VALIDATION_H_
#define BRAINTUNE_COORDINATOR_REQUEST_VALIDATION_H_

#include "absl/status/status.h"
#include "braintune/v1/agent_service.pb.h"
#include "braintune/v1/job_service.pb.h"

namespace braintune::coordinator {

constexpr size_t kMaxSpecBytes = 1 << 20;  // a YAML job spec
constexpr size_t kMaxNameLength = 64;      // user, node and job names
constexpr size_t kMaxPathLength = 4096;
constexpr int kMaxListLimit = 100000;
constexpr int kMaxJobsPerHeartbeat = 10000;
constexpr size_t kMaxLogPieceBytes = 1 << 20;  // agents send at most 256 KiB per job and heartbeat

absl::Status Validate(const v1::SubmitJobRequest& r);
absl::Status Validate(const v1::GetJobRequest& r);
absl::Status Validate(const v1::ListJobsRequest& r);
absl::Status Validate(const v1::CancelJobRequest& r);
absl::Status Validate(const v1::WatchJobRequest& r);
absl::Status Validate(const v1::StreamLogsRequest& r);
absl::Status Validate(const v1::RegisterNodeRequest& r);
absl::Status Validate(const v1::HeartbeatRequest& r);
absl::Status Validate(const v1::ReportProgressRequest& r);
absl::Status Validate(const v1::AuthorizeExecRequest& r);

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_REQUEST_VALIDATION_H_

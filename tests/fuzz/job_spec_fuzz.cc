// libFuzzer target (scripts/fuzz): what the coordinator takes from the network before it
// trusts it. The input is tried as a YAML job spec (the parser must return a status, never
// crash, hang or read out of bounds) and as each RPC request in protobuf wire format (the
// validator likewise); a spec that parses is submitted through the validator too.
#include <cstddef>
#include <cstdint>
#include <string>

#include "braintune/v1/agent_service.pb.h"
#include "braintune/v1/job_service.pb.h"
#include "config/job_spec.h"
#include "coordinator/request_validation.h"

namespace {

template <typename Request>
void Validate(const std::string& bytes) {
  Request r;
  if (r.ParseFromString(bytes)) (void)braintune::coordinator::Validate(r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<braintune::config::JobSpec> spec = braintune::config::ParseJobSpec(bytes, "fuzz.yaml");
  braintune::v1::SubmitJobRequest submit;
  submit.mutable_spec()->set_spec_yaml(bytes);
  submit.mutable_spec()->set_name(spec.ok() ? spec->name : "x");
  (void)braintune::coordinator::Validate(submit);
  Validate<braintune::v1::SubmitJobRequest>(bytes);
  Validate<braintune::v1::ListJobsRequest>(bytes);
  Validate<braintune::v1::StreamLogsRequest>(bytes);
  Validate<braintune::v1::RegisterNodeRequest>(bytes);
  Validate<braintune::v1::HeartbeatRequest>(bytes);
  Validate<braintune::v1::ReportProgressRequest>(bytes);
  return 0;
}

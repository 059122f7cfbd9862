// libFuzzer target (scripts/fuzz): what braintune reads before it trusts it. The input is tried
// as a YAML job spec (the parser must return a status, never crash, hang or read out of
// bounds), as the operator's scheduling policy file and as a Hugging Face config.json (the same
// YAML reader), and as each RPC request in protobuf wire format (the validator likewise); the
// input is also submitted as a spec's text through the validator.
#include <cstddef>
#include <cstdint>
#include <string>

#include "braintune/v1/agent_service.pb.h"
#include "braintune/v1/job_service.pb.h"
#include "config/job_spec.h"
#include "coordinator/request_validation.h"
#include "model/hf_config.h"
#include "scheduler/scheduling_policy.h"

namespace {

template <typename Request>
void Validate(const std::string& bytes) {
  Request r;
  if (r.ParseFromString(bytes)) (void)braintune::coordinator::Validate(r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  (void)braintune::config::ParseJobSpec(bytes, "fuzz.yaml");
  (void)braintune::scheduler::ParsePolicyConfig(bytes, "fuzz-policy.yaml");
  (void)braintune::model::ParseHfConfig(bytes, "fuzz-config.json");
  braintune::v1::SubmitJobRequest submit;
  submit.mutable_spec()->set_spec_yaml(bytes);
  (void)braintune::coordinator::Validate(submit);
  Validate<braintune::v1::SubmitJobRequest>(bytes);
  Validate<braintune::v1::ListJobsRequest>(bytes);
  Validate<braintune::v1::StreamLogsRequest>(bytes);
  Validate<braintune::v1::RegisterNodeRequest>(bytes);
  Validate<braintune::v1::HeartbeatRequest>(bytes);
  Validate<braintune::v1::ReportProgressRequest>(bytes);
  Validate<braintune::v1::AuthorizeExecRequest>(bytes);
  return 0;
}

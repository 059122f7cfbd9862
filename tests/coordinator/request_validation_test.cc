// Every RPC request is checked before it changes anything: bad fields are InvalidArgument
// naming the field.
#include "coordinator/request_validation.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace braintune::coordinator {
namespace {

template <typename Request>
void ExpectInvalid(const Request& r, const std::string& field_and_what) {
  absl::Status s = Validate(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << r.DebugString();
  EXPECT_NE(std::string(s.message()).find(field_and_what), std::string::npos) << s;
}

TEST(RequestValidationTest, SubmitChecksSizesAndNames) {
  v1::SubmitJobRequest r;
  r.set_user("ann");
  r.mutable_spec()->set_spec_yaml("name: x\n");
  EXPECT_TRUE(Validate(r).ok());
  r.set_user("ann; rm -rf /");
  ExpectInvalid(r, "user: 'ann; rm -rf /' may hold only");
  r.set_user(std::string(65, 'a'));
  ExpectInvalid(r, "user: 65 characters, at most 64");
  r.set_user("ann@lab.org");
  r.mutable_spec()->set_spec_yaml(std::string(kMaxSpecBytes + 1, '#'));
  ExpectInvalid(r, "spec.spec_yaml: 1048577 bytes, at most 1048576");
  r.mutable_spec()->clear_spec_yaml();
  ExpectInvalid(r, "spec.spec_yaml: is required");
}

TEST(RequestValidationTest, JobIdsListsAndEnums) {
  v1::GetJobRequest get;
  ExpectInvalid(get, "job_id: is required");
  get.set_job_id("job-1");
  EXPECT_TRUE(Validate(get).ok());
  v1::CancelJobRequest cancel;
  cancel.set_job_id("../../etc");
  ExpectInvalid(cancel, "job_id: '../../etc' may hold only");
  v1::ListJobsRequest list;
  list.add_states(v1::RUNNING);
  EXPECT_TRUE(Validate(list).ok());
  list.add_states(static_cast<v1::JobState>(42));
  ExpectInvalid(list, "states[1]: 42 is not a job state");
  list.clear_states();
  list.set_limit(-5);
  ExpectInvalid(list, "limit: -5 is out of range");
}

TEST(RequestValidationTest, AgentsRequestsAreBounded) {
  v1::RegisterNodeRequest reg;
  reg.mutable_node()->set_name("node-a");
  reg.mutable_node()->set_cpu_slots(8);
  EXPECT_TRUE(Validate(reg).ok());
  reg.mutable_node()->set_gpus(1000);
  ExpectInvalid(reg, "node.gpus: 1000 is out of range [0, 64]");
  reg.mutable_node()->set_gpus(0);
  reg.mutable_node()->set_cpu_slots(0);
  ExpectInvalid(reg, "node: node node-a offers no slots");
  reg.mutable_node()->set_cpu_slots(8);
  reg.mutable_node()->set_instance_id(std::string(65, 'f'));
  ExpectInvalid(reg, "node.instance_id");

  v1::AuthorizeExecRequest exec;
  exec.set_node_name("node-a");
  exec.set_job_credential("job.job-1.1.00ff");
  EXPECT_TRUE(Validate(exec).ok());
  exec.set_job_credential(std::string(257, 'x'));
  ExpectInvalid(exec, "job_credential");
  exec.set_job_credential("x");
  exec.set_node_name("../etc");
  EXPECT_FALSE(Validate(exec).ok()) << "node names are names, not paths";

  v1::HeartbeatRequest beat;
  beat.set_node_name("node-a");
  beat.add_jobs()->set_job_id("job-3");
  EXPECT_TRUE(Validate(beat).ok());
  beat.add_jobs()->set_job_id("");
  ExpectInvalid(beat, "jobs[1].job_id: is required");

  v1::ReportProgressRequest progress;
  progress.set_job_id("job-3");
  progress.mutable_progress()->set_step(5);
  progress.mutable_progress()->set_total_steps(10);
  EXPECT_TRUE(Validate(progress).ok());
  progress.mutable_progress()->set_loss(std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(Validate(progress).ok()) << "a diverged run reports its NaN loss";
  progress.mutable_progress()->set_elapsed_sec(std::numeric_limits<double>::infinity());
  ExpectInvalid(progress, "progress.elapsed_sec: must be a finite number >= 0");
  progress.mutable_progress()->set_elapsed_sec(1);
  progress.mutable_progress()->set_step(11);
  ExpectInvalid(progress, "progress.step: 11 is out of range [0, 10]");
}

}  // namespace
}  // namespace braintune::coordinator

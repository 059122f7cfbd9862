#include "rank/progress_reporter.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <iostream>

#include "braintune/v1/agent_service.grpc.pb.h"
#include "common/grpc_client.h"

namespace braintune::rank {

struct ProgressReporter::Impl {
  std::string job_id;
  ClientSecurity security;  // the launch's job credential and the CA the worker agent passed down
  int attempt = 0;          // the launch these ranks belong to (set by the agent)
  std::unique_ptr<v1::AgentService::Stub> stub;
  bool warned = false;
};

ProgressReporter::ProgressReporter(const std::string& coordinator, const std::string& job_id) {
  if (coordinator.empty() || job_id.empty()) return;
  impl_ = std::make_unique<Impl>();
  impl_->job_id = job_id;
  impl_->security = ClientSecurity::FromEnvironment();
  if (const char* attempt = std::getenv("BRAINTUNE_ATTEMPT")) impl_->attempt = std::atoi(attempt);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(coordinator, impl_->security);
  if (!channel.ok()) {
    std::cerr << "braintune-train: cannot report progress: " << channel.status().message() << std::endl;
    impl_.reset();
    return;
  }
  impl_->stub = v1::AgentService::NewStub(*channel);
}

ProgressReporter::~ProgressReporter() = default;

void ProgressReporter::Report(const v1::Progress& progress, const v1::JobResult* result) {
  if (!impl_) return;
  v1::ReportProgressRequest req;
  req.set_job_id(impl_->job_id);
  *req.mutable_progress() = progress;
  if (result) *req.mutable_result() = *result;
  req.set_attempt(impl_->attempt);
  v1::ReportProgressResponse resp;
  auto ctx = MakeContext(impl_->security, std::chrono::seconds(result ? 10 : 2));
  grpc::Status s = impl_->stub->ReportProgress(ctx.get(), req, &resp);
  if (!s.ok() && (!impl_->warned || result)) {
    std::cerr << "braintune-train: cannot report progress: " << s.error_message() << std::endl;
    impl_->warned = true;
  }
}

v1::Progress TrainingProgress(const std::string& phase, int64_t step, int64_t total_steps, double loss,
                              double elapsed_seconds, int64_t done_steps, int batch_size, double train_seconds) {
  v1::Progress p;
  p.set_phase(phase);
  p.set_step(step);
  p.set_total_steps(total_steps);
  p.set_loss(loss);
  p.set_elapsed_sec(elapsed_seconds);
  if (train_seconds > 0 && done_steps > 0) {
    p.set_steps_per_sec(done_steps / train_seconds);
    p.set_samples_per_sec(static_cast<double>(done_steps) * batch_size / train_seconds);
  }
  return p;
}

}  // namespace braintune::rank

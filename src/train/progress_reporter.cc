#include "train/progress_reporter.h"

#include <grpcpp/grpcpp.h>

#include <iostream>

#include "braintune/v1/agent_service.grpc.pb.h"

namespace braintune::train {

struct ProgressReporter::Impl {
  std::string job_id;
  std::unique_ptr<v1::AgentService::Stub> stub;
  bool warned = false;
};

ProgressReporter::ProgressReporter(const std::string& coordinator, const std::string& job_id) {
  if (coordinator.empty() || job_id.empty()) return;
  impl_ = std::make_unique<Impl>();
  impl_->job_id = job_id;
  impl_->stub = v1::AgentService::NewStub(grpc::CreateChannel(coordinator, grpc::InsecureChannelCredentials()));
}

ProgressReporter::~ProgressReporter() = default;

void ProgressReporter::Report(const v1::Progress& progress, const v1::JobResult* result) {
  if (!impl_) return;
  v1::ReportProgressRequest req;
  req.set_job_id(impl_->job_id);
  *req.mutable_progress() = progress;
  if (result) *req.mutable_result() = *result;
  v1::ReportProgressResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(result ? 10 : 2));
  grpc::Status s = impl_->stub->ReportProgress(&ctx, req, &resp);
  if (!s.ok() && (!impl_->warned || result)) {
    std::cerr << "braintune-train: cannot report progress: " << s.error_message() << std::endl;
    impl_->warned = true;
  }
}

}  // namespace braintune::train

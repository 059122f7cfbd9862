// gRPC handlers: translate requests to JobManager / NodeManager calls and Status to grpc::Status.
#ifndef BRAINTUNE_COORDINATOR_GRPC_SERVICES_H_
#define BRAINTUNE_COORDINATOR_GRPC_SERVICES_H_

#include <atomic>

#include "braintune/v1/agent_service.grpc.pb.h"
#include "braintune/v1/job_service.grpc.pb.h"
#include "coordinator/auth.h"
#include "coordinator/job_manager.h"
#include "coordinator/log_store.h"
#include "coordinator/node_manager.h"

namespace braintune::coordinator {

class JobServiceImpl final : public v1::JobService::Service {
 public:
  // `log_grace_ms`: how long after a job ended StreamLogs with follow waits for the rest of its
  // output (a node lost with the job never sends it).
  JobServiceImpl(JobManager* jobs, LogStore* logs, const Authenticator* auth, const std::atomic<bool>* stopping,
                 int64_t log_grace_ms, std::function<void()> poke)
      : jobs_(jobs),
        logs_(logs),
        auth_(auth),
        stopping_(stopping),
        log_grace_ms_(log_grace_ms),
        poke_(std::move(poke)) {}
  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest*, v1::SubmitJobResponse*) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest*, v1::GetJobResponse*) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*, v1::ListJobsResponse*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*, v1::CancelJobResponse*) override;
  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest*,
                        grpc::ServerWriter<v1::WatchJobResponse>*) override;
  grpc::Status StreamLogs(grpc::ServerContext*, const v1::StreamLogsRequest*,
                          grpc::ServerWriter<v1::StreamLogsResponse>*) override;

 private:
  // Authenticates the caller, then takes the request's validation result, then (for a request
  // about one job) checks the caller may act on it: an unauthenticated request learns nothing.
  absl::StatusOr<Caller> Admit(const grpc::ServerContext& ctx, const absl::Status& valid,
                               const std::string& job_id = "") const;

  JobManager* const jobs_;
  LogStore* const logs_;
  const Authenticator* const auth_;
  const std::atomic<bool>* const stopping_;
  const int64_t log_grace_ms_;
  const std::function<void()> poke_;  // wakes the scheduler
};

class AgentServiceImpl final : public v1::AgentService::Service {
 public:
  // `exec_secret`: handed to every registering agent (RegisterNodeResponse.exec_secret).
  AgentServiceImpl(JobManager* jobs, NodeManager* nodes, LogStore* logs, const Authenticator* auth,
                   int heartbeat_interval_ms, std::string exec_secret, std::function<void()> poke)
      : jobs_(jobs),
        nodes_(nodes),
        logs_(logs),
        auth_(auth),
        heartbeat_interval_ms_(heartbeat_interval_ms),
        exec_secret_(std::move(exec_secret)),
        poke_(std::move(poke)) {}
  grpc::Status RegisterNode(grpc::ServerContext*, const v1::RegisterNodeRequest*, v1::RegisterNodeResponse*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*, v1::HeartbeatResponse*) override;
  grpc::Status ReportProgress(grpc::ServerContext*, const v1::ReportProgressRequest*,
                              v1::ReportProgressResponse*) override;

 private:
  JobManager* const jobs_;
  NodeManager* const nodes_;
  LogStore* const logs_;
  const Authenticator* const auth_;
  const int heartbeat_interval_ms_;
  const std::string exec_secret_;
  const std::function<void()> poke_;  // wakes the scheduler
};

grpc::Status ToGrpc(const absl::Status& status);

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_GRPC_SERVICES_H_

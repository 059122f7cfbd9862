// gRPC handlers: translate requests to JobManager / NodeManager calls and Status to grpc::Status.
#ifndef BRAINTUNE_COORDINATOR_GRPC_SERVICES_H_
#define BRAINTUNE_COORDINATOR_GRPC_SERVICES_H_

#include <atomic>

#include "braintune/v1/agent_service.grpc.pb.h"
#include "braintune/v1/job_service.grpc.pb.h"
#include "coordinator/auth.h"
#include "coordinator/job_credentials.h"
#include "coordinator/job_manager.h"
#include "coordinator/log_store.h"
#include "coordinator/node_manager.h"

namespace braintune::coordinator {

class JobServiceImpl final : public v1::JobService::Service {
 public:
  // `log_grace_ms`: how long after a job ended StreamLogs with follow waits for the rest of its
  // output (a node lost with the job never sends it).
  // `policy`: who may run as which Unix account and ask for which scheduling attributes.
  JobServiceImpl(JobManager* jobs, LogStore* logs, const Authenticator* auth, const scheduler::PolicyConfig* policy,
                 const std::atomic<bool>* stopping, int64_t log_grace_ms, std::function<void()> poke)
      : jobs_(jobs),
        logs_(logs),
        auth_(auth),
        policy_(policy),
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
  grpc::Status ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*, v1::ListNodesResponse*) override;

 private:
  // Authenticates the caller, then takes the request's validation result, then (for a request
  // about one job) checks the caller may act on it: an unauthenticated request learns nothing.
  absl::StatusOr<Caller> Admit(const grpc::ServerContext& ctx, const absl::Status& valid,
                               const std::string& job_id = "") const;

  JobManager* const jobs_;
  LogStore* const logs_;
  const Authenticator* const auth_;
  const scheduler::PolicyConfig* const policy_;
  const std::atomic<bool>* const stopping_;
  const int64_t log_grace_ms_;
  const std::function<void()> poke_;  // wakes the scheduler
};

class AgentServiceImpl final : public v1::AgentService::Service {
 public:
  // `credentials` verifies the ranks' and NodeExec callers' per-launch credentials.
  AgentServiceImpl(JobManager* jobs, NodeManager* nodes, LogStore* logs, const Authenticator* auth,
                   const JobCredentials* credentials, int heartbeat_interval_ms, std::function<void()> poke)
      : jobs_(jobs),
        nodes_(nodes),
        logs_(logs),
        auth_(auth),
        credentials_(credentials),
        heartbeat_interval_ms_(heartbeat_interval_ms),
        poke_(std::move(poke)) {}
  grpc::Status RegisterNode(grpc::ServerContext*, const v1::RegisterNodeRequest*, v1::RegisterNodeResponse*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*, v1::HeartbeatResponse*) override;
  grpc::Status ReportProgress(grpc::ServerContext*, const v1::ReportProgressRequest*,
                              v1::ReportProgressResponse*) override;
  grpc::Status AuthorizeExec(grpc::ServerContext*, const v1::AuthorizeExecRequest*,
                             v1::AuthorizeExecResponse*) override;

 private:
  // The agent calling about `node`: PermissionDenied when its token is bound to another node.
  absl::StatusOr<Caller> AgentFor(const grpc::ServerContext& ctx, const std::string& node) const;

  JobManager* const jobs_;
  NodeManager* const nodes_;
  LogStore* const logs_;
  const Authenticator* const auth_;
  const JobCredentials* const credentials_;
  const int heartbeat_interval_ms_;
  const std::function<void()> poke_;  // wakes the scheduler
};

grpc::Status ToGrpc(const absl::Status& status);

}  // namespace braintune::coordinator

#endif  // BRAINTUNE_COORDINATOR_GRPC_SERVICES_H_

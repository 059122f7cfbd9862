#include "coordinator/grpc_services.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/admission.h"
#include "coordinator/job_state.h"
#include "coordinator/request_validation.h"

namespace braintune::coordinator {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::StatusOr<Caller> JobServiceImpl::Admit(const grpc::ServerContext& ctx, const absl::Status& valid,
                                              const std::string& job_id) const {
  ASSIGN_OR_RETURN(Caller caller, auth_->User(ctx));
  RETURN_IF_ERROR(valid);
  if (!job_id.empty() && auth_->enabled()) {
    ASSIGN_OR_RETURN(v1::Job job, jobs_->Get(job_id));
    RETURN_IF_ERROR(Authenticator::CheckOwner(caller, job));
  }
  return caller;
}

grpc::Status JobServiceImpl::SubmitJob(grpc::ServerContext* ctx, const v1::SubmitJobRequest* req,
                                       v1::SubmitJobResponse* resp) {
  absl::StatusOr<Caller> caller = Admit(*ctx, Validate(*req));
  if (!caller.ok()) return ToGrpc(caller.status());
  // With access control the job is the token holder's, whatever the request says.
  std::string user = auth_->enabled() ? caller->user : req->user().empty() ? "anonymous" : req->user();
  absl::StatusOr<v1::Job> job = jobs_->Submit(req->spec(), user, [&](const v1::JobSpec& spec) {
    return AdmitJob(spec, *caller, auth_->enabled(), *policy_);
  });
  if (!job.ok()) return ToGrpc(job.status());
  poke_();  // the scheduler thread places it; a burst of submissions shares one pass
  *resp->mutable_job() = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::GetJob(grpc::ServerContext* ctx, const v1::GetJobRequest* req, v1::GetJobResponse* resp) {
  if (auto caller = Admit(*ctx, Validate(*req), req->job_id()); !caller.ok()) return ToGrpc(caller.status());
  absl::StatusOr<v1::Job> job = jobs_->Get(req->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  *resp->mutable_job() = *job;
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::ListJobs(grpc::ServerContext* ctx, const v1::ListJobsRequest* req,
                                      v1::ListJobsResponse* resp) {
  absl::StatusOr<Caller> caller = Admit(*ctx, Validate(*req));
  if (!caller.ok()) return ToGrpc(caller.status());
  absl::StatusOr<v1::ListJobsResponse> page = jobs_->List(*req, caller->admin ? "" : caller->user);
  if (!page.ok()) return ToGrpc(page.status());
  *resp = *std::move(page);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::ListNodes(grpc::ServerContext* ctx, const v1::ListNodesRequest*,
                                       v1::ListNodesResponse* resp) {
  absl::StatusOr<Caller> caller = Admit(*ctx, absl::OkStatus());
  if (!caller.ok()) return ToGrpc(caller.status());
  for (v1::NodeStatus& n : jobs_->Nodes(caller->user, caller->admin)) *resp->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::CancelJob(grpc::ServerContext* ctx, const v1::CancelJobRequest* req,
                                       v1::CancelJobResponse* resp) {
  if (auto caller = Admit(*ctx, Validate(*req), req->job_id()); !caller.ok()) return ToGrpc(caller.status());
  absl::StatusOr<v1::Job> job = jobs_->Cancel(req->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  *resp->mutable_job() = *job;
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::WatchJob(grpc::ServerContext* ctx, const v1::WatchJobRequest* req,
                                      grpc::ServerWriter<v1::WatchJobResponse>* writer) {
  if (auto caller = Admit(*ctx, Validate(*req), req->job_id()); !caller.ok()) return ToGrpc(caller.status());
  int64_t version = 0, sent = -1;
  while (!ctx->IsCancelled() && !stopping_->load()) {
    // Returns at once the first time, then on each change or every 500 ms to notice cancellation.
    absl::StatusOr<v1::Job> job = jobs_->WaitForChange(req->job_id(), &version, absl::Milliseconds(500));
    if (!job.ok()) return ToGrpc(job.status());
    if (version == sent) continue;
    v1::WatchJobResponse resp;
    *resp.mutable_job() = *std::move(job);
    if (!writer->Write(resp)) return grpc::Status::OK;  // the client went away
    if (IsTerminal(resp.job().state())) return grpc::Status::OK;
    sent = version;
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator is shutting down");
}

grpc::Status JobServiceImpl::StreamLogs(grpc::ServerContext* ctx, const v1::StreamLogsRequest* req,
                                        grpc::ServerWriter<v1::StreamLogsResponse>* writer) {
  if (auto caller = Admit(*ctx, Validate(*req), req->job_id()); !caller.ok()) return ToGrpc(caller.status());
  int64_t offset = req->offset();
  int64_t version = 0;
  while (!ctx->IsCancelled() && !stopping_->load()) {
    // The job first (then the bytes): output that arrived before it was seen ended is sent.
    absl::StatusOr<v1::Job> job = jobs_->Get(req->job_id());
    if (!job.ok()) return ToGrpc(job.status());
    absl::StatusOr<std::string> data = logs_->Read(req->job_id(), offset, 64 << 10);
    if (!data.ok()) return ToGrpc(data.status());
    if (!data->empty()) {
      v1::StreamLogsResponse resp;
      resp.set_offset(offset);
      offset += static_cast<int64_t>(data->size());
      *resp.mutable_data() = *std::move(data);
      if (!writer->Write(resp)) return grpc::Status::OK;  // the client went away
      continue;
    }
    if (!req->follow()) return grpc::Status::OK;
    // Following: done once the job has ended and its last launch's output is all here (or it
    // never launched, or its node never sent the rest within the grace period).
    if (IsTerminal(job->state()) &&
        (job->attempt() == 0 || logs_->Complete(job->id(), job->attempt()) || NowMs() - job->updated_ms() > log_grace_ms_)) {
      return grpc::Status::OK;
    }
    (void)jobs_->WaitForChange(req->job_id(), &version, absl::Milliseconds(200));
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator is shutting down");
}

absl::StatusOr<Caller> AgentServiceImpl::AgentFor(const grpc::ServerContext& ctx, const std::string& node) const {
  ASSIGN_OR_RETURN(Caller caller, auth_->Agent(ctx));
  if (!caller.node.empty() && caller.node != node) {
    return absl::PermissionDeniedError(
        absl::StrCat("this agent token is bound to node '", caller.node, "', not '", node, "'"));
  }
  return caller;
}

grpc::Status AgentServiceImpl::RegisterNode(grpc::ServerContext* ctx, const v1::RegisterNodeRequest* req,
                                            v1::RegisterNodeResponse* resp) {
  if (absl::Status v = Validate(*req); !v.ok()) return ToGrpc(v);
  const v1::NodeInfo& node = req->node();
  absl::StatusOr<Caller> caller = AgentFor(*ctx, node.name());
  if (!caller.ok()) return ToGrpc(caller.status());
  // A node's own token may restart its agent; a shared agent token may not take a live name.
  bool restarted = false;
  const bool may_replace = !auth_->enabled() || caller->node == node.name();
  if (absl::Status s = nodes_->Register(node, NowMs(), may_replace, &restarted); !s.ok()) return ToGrpc(s);
  // The restarted agent holds none of the old instance's ranks: its jobs go back to the queue.
  if (restarted) jobs_->HandleLostNodes({node.name()});
  resp->set_node_name(node.name());
  resp->set_heartbeat_interval_ms(heartbeat_interval_ms_);
  poke_();
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::Heartbeat(grpc::ServerContext* ctx, const v1::HeartbeatRequest* req,
                                         v1::HeartbeatResponse* resp) {
  if (absl::Status v = Validate(*req); !v.ok()) return ToGrpc(v);
  if (auto caller = AgentFor(*ctx, req->node_name()); !caller.ok()) return ToGrpc(caller.status());
  if (!nodes_->Heartbeat(req->node_name(), NowMs())) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("node ", req->node_name(), " is not registered; register again"));
  }
  *resp = jobs_->HandleHeartbeat(*req);
  if (resp->forget_job_ids_size() > 0) poke_();  // slots were freed
  // The ranks' output: stored per job (a job the coordinator does not know is acknowledged
  // complete, so the agent can drop it).
  for (const v1::JobRuntime& rt : req->jobs()) {
    LogStore::Ack ack{rt.log_offset() + static_cast<int64_t>(rt.log_data().size()), true};
    if (jobs_->Contains(rt.job_id())) {
      absl::StatusOr<LogStore::Ack> stored =
          logs_->Append(rt.job_id(), rt.attempt(), rt.log_offset(), rt.log_data(), rt.log_complete());
      if (!stored.ok()) {
        std::cerr << "braintune-coordinator: log of " << rt.job_id() << ": " << stored.status().message() << std::endl;
        continue;  // not acknowledged: the agent sends it again
      }
      ack = *stored;
    }
    v1::LogAck* a = resp->add_log_acks();
    a->set_job_id(rt.job_id());
    a->set_attempt(rt.attempt());
    a->set_offset(ack.offset);
    a->set_complete(ack.complete);
  }
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::ReportProgress(grpc::ServerContext* ctx, const v1::ReportProgressRequest* req,
                                              v1::ReportProgressResponse* resp) {
  absl::StatusOr<std::optional<JobCredentials::Launch>> launch = auth_->Launch(*ctx);
  if (!launch.ok()) return ToGrpc(launch.status());
  if (absl::Status v = Validate(*req); !v.ok()) return ToGrpc(v);
  v1::ReportProgressRequest report = *req;
  if (launch->has_value()) {
    // The credential says which launch reports, whatever the request claims.
    if ((*launch)->job_id != req->job_id()) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          absl::StrCat("this credential reports for ", (*launch)->job_id, " only"));
    }
    report.set_attempt((*launch)->attempt);
  }
  absl::StatusOr<bool> cancel = jobs_->ReportProgress(report);
  if (!cancel.ok()) return ToGrpc(cancel.status());
  resp->set_cancel_requested(*cancel);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::AuthorizeExec(grpc::ServerContext* ctx, const v1::AuthorizeExecRequest* req,
                                             v1::AuthorizeExecResponse* resp) {
  if (absl::Status v = Validate(*req); !v.ok()) return ToGrpc(v);
  if (auto caller = AgentFor(*ctx, req->node_name()); !caller.ok()) return ToGrpc(caller.status());
  const grpc::Status denied(grpc::StatusCode::PERMISSION_DENIED,
                            "NodeExec: not the credential of a running job placed on this node");
  absl::StatusOr<JobCredentials::Launch> launch = credentials_->Verify(req->job_credential());
  if (!launch.ok()) return denied;
  absl::StatusOr<v1::Job> job = jobs_->Get(launch->job_id);
  if (!job.ok() || job->attempt() != launch->attempt || !HoldsSlots(job->state())) return denied;
  for (const v1::Placement& p : job->placements()) {
    if (p.node() != req->node_name()) continue;
    resp->set_job_id(job->id());
    resp->set_attempt(job->attempt());
    resp->set_account(job->account());
    resp->set_multi_user(auth_->enabled());
    *resp->mutable_gpus() = p.gpus();
    return grpc::Status::OK;
  }
  return denied;
}

}  // namespace braintune::coordinator

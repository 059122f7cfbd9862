#include "coordinator/coordinator.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <iostream>
#include <chrono>
#include <random>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/grpc_client.h"
#include "common/status_macros.h"
#include "coordinator/grpc_services.h"
#include "coordinator/http_server.h"
#include "coordinator/job_credentials.h"
#include "coordinator/job_manager.h"
#include "coordinator/metrics.h"
#include "coordinator/node_manager.h"
#include "coordinator/scheduling_driver.h"
#include "scheduler/scheduling_policy.h"
#include "store/job_store.h"
#include "store/token_store.h"

namespace braintune::coordinator {
namespace {

// Counts every RPC served, by method and status code, with its duration (metrics.h).
class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(grpc::experimental::ServerRpcInfo* info, Metrics* metrics)
      : method_(info->method()), metrics_(metrics), start_(std::chrono::steady_clock::now()) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Rpc(method_, methods->GetSendStatus().error_code(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  Metrics* const metrics_;
  const std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(info, metrics_);
  }

 private:
  Metrics* const metrics_;
};

// Thread model: as Coordinator's; the gRPC threads reach the managers through the services,
// and Poke (any thread) wakes the scheduler thread through poke_mu_.
class CoordinatorImpl : public Coordinator {
 public:
  explicit CoordinatorImpl(const CoordinatorOptions& options)
      : options_(options),
        nodes_(options.node_timeout_ms),
        policy_(scheduler::MakeMultifactorPolicy(options.policy)),
        scheduling_(policy_.get(), &nodes_) {}

  ~CoordinatorImpl() override {
    Shutdown();
    http_.reset();
    if (scheduler_thread_.joinable()) scheduler_thread_.join();
    if (jobs_) jobs_->FlushProgress(/*all=*/true);  // the progress held back, now no report can come
  }

  absl::Status Init() {
    ASSIGN_OR_RETURN(store_, store::OpenSqliteJobStore(options_.db_path));
    ASSIGN_OR_RETURN(jobs_, JobManager::Create(store_.get(), &scheduling_, &nodes_));
    ASSIGN_OR_RETURN(logs_, LogStore::Open(options_.log_dir.empty() ? options_.db_path + ".logs" : options_.log_dir,
                                           options_.max_log_bytes));
    Prune();  // before serving: jobs past their retention are never listed
    if (options_.auth) {
      ASSIGN_OR_RETURN(tokens_, store::OpenSqliteTokenStore(options_.db_path));
    }
    // Without access control everyone who can connect is admin: only this machine may (one user).
    for (const std::string& address : {options_.listen_address, options_.http_address}) {
      if (!options_.auth && !options_.insecure && !address.empty() && !IsLoopbackAddress(address)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "refusing to serve ", address, " without --auth: every caller would be an admin and could "
            "run jobs on every node. Use --auth with tokens (docs/operations.md), a loopback address, or --insecure on a "
            "network only you can reach"));
      }
    }
    ASSIGN_OR_RETURN(JobCredentials job_credentials, JobCredentials::LoadOrCreate(options_.db_path + ".key"));
    credentials_ = std::make_unique<JobCredentials>(std::move(job_credentials));
    jobs_->SetLaunchSecurity(credentials_.get(), options_.auth);
    jobs_->SetMetrics(&metrics_);
    auth_ = std::make_unique<Authenticator>(tokens_.get(), credentials_.get());
    job_service_ = std::make_unique<JobServiceImpl>(jobs_.get(), logs_.get(), auth_.get(), &options_.policy, &stopping_,
                                                    options_.node_timeout_ms, [this] { Poke(); });
    agent_service_ = std::make_unique<AgentServiceImpl>(jobs_.get(), &nodes_, logs_.get(), auth_.get(),
                                                        credentials_.get(), options_.heartbeat_interval_ms,
                                                        [this] { Poke(); });
    ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                     MakeServerCredentials(options_.tls_cert, options_.tls_key));
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(options_.listen_address, credentials, &port);
    builder.RegisterService(job_service_.get());
    builder.RegisterService(agent_service_.get());
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
    interceptors.push_back(std::make_unique<MetricsInterceptorFactory>(&metrics_));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    server_ = builder.BuildAndStart();
    if (!server_ || port == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen_address,
                                                 " (address in use or invalid?)"));
    }
    port_ = port;
    if (!options_.http_address.empty()) {
      ASSIGN_OR_RETURN(http_, HttpServer::Start({options_.http_address, options_.tls_cert, options_.tls_key},
                                                jobs_.get(), logs_.get(), auth_.get(), &metrics_));
    }
    scheduler_thread_ = std::thread([this] { ScheduleLoop(); });
    return absl::OkStatus();
  }

  int port() const override { return port_; }
  int http_port() const override { return http_ ? http_->port() : 0; }

  void Wait() override { server_->Wait(); }

  void Shutdown() override {
    bool expected = false;
    if (!stopping_.compare_exchange_strong(expected, true)) return;
    Poke();
    if (jobs_) jobs_->WakeAll();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

 private:
  // Runs scheduling passes when poked (submit, register, slots freed) or every interval, and
  // notices nodes that stopped heartbeating.
  void ScheduleLoop() {
    while (!stopping_.load()) {
      {
        absl::MutexLock lock(&poke_mu_);
        const absl::Time deadline = absl::Now() + absl::Milliseconds(options_.schedule_interval_ms);
        while (!poked_ && !stopping_.load()) {
          if (poke_cv_.WaitWithDeadline(&poke_mu_, deadline)) break;  // the interval passed
        }
        poked_ = false;
      }
      if (stopping_.load()) break;
      std::vector<std::string> lost = nodes_.MarkLost(NowMs());
      if (!lost.empty()) jobs_->HandleLostNodes(lost);
      const auto pass_start = std::chrono::steady_clock::now();
      jobs_->SchedulePass();
      metrics_.SchedulingPass(std::chrono::duration<double>(std::chrono::steady_clock::now() - pass_start).count());
      jobs_->FlushProgress();
      if (NowMs() >= next_prune_ms_) Prune();
      // A burst of submissions shares the next pass instead of queueing one pass each behind
      // the job lock: a pass over 10,000 queued jobs takes milliseconds.
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.min_pass_gap_ms));
    }
  }

  // Forgets the finished jobs past options_.retain_days, and their logs. Called by Init, then
  // by the scheduler thread only.
  void Prune() {
    next_prune_ms_ = NowMs() + options_.prune_interval_ms;
    if (options_.retain_days <= 0) return;
    const int64_t cutoff = NowMs() - static_cast<int64_t>(options_.retain_days * 24 * 3600 * 1000);
    absl::StatusOr<std::vector<std::string>> pruned = jobs_->PruneFinished(cutoff);
    if (!pruned.ok()) {
      std::cerr << "braintune-coordinator: pruning old jobs: " << pruned.status().message() << std::endl;
      return;
    }
    for (const std::string& id : *pruned) {
      // A log left behind costs disk only: its job is gone from every listing.
      if (absl::Status s = logs_->Delete(id); !s.ok()) std::cerr << "braintune-coordinator: " << s.message() << std::endl;
    }
    if (!pruned->empty()) {
      std::cerr << "braintune-coordinator: pruned " << pruned->size() << " jobs finished more than "
                << options_.retain_days << " days ago" << std::endl;
    }
  }

  void Poke() {
    absl::MutexLock lock(&poke_mu_);
    poked_ = true;
    poke_cv_.Signal();
  }

  const CoordinatorOptions options_;
  NodeManager nodes_;
  std::unique_ptr<scheduler::SchedulingPolicy> policy_;
  SchedulingDriver scheduling_;  // after policy_ and nodes_, which it reads
  Metrics metrics_;              // before everything that counts into it
  std::unique_ptr<store::JobStore> store_;
  std::unique_ptr<JobManager> jobs_;
  std::unique_ptr<LogStore> logs_;
  std::unique_ptr<store::TokenStore> tokens_;  // null without access control
  std::unique_ptr<JobCredentials> credentials_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<JobServiceImpl> job_service_;
  std::unique_ptr<AgentServiceImpl> agent_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> http_;  // after what it serves: destroyed first
  std::thread scheduler_thread_;
  int64_t next_prune_ms_ = 0;  // used by Init, then by the scheduler thread only
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  absl::Mutex poke_mu_;
  absl::CondVar poke_cv_;
  bool poked_ ABSL_GUARDED_BY(poke_mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(const CoordinatorOptions& options) {
  auto c = std::make_unique<CoordinatorImpl>(options);
  RETURN_IF_ERROR(c->Init());
  return std::unique_ptr<Coordinator>(std::move(c));
}

}  // namespace braintune::coordinator

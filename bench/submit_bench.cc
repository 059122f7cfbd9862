// Submissions per second and their latency over gRPC on loopback (issue 7; target >= 2,000/s),
// against a reference measured in the same run: GetJob of an existing job, the cheapest call
// through the same server, so the ratio says what a submission costs beyond the transport
// (YAML parse and validation, the feasibility check, one SQLite transaction).
//
// With --mix, the load test instead: every client loops submit, watch (first update of the
// stream), cancel; with --check it then verifies that every job it submitted is listed,
// CANCELLED, exactly once, and exits non-zero otherwise (tests/integration/load_test.sh).
//
//   build/bench/submit_bench [--clients 16] [--seconds 5] [--coordinator HOST:PORT] [--mix] [--check]
//
// Without --coordinator it starts one in this process (a fresh SQLite database in /tmp, no
// agents: jobs stay queued).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "braintune/v1/job_service.grpc.pb.h"
#include "common/flags.h"
#include "common/grpc_client.h"
#include "coordinator/coordinator.h"

namespace {

using Clock = std::chrono::steady_clock;
using braintune::v1::JobService;

struct Figures {
  int64_t ok = 0, errors = 0;
  std::vector<double> latency_ms;
  std::string first_error;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

// Runs `call(stub, client, i)` in `clients` threads for `seconds`; each call returns its status.
Figures Run(const std::string& address, int clients, double seconds,
            const std::function<grpc::Status(JobService::Stub*, int, int64_t)>& call) {
  std::vector<Figures> per(clients);
  std::vector<std::thread> threads;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      // One channel per client: separate connections, as separate users' CLIs would have.
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", c);
      auto stub = JobService::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
      for (int64_t i = 0; Clock::now() < end; ++i) {
        const auto t0 = Clock::now();
        grpc::Status s = call(stub.get(), c, i);
        per[c].latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (s.ok()) {
          ++per[c].ok;
        } else if (per[c].errors++ == 0) {
          per[c].first_error = s.error_message();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  Figures all;
  for (auto& f : per) {
    all.ok += f.ok;
    all.errors += f.errors;
    all.latency_ms.insert(all.latency_ms.end(), f.latency_ms.begin(), f.latency_ms.end());
    if (all.first_error.empty()) all.first_error = f.first_error;
  }
  return all;
}

void Print(const char* what, const Figures& f, double seconds) {
  std::printf("%-34s %9.0f/s  p50 %7.2f ms  p99 %7.2f ms  (%lld ok, %lld errors)\n", what, f.ok / seconds,
              Percentile(f.latency_ms, 0.5), Percentile(f.latency_ms, 0.99), static_cast<long long>(f.ok),
              static_cast<long long>(f.errors));
  if (!f.first_error.empty()) std::printf("  first error: %s\n", f.first_error.c_str());
}

braintune::v1::SubmitJobRequest SubmitRequest(int client, int64_t i) {
  braintune::v1::SubmitJobRequest req;
  req.mutable_spec()->set_spec_yaml("name: bench-" + std::to_string(client) + "-" + std::to_string(i) +
                                    "\nresources: {ranks: 2}\ndata: {path: /data/brain.h5}\n"
                                    "training: {steps: 300, batch_size: 16}\n");
  req.set_user("user" + std::to_string(client % 8));
  return req;
}

}  // namespace

int main(int argc, char** argv) {
  braintune::Flags f("submit_bench [flags]", "Submission rate and latency over gRPC, or the mixed load test.");
  f.Value("clients", "16", "concurrent clients").Value("seconds", "5", "how long each phase runs")
      .Value("coordinator", "", "HOST:PORT of a running coordinator (default: one in this process)")
      .Bool("mix", "load test: submit, watch and cancel").Bool("check", "with --mix: verify nothing was lost");
  if (auto s = f.Parse(argc, argv); !s.ok() || f.help_requested()) {
    std::fprintf(stderr, "%s", s.ok() ? f.Help().c_str() : (std::string(s.message()) + "\n").c_str());
    return s.ok() ? 0 : 2;
  }
  const int clients = static_cast<int>(*f.GetInt("clients"));
  const double seconds = *f.GetDouble("seconds");
  std::string address = f.Get("coordinator");
  std::unique_ptr<braintune::coordinator::Coordinator> local;
  std::filesystem::path dir;
  if (address.empty()) {
    dir = std::filesystem::temp_directory_path() / ("submit-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    braintune::coordinator::CoordinatorOptions o;
    o.listen_address = "127.0.0.1:0";
    o.db_path = (dir / "jobs.db").string();
    auto c = braintune::coordinator::Coordinator::Start(o);
    if (!c.ok()) return std::fprintf(stderr, "%s\n", std::string(c.status().message()).c_str()), 1;
    local = *std::move(c);
    address = "127.0.0.1:" + std::to_string(local->port());
  }
  auto stub = JobService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  std::printf("submit_bench: %d clients x %.0f s against %s (%s)\n", clients, seconds, address.c_str(),
              local ? "in-process coordinator, SQLite in /tmp" : "external coordinator");
  int rc = 0;
  if (!f.IsSet("mix")) {
    // One job to read back, then the reference and the submissions.
    grpc::ClientContext ctx;
    braintune::v1::SubmitJobResponse first;
    grpc::Status s = stub->SubmitJob(&ctx, SubmitRequest(0, -1), &first);
    if (!s.ok()) return std::fprintf(stderr, "first submission failed: %s\n", s.error_message().c_str()), 1;
    const std::string id = first.job().id();
    Figures get = Run(address, clients, seconds, [&](JobService::Stub* st, int, int64_t) {
      grpc::ClientContext c;
      braintune::v1::GetJobRequest req;
      req.set_job_id(id);
      braintune::v1::GetJobResponse resp;
      return st->GetJob(&c, req, &resp);
    });
    Figures submit = Run(address, clients, seconds, [&](JobService::Stub* st, int client, int64_t i) {
      grpc::ClientContext c;
      braintune::v1::SubmitJobResponse resp;
      return st->SubmitJob(&c, SubmitRequest(client, i), &resp);
    });
    Print("GetJob (reference)", get, seconds);
    Print("SubmitJob", submit, seconds);
    std::printf("ratio: submissions run at %.2fx the reference rate; target >= 2000 submissions/s: %s\n",
                submit.ok / std::max(1.0, static_cast<double>(get.ok)), submit.ok / seconds >= 2000 ? "met" : "NOT met");
    rc = submit.errors == 0 ? 0 : 1;
  } else {
    std::mutex mu;
    std::map<std::string, int> submitted;  // id -> times seen
    Figures ops = Run(address, clients, seconds, [&](JobService::Stub* st, int client, int64_t i) {
      grpc::ClientContext c1;
      braintune::v1::SubmitJobResponse sub;
      grpc::Status s = st->SubmitJob(&c1, SubmitRequest(client, i), &sub);
      if (!s.ok()) return s;
      {
        std::lock_guard<std::mutex> lock(mu);
        ++submitted[sub.job().id()];
      }
      grpc::ClientContext c2;
      braintune::v1::WatchJobRequest watch;
      watch.set_job_id(sub.job().id());
      auto reader = st->WatchJob(&c2, watch);
      braintune::v1::WatchJobResponse update;
      if (!reader->Read(&update) || update.job().id() != sub.job().id()) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "watch sent nothing for " + sub.job().id());
      }
      c2.TryCancel();
      reader->Finish();
      grpc::ClientContext c3;
      braintune::v1::CancelJobRequest cancel;
      cancel.set_job_id(sub.job().id());
      braintune::v1::CancelJobResponse cancelled;
      return st->CancelJob(&c3, cancel, &cancelled);
    });
    Print("submit + watch + cancel (one cycle)", ops, seconds);
    if (f.IsSet("check")) {
      braintune::v1::ListJobsRequest req;
      req.set_page_size(1000);
      braintune::v1::ListJobsResponse list;  // every page's jobs
      grpc::Status s;
      do {  // ListJobs pages
        grpc::ClientContext ctx;
        braintune::v1::ListJobsResponse page;
        s = stub->ListJobs(&ctx, req, &page);
        for (auto& job : *page.mutable_jobs()) *list.add_jobs() = std::move(job);
        req.set_page_token(page.next_page_token());
      } while (s.ok() && !req.page_token().empty());
      std::map<std::string, int> listed;
      int64_t not_cancelled = 0;
      for (const auto& job : list.jobs()) {
        if (!submitted.count(job.id())) continue;  // others' jobs
        ++listed[job.id()];
        not_cancelled += job.state() != braintune::v1::CANCELLED;
      }
      int64_t lost = 0, duplicated = 0;
      for (const auto& [id, n] : submitted) {
        lost += listed.count(id) == 0;
        duplicated += n > 1 || listed[id] > 1;
      }
      std::printf("check: %zu jobs submitted, %lld lost, %lld duplicated, %lld not CANCELLED, %lld RPC errors\n",
                  submitted.size(), static_cast<long long>(lost), static_cast<long long>(duplicated),
                  static_cast<long long>(not_cancelled), static_cast<long long>(ops.errors));
      rc = s.ok() && lost == 0 && duplicated == 0 && not_cancelled == 0 && ops.errors == 0 && !submitted.empty() ? 0 : 1;
    }
  }
  if (local) local->Shutdown();
  local.reset();
  if (!dir.empty()) std::filesystem::remove_all(dir);
  return rc;
}

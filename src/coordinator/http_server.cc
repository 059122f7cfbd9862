#include "coordinator/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "braintune/v1/job_service.pb.h"
#include "common/json.h"
#include "coordinator/dashboard_assets.h"
#include "coordinator/job_state.h"

namespace braintune::coordinator {
namespace {

constexpr char kCookie[] = "braintune_token";
// A job page reads at most this much log per request; the tail it starts from is smaller.
constexpr int64_t kMaxLogPiece = 256 << 10;
constexpr int64_t kDefaultTail = 16 << 10;
constexpr int kJobsListed = 200;
constexpr int kThreads = 16;

// Whether a browser sent the request from one of our own pages: Sec-Fetch-Site (every current
// browser sends it) is same-origin, or, without it, Origin (if any) names the Host it was sent to.
// Non-browser clients (curl, tests) send neither and are judged by their token alone.
bool SameOrigin(const httplib::Request& req) {
  const std::string site = req.get_header_value("Sec-Fetch-Site");
  if (!site.empty()) return site == "same-origin" || site == "none";
  const std::string origin = req.get_header_value("Origin");
  if (origin.empty()) return true;
  const size_t scheme = origin.find("://");
  return scheme != std::string::npos && origin.substr(scheme + 3) == req.get_header_value("Host");
}

int HttpCode(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kFailedPrecondition: return 409;
    default: return 500;
  }
}

// The token of a request: its bearer token, else the dashboard's cookie; "" when none.
std::string TokenOf(const httplib::Request& req) {
  const std::string authorization = req.get_header_value("Authorization");
  if (absl::StartsWith(authorization, "Bearer ")) return authorization.substr(7);
  for (absl::string_view part : absl::StrSplit(req.get_header_value("Cookie"), ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, kCookie) && absl::ConsumePrefix(&part, "=")) return std::string(part);
  }
  return "";
}

// {"key": value, ...} of strings and booleans, escaped as JSON.
std::string JsonObject(std::initializer_list<std::pair<const char*, std::variant<std::string, bool>>> fields) {
  google::protobuf::Struct object;
  for (const auto& [key, value] : fields) {
    if (const bool* b = std::get_if<bool>(&value)) (*object.mutable_fields())[key].set_bool_value(*b);
    else (*object.mutable_fields())[key].set_string_value(std::get<std::string>(value));
  }
  return ToJson(object, /*one_line=*/true);
}

void Error(httplib::Response& res, const absl::Status& s) {
  res.status = HttpCode(s);
  res.set_content(JsonObject({{"error", std::string(s.message())}}), "application/json");
}

class HttpServerImpl : public HttpServer {
 public:
  HttpServerImpl(const HttpOptions& options, JobManager* jobs, LogStore* logs, const Authenticator* auth,
                 const Metrics* metrics)
      : tls_(!options.tls_cert.empty()), jobs_(jobs), logs_(logs), auth_(auth), metrics_(metrics) {
    if (tls_) {
      server_ = std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
  }

  ~HttpServerImpl() override {
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  absl::Status Listen(const std::string& address) {
    if (!server_->is_valid()) {
      return absl::InvalidArgumentError("--http: cannot serve TLS with --tls-cert and --tls-key (unreadable or not PEM)");
    }
    const size_t colon = address.rfind(':');
    int port = -1;
    if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("--http '", address, "' is not HOST:PORT"));
    }
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    Routes();
    port_ = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
    if (port_ <= 0) return absl::UnavailableError(absl::StrCat("cannot listen on --http ", address, " (address in use or invalid?)"));
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // Until it runs, stop() would not stop it (and the destructor would wait forever).
    for (int i = 0; i < 500 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!server_->is_running()) return absl::InternalError(absl::StrCat("--http ", address, ": the server did not start"));
    return absl::OkStatus();
  }

  int port() const override { return port_; }

 private:
  void Routes() {
    httplib::Server& s = *server_;
    // Idle or slow connections must not hold the threads that serve the pages and /metrics.
    s.set_payload_max_length(16 << 10);  // a sign-in form; nothing else takes a body
    s.set_read_timeout(3, 0);
    s.set_write_timeout(10, 0);
    s.set_keep_alive_timeout(2);
    s.set_keep_alive_max_count(20);
    s.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
    // The pages load only their own scripts and styles, in no frame; nothing is cached.
    s.set_default_headers({{"Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
                           {"X-Content-Type-Options", "nosniff"},
                           {"Referrer-Policy", "no-referrer"},
                           {"Cache-Control", "no-store"}});

    // Before any route: a browser's request from elsewhere is refused.
    //  - Without access control every caller is an admin, so the name the request was sent to
    //    must be this machine's: a web page whose name resolves to 127.0.0.1 (DNS rebinding)
    //    would otherwise read and cancel jobs as a same-origin page.
    //  - A POST (sign-in, sign-out, cancel) must come from the dashboard's own pages: another
    //    site's form or script cannot sign a browser in as someone else or act for it.
    s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!auth_->enabled() && !IsLoopbackAddress(req.get_header_value("Host"))) {
        Error(res, absl::PermissionDeniedError("without access control this coordinator answers only requests "
                                               "addressed to localhost or a loopback address"));
        return httplib::Server::HandlerResponse::Handled;
      }
      if (req.method == "POST" && !SameOrigin(req)) {
        Error(res, absl::PermissionDeniedError("a request from another site"));
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });

    s.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      if (absl::Status ok = auth_->MetricsReader(TokenOf(req)); !ok.ok()) {
        res.set_header("WWW-Authenticate", "Bearer");
        return Error(res, ok);
      }
      res.set_content(metrics_->Render(jobs_->Snapshot(), NowMs()), "text/plain; version=0.0.4; charset=utf-8");
    });
    // Pages: the sign-in page until the cookie holds a good token.
    auto page = [this](const httplib::Request& req, httplib::Response& res) {
      const bool signed_in = auth_->UserByToken(TokenOf(req)).ok();
      res.set_content(std::string(DashboardAsset(signed_in ? "index.html" : "signin.html")), "text/html; charset=utf-8");
    };
    s.Get("/", page);
    s.Get(R"(/jobs/([A-Za-z0-9_.-]{1,128}))", page);
    s.Get(R"(/static/(dashboard\.js|dashboard\.css))", [](const httplib::Request& req, httplib::Response& res) {
      const std::string name = req.matches[1];
      res.set_content(std::string(DashboardAsset(name)),
                      absl::EndsWith(name, ".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8");
    });
    s.Post("/login", [this](const httplib::Request& req, httplib::Response& res) {
      if (!auth_->enabled()) return res.set_redirect("/", 303);  // nothing to sign in to
      const std::string token = req.get_param_value("token");
      if (absl::StatusOr<Caller> caller = auth_->UserByToken(token); !caller.ok()) {
        res.status = 401;
        res.set_content(std::string(DashboardAsset("signin.html")), "text/html; charset=utf-8");
        return;
      }
      res.set_header("Set-Cookie", absl::StrCat(kCookie, "=", token, "; Path=/; HttpOnly; SameSite=Strict",
                                                tls_ ? "; Secure" : ""));
      res.set_redirect("/", 303);
    });
    s.Post("/logout", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Set-Cookie", absl::StrCat(kCookie, "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
                                                tls_ ? "; Secure" : ""));
      res.set_redirect("/", 303);
    });

    s.Get("/api/whoami", [this](const httplib::Request& req, httplib::Response& res) {
      absl::StatusOr<Caller> caller = auth_->UserByToken(TokenOf(req));
      if (!caller.ok()) return Error(res, caller.status());
      res.set_content(JsonObject({{"user", caller->user}, {"admin", caller->admin}, {"auth", auth_->enabled()}}),
                      "application/json");
    });
    s.Get("/api/jobs", [this](const httplib::Request& req, httplib::Response& res) {
      absl::StatusOr<Caller> caller = auth_->UserByToken(TokenOf(req));
      if (!caller.ok()) return Error(res, caller.status());
      // The newest kJobsListed, every page of them (a page is cut at a few MiB), without their
      // results (the job's page has those).
      v1::ListJobsRequest list;
      list.set_limit(kJobsListed);
      list.set_page_size(kJobsListed);
      v1::ListJobsResponse all;
      do {
        absl::StatusOr<v1::ListJobsResponse> page = jobs_->List(list, caller->admin ? "" : caller->user);
        if (!page.ok()) return Error(res, page.status());
        for (v1::Job& job : *page->mutable_jobs()) {
          job.clear_result();
          *all.add_jobs() = std::move(job);
        }
        list.set_page_token(page->next_page_token());
      } while (!list.page_token().empty());
      res.set_content(ToJson(all, /*one_line=*/true), "application/json");
    });
    s.Get(R"(/api/jobs/([A-Za-z0-9_.-]{1,128})(/result\.json)?)", [this](const httplib::Request& req, httplib::Response& res) {
      absl::StatusOr<v1::Job> job = OwnJob(req);
      if (!job.ok()) return Error(res, job.status());
      if (req.matches[2].length() > 0) return res.set_content(ToJson(job->result()), "application/json");
      res.set_content(ToJson(*job, /*one_line=*/true), "application/json");
    });
    s.Get(R"(/api/jobs/([A-Za-z0-9_.-]{1,128})/log)", [this](const httplib::Request& req, httplib::Response& res) {
      absl::StatusOr<v1::Job> job = OwnJob(req);
      if (!job.ok()) return Error(res, job.status());
      absl::StatusOr<int64_t> size = logs_->Size(job->id());
      if (!size.ok()) return Error(res, size.status());
      int64_t offset = 0;
      if (req.has_param("tail")) {
        int64_t tail = kDefaultTail;
        if (!absl::SimpleAtoi(req.get_param_value("tail"), &tail) || tail < 0) tail = kDefaultTail;
        offset = std::max<int64_t>(0, *size - std::min(tail, kMaxLogPiece));
      } else if (!absl::SimpleAtoi(req.get_param_value("offset"), &offset) || offset < 0) {
        return Error(res, absl::InvalidArgumentError("offset must be a byte offset, 0 or more"));
      }
      absl::StatusOr<std::string> data = logs_->Read(job->id(), offset, kMaxLogPiece);
      if (!data.ok()) return Error(res, data.status());
      // Where this piece starts and where the next read starts.
      res.set_header("X-Log-Offset", std::to_string(offset));
      res.set_header("X-Log-Next-Offset", std::to_string(offset + static_cast<int64_t>(data->size())));
      res.set_content(*std::move(data), "text/plain; charset=utf-8");
    });
    s.Post(R"(/api/jobs/([A-Za-z0-9_.-]{1,128})/cancel)", [this](const httplib::Request& req, httplib::Response& res) {
      // A cross-site form cannot set a header: with the SameSite cookie, no other site can
      // make a signed-in browser cancel a job.
      if (req.get_header_value("X-Braintune-Action") != "cancel") {
        return Error(res, absl::PermissionDeniedError("cancelling needs the header X-Braintune-Action: cancel"));
      }
      absl::StatusOr<v1::Job> job = OwnJob(req);
      if (!job.ok()) return Error(res, job.status());
      absl::StatusOr<v1::Job> cancelled = jobs_->Cancel(job->id());
      if (!cancelled.ok()) return Error(res, cancelled.status());
      res.set_content(ToJson(*cancelled, /*one_line=*/true), "application/json");
    });
    s.Get("/api/nodes", [this](const httplib::Request& req, httplib::Response& res) {
      absl::StatusOr<Caller> caller = auth_->UserByToken(TokenOf(req));
      if (!caller.ok()) return Error(res, caller.status());
      v1::ListNodesResponse nodes;
      for (v1::NodeStatus& n : jobs_->Nodes(caller->user, caller->admin)) *nodes.add_nodes() = std::move(n);
      res.set_content(ToJson(nodes, /*one_line=*/true), "application/json");
    });
  }

  // The job the request's path names, if its caller may see it (NotFound otherwise, as the
  // gRPC API answers).
  absl::StatusOr<v1::Job> OwnJob(const httplib::Request& req) const {
    absl::StatusOr<Caller> caller = auth_->UserByToken(TokenOf(req));
    if (!caller.ok()) return caller.status();
    absl::StatusOr<v1::Job> job = jobs_->Get(req.matches[1]);
    if (!job.ok()) return job.status();
    if (absl::Status s = Authenticator::CheckOwner(*caller, *job); !s.ok()) return s;
    return job;
  }

  const bool tls_;
  JobManager* const jobs_;
  LogStore* const logs_;
  const Authenticator* const auth_;
  const Metrics* const metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpOptions& options, JobManager* jobs,
                                                              LogStore* logs, const Authenticator* auth,
                                                              const Metrics* metrics) {
  auto server = std::make_unique<HttpServerImpl>(options, jobs, logs, auth, metrics);
  if (absl::Status s = server->Listen(options.address); !s.ok()) return s;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace braintune::coordinator

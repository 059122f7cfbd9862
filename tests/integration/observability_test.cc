// Seeing the pool (issue 20), end to end with real processes: a coordinator serving /metrics and
// the dashboard, a worker running real jobs, Debian's Prometheus scraping the coordinator, the
// exposition read by the reference parser (python3-prometheus-client), headless Chromium loading
// the pages (dashboard_browser.py), and the CLI's `nodes` and `status`. With access control
// behind TLS: the sign-in page, users who see only their own jobs, the cookie's attributes,
// cancelling, and who may read /metrics.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "braintune/v1/job_service.pb.h"
#include "testing/process.h"
#include "testing/tiny_job.h"

namespace braintune {
namespace {

using testing::BackgroundProcess;
using testing::Binary;
using testing::RunCommand;

// Where the browser checks leave their screenshots: $BRAINTUNE_SCREENSHOT_DIR (for the docs), or
// the test's directory.
std::string ScreenshotDir(const testing::TempDir& dir) {
  const char* env = std::getenv("BRAINTUNE_SCREENSHOT_DIR");
  return env != nullptr && *env != '\0' ? env : dir.path();
}

std::string BrowserScript() { return std::string(BRAINTUNE_SOURCE_DIR) + "/tests/integration/dashboard_browser.py"; }

// Polls `check` every 200 ms for up to `seconds`.
bool Eventually(const std::function<bool()>& check, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (check()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return check();
}

class ObservabilityTest : public ::testing::Test {
 protected:
  // The HTTPS client's writes to a connection the server closed must fail, not kill the test.
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }

  // The CLI against the coordinator, as `token` (a file's contents; "" for none).
  testing::CommandResult Cli(const std::string& args, const std::string& token = "", const std::string& ca = "") {
    std::string env = "HOME=" + dir_.path() + " ";
    if (!token.empty()) env += "BRAINTUNE_TOKEN=" + token + " ";
    if (!ca.empty()) env += "BRAINTUNE_TLS_CA=" + ca + " ";
    return RunCommand(env + Binary("braintune") + " " + args + " --coordinator " + address_);
  }

  v1::Job Status(const std::string& id, const std::string& token = "", const std::string& ca = "") {
    auto r = RunCommand("HOME=" + dir_.path() + (token.empty() ? "" : " BRAINTUNE_TOKEN=" + token) +
                        (ca.empty() ? "" : " BRAINTUNE_TLS_CA=" + ca) + " " + Binary("braintune") + " status " + id +
                        " --output json --coordinator " + address_ + " 2>/dev/null");
    v1::Job job;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.output, &job).ok()) << r.output;
    return job;
  }

  std::string Submit(const std::string& file, const std::string& token = "", const std::string& ca = "") {
    auto r = Cli("submit " + dir_.File(file) + " --output json 2>/dev/null", token, ca);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    v1::Job job;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.output, &job).ok()) << r.output;
    return job.id();
  }

  // A value of Prometheus' instant query `query` (the first series), or NaN.
  double PromQuery(int port, const std::string& query) {
    httplib::Client client("127.0.0.1", port);
    auto res = client.Get("/api/v1/query", httplib::Params{{"query", query}}, httplib::Headers{});
    if (!res || res->status != 200) return std::nan("");
    // {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[T,"V"]}]}}
    const size_t at = res->body.find("\"value\":[");
    if (at == std::string::npos) return std::nan("");
    const size_t quote = res->body.find('"', res->body.find(',', at));
    double v = std::nan("");
    (void)absl::SimpleAtod(res->body.substr(quote + 1, res->body.find('"', quote + 1) - quote - 1), &v);
    return v;
  }

  testing::TempDir dir_;
  std::string address_;
};

// A real Prometheus scrapes the coordinator while one job runs and after another succeeded; the
// dashboard shows both in Chromium; the CLI shows the node and the loss curve.
TEST_F(ObservabilityTest, PrometheusAndTheDashboardSeeTheJobs) {
  // Prometheus and the browser are Debian's (scripts/install-deps); without them (a build-only
  // machine) their parts are skipped, the rest is not.
  const bool have_prometheus = RunCommand("test -x /usr/bin/prometheus").exit_code == 0;
  const bool have_browser = RunCommand("command -v chromium && command -v chromedriver").exit_code == 0;
  if (!have_prometheus || !have_browser) std::cout << "no prometheus or chromium: those checks are skipped\n";
  testing::WriteTinyJob(dir_, {.name = "short", .steps = 10, .file = "short.yaml"});
  // Runs until cancelled: no early stopping.
  testing::WriteTinyJob(dir_, {.name = "long", .steps = 100000, .file = "long.yaml", .training = ", patience: 0"});
  address_ = "127.0.0.1:" + std::to_string(testing::FreePort());
  const int http = testing::FreePort();
  BackgroundProcess coordinator({Binary("braintune-coordinator"), "--listen", address_, "--http",
                                 "127.0.0.1:" + std::to_string(http), "--db", dir_.File("jobs.db")},
                                dir_.File("coordinator.log"));
  BackgroundProcess worker({Binary("braintune-worker"), "--coordinator", address_, "--name", "node-a", "--slots", "2",
                            "--work-dir", dir_.File("work"), "--train-binary", Binary("braintune-train")},
                           dir_.File("worker.log"));
  ASSERT_TRUE(Eventually([&] { return Cli("nodes 2>&1").output.find("node-a") != std::string::npos; }, 30))
      << testing::ReadFileOrEmpty(dir_.File("coordinator.log"));

  // Prometheus, scraping every second.
  const int prom = testing::FreePort();
  std::ofstream(dir_.File("prometheus.yml")) << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                                                "scrape_configs:\n"
                                                "  - job_name: braintune\n"
                                                "    static_configs: [{targets: ['127.0.0.1:" << http << "']}]\n";
  std::unique_ptr<BackgroundProcess> prometheus;
  if (have_prometheus) {
    prometheus = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + dir_.File("prometheus.yml"),
                                 "--storage.tsdb.path=" + dir_.File("prometheus-data"),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(prom)},
        dir_.File("prometheus.log"));
  }

  // One job to the end, then a long one that runs while we look.
  const std::string short_id = Submit("short.yaml");
  ASSERT_TRUE(Eventually([&] { return Status(short_id).state() == v1::SUCCEEDED; }, 120))
      << testing::ReadFileOrEmpty(dir_.File("worker.log"));
  const std::string long_id = Submit("long.yaml");
  ASSERT_TRUE(Eventually([&] { return Status(long_id).history_size() >= 3; }, 120))
      << "the long job reports progress; " << testing::ReadFileOrEmpty(dir_.File("worker.log"));

  // Prometheus has the finished job counted and the running job's throughput.
  if (have_prometheus) {
    EXPECT_TRUE(Eventually([&] { return PromQuery(prom, "braintune_jobs{state=\"SUCCEEDED\"}") == 1; }, 30))
        << testing::ReadFileOrEmpty(dir_.File("prometheus.log"));
    EXPECT_TRUE(Eventually([&] {
      return PromQuery(prom, "max_over_time(braintune_job_steps_per_second{job_id=\"" + long_id + "\"}[5m])") > 0;
    }, 30)) << "Prometheus never saw the running job's steps/s";
    EXPECT_TRUE(Eventually([&] { return PromQuery(prom, "up{job=\"braintune\"}") == 1; }, 10));
  }

  // The exposition, read by Prometheus' own Python parser: every family typed, the gauges there.
  httplib::Client client("127.0.0.1", http);
  auto scrape = client.Get("/metrics");
  ASSERT_TRUE(scrape && scrape->status == 200);
  EXPECT_TRUE(absl::StartsWith(scrape->get_header_value("Content-Type"), "text/plain; version=0.0.4"));
  std::ofstream(dir_.File("metrics.txt")) << scrape->body;
  auto parsed = RunCommand(
      "/usr/bin/python3 -c 'import sys\nfrom prometheus_client.parser import text_string_to_metric_families as parse\n"
      "fams = {f.name: f for f in parse(open(sys.argv[1]).read())}\n"
      "need = [\"braintune_jobs\", \"braintune_queue_length\", \"braintune_job_steps_per_second\", "
      "\"braintune_node_slots_in_use\", \"braintune_job_queue_wait_seconds\", \"braintune_grpc_requests\", "
      "\"braintune_scheduling_pass_duration_seconds\", \"braintune_node_heartbeat_age_seconds\"]\n"
      "missing = [n for n in need if n not in fams]\n"
      "assert not missing, missing\n"
      "steps = [s for s in fams[\"braintune_job_steps_per_second\"].samples if s.labels[\"job_id\"] == sys.argv[2]]\n"
      "assert steps and steps[0].value > 0, steps\n"
      "print(len(fams), \"families\")' " + dir_.File("metrics.txt") + " " + long_id + " 2>&1");
  EXPECT_EQ(parsed.exit_code, 0) << parsed.output;

  // The CLI: the node with one slot of two in use by the long job; its loss as a sparkline.
  auto nodes = Cli("nodes 2>&1");
  EXPECT_EQ(nodes.exit_code, 0) << nodes.output;
  EXPECT_NE(nodes.output.find("live"), std::string::npos) << nodes.output;
  EXPECT_NE(nodes.output.find("1/2"), std::string::npos) << nodes.output;
  EXPECT_NE(nodes.output.find(long_id), std::string::npos) << nodes.output;
  auto status = Cli("status " + long_id + " 2>&1");
  EXPECT_NE(status.output.find("loss:"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("\u2581"), std::string::npos) << "a sparkline's lowest block: " << status.output;
  std::cout << nodes.output << status.output;

  // A web page whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing: without access
  // control only requests addressed to this machine are answered.
  auto rebound = client.Get("/api/jobs", httplib::Headers{{"Host", "evil.example:" + std::to_string(http)}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 403);
  EXPECT_EQ(rebound->body.find(long_id), std::string::npos);
  auto cross_site = client.Post(("/api/jobs/" + long_id + "/cancel").c_str(),
                                httplib::Headers{{"X-Braintune-Action", "cancel"}, {"Sec-Fetch-Site", "cross-site"}}, "",
                                "text/plain");
  ASSERT_TRUE(cross_site);
  EXPECT_EQ(cross_site->status, 403) << "another site's script cannot cancel";
  EXPECT_EQ(Status(long_id).state(), v1::RUNNING);

  // Chromium: the pool page while the long job runs, then its page with the loss curve.
  const std::string base = "http://127.0.0.1:" + std::to_string(http) + "/";
  const std::string shots = ScreenshotDir(dir_);
  if (have_browser) {
  auto pool = RunCommand("/usr/bin/python3 " + BrowserScript() + " pool " + base + " --job " + long_id +
                         " --state RUNNING --node node-a --slots 1/2 --screenshot " + shots + "/dashboard-pool.png 2>&1");
  EXPECT_EQ(pool.exit_code, 0) << pool.output;
  auto page = RunCommand("/usr/bin/python3 " + BrowserScript() + " job " + base + "jobs/" + long_id +
                         " --state RUNNING --screenshot " + shots + "/dashboard-job.png 2>&1");
  EXPECT_EQ(page.exit_code, 0) << page.output;
  std::cout << pool.output << page.output;
  }

  // After it ends (cancelled here): the page says so, and its per-job series are gone.
  ASSERT_EQ(Cli("cancel " + long_id + " 2>&1").exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return Status(long_id).state() == v1::CANCELLED; }, 60));
  if (have_browser) {
    auto after = RunCommand("/usr/bin/python3 " + BrowserScript() + " pool " + base + " --job " + short_id +
                            " --state SUCCEEDED --node node-a --slots 0/2 2>&1");
    EXPECT_EQ(after.exit_code, 0) << after.output;
  }
  scrape = client.Get("/metrics");
  ASSERT_TRUE(scrape && scrape->status == 200);
  EXPECT_EQ(scrape->body.find("job_id=\"" + long_id + "\""), std::string::npos) << "a finished job leaves no series";
  EXPECT_NE(scrape->body.find("braintune_jobs_finished_total{state=\"CANCELLED\"} 1"), std::string::npos);
}

// With --auth behind TLS: the same rules as the gRPC API, in the browser and over HTTP.
TEST_F(ObservabilityTest, WithAccessControlUsersSeeOnlyTheirOwnJobs) {
  const std::string cert = dir_.File("cert.pem"), key = dir_.File("key.pem");
  auto made = RunCommand("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=braintune-test "
                         "-addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert + " 2>&1");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  std::map<std::string, std::string> tokens;
  for (const auto& [name, role] :
       {std::pair{"alice", "user"}, {"bob", "user"}, {"root", "admin"}, {"prometheus", "metrics"}}) {
    auto t = RunCommand(Binary("braintune-coordinator") + " token create --db " + dir_.File("jobs.db") + " --user " +
                        name + " --role " + role + " 2>/dev/null");
    ASSERT_EQ(t.exit_code, 0) << t.output;
    tokens[name] = t.output.substr(0, t.output.find('\n'));
    std::ofstream(dir_.File(std::string(name) + ".token")) << tokens[name] << "\n";
  }
  std::ofstream(dir_.File("policy.yaml")) << "users:\n  alice: {account: bt-alice}\n  bob: {account: bt-bob}\n";
  testing::WriteTinyJob(dir_, {.name = "alices"});
  address_ = "127.0.0.1:" + std::to_string(testing::FreePort());
  const int http = testing::FreePort();
  BackgroundProcess coordinator({Binary("braintune-coordinator"), "--listen", address_, "--http",
                                 "127.0.0.1:" + std::to_string(http), "--db", dir_.File("jobs.db"), "--auth",
                                 "--tls-cert", cert, "--tls-key", key, "--policy", dir_.File("policy.yaml")},
                                dir_.File("coordinator.log"));
  ASSERT_TRUE(Eventually([&] { return Cli("list 2>&1", tokens["alice"], cert).exit_code == 0; }, 30))
      << testing::ReadFileOrEmpty(dir_.File("coordinator.log"));
  // No worker: alice's job waits in the queue for one.
  const std::string id = Submit("job.yaml", tokens["alice"], cert);
  ASSERT_FALSE(id.empty());

  httplib::SSLClient https("127.0.0.1", http);
  https.set_ca_cert_path(cert.c_str());
  https.enable_server_certificate_verification(true);
  // A response, or (failing the test) an empty one with status -1 when there is none.
  auto answer = [](const std::string& what, httplib::Result r) {
    if (!r) {
      ADD_FAILURE() << what << ": no answer (" << httplib::to_string(r.error()) << ")";
      return httplib::Response();
    }
    return *r;
  };
  auto get = [&](const std::string& path, const std::string& token) {
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return answer("GET " + path, https.Get(path.c_str(), headers));
  };
  auto post = [&](const std::string& path, httplib::Headers headers) {
    return answer("POST " + path, https.Post(path.c_str(), headers, "", "text/plain"));
  };
  EXPECT_EQ(get("/api/jobs", "").status, 401) << "HTTPS with the gRPC port's certificate, a token required";
  EXPECT_EQ(get("/api/jobs/" + id, tokens["bob"]).status, 404) << "as for a job that does not exist";
  EXPECT_EQ(get("/api/jobs/" + id + "/log?offset=0", tokens["bob"]).status, 404);
  EXPECT_EQ(get("/api/jobs/" + id + "/result.json", tokens["bob"]).status, 404);
  EXPECT_EQ(get("/api/jobs", tokens["bob"]).body.find(id), std::string::npos);
  EXPECT_EQ(get("/api/nodes", tokens["bob"]).status, 200);
  EXPECT_NE(get("/api/jobs", tokens["alice"]).body.find(id), std::string::npos);
  EXPECT_EQ(get("/api/jobs/" + id, tokens["alice"]).status, 200);
  EXPECT_NE(get("/api/jobs", tokens["root"]).body.find(id), std::string::npos) << "an admin sees every job";
  // /metrics: a metrics or admin token, not a user's; a metrics token serves nothing else.
  EXPECT_EQ(get("/metrics", "").status, 401);
  EXPECT_EQ(get("/metrics", tokens["alice"]).status, 403);
  EXPECT_EQ(get("/metrics", tokens["root"]).status, 200);
  httplib::Response metrics = get("/metrics", tokens["prometheus"]);
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("braintune_queue_length 1"), std::string::npos) << metrics.body.substr(0, 1500);
  EXPECT_EQ(get("/api/jobs", tokens["prometheus"]).status, 403) << "a metrics token reads /metrics only";
  auto metrics_on_grpc = Cli("list 2>&1", tokens["prometheus"], cert);
  EXPECT_NE(metrics_on_grpc.exit_code, 0);
  EXPECT_NE(metrics_on_grpc.output.find("metrics token serves /metrics only"), std::string::npos) << metrics_on_grpc.output;
  // The page without a token is the sign-in page, and nothing else.
  httplib::Response page = get("/", "");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("id=\"signin\""), std::string::npos);
  EXPECT_NE(page.get_header_value("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  // Plaintext HTTP to the TLS port gets nothing.
  httplib::Client plain("127.0.0.1", http);
  auto plain_res = plain.Get("/api/jobs");
  EXPECT_TRUE(!plain_res || plain_res->status >= 400);

  // Signing in: a bad token gets the sign-in page again; a good one an HttpOnly, SameSite=Strict,
  // Secure cookie that then stands for the user. Another site cannot sign a browser in.
  httplib::Response bad = answer("login", https.Post("/login", httplib::Params{{"token", "not-a-token"}}));
  EXPECT_EQ(bad.status, 401);
  EXPECT_TRUE(bad.get_header_value("Set-Cookie").empty());
  httplib::Response forged = answer("login", https.Post("/login", httplib::Headers{{"Origin", "https://evil.example"}},
                                                        httplib::Params{{"token", tokens["bob"]}}));
  EXPECT_EQ(forged.status, 403) << "a sign-in posted from another site";
  EXPECT_TRUE(forged.get_header_value("Set-Cookie").empty());
  httplib::Response good = answer("login", https.Post("/login", httplib::Params{{"token", tokens["alice"]}}));
  EXPECT_EQ(good.status, 303);
  const std::string cookie = good.get_header_value("Set-Cookie");
  for (const char* attribute : {"HttpOnly", "SameSite=Strict", "Secure", "Path=/"}) {
    EXPECT_NE(cookie.find(attribute), std::string::npos) << cookie;
  }
  const std::string cookie_header = cookie.substr(0, cookie.find(';'));

  // Chromium: the sign-in page, bob who sees nothing of alice's, alice who sees her job.
  if (RunCommand("command -v chromium && command -v chromedriver").exit_code == 0) {
    auto browser = RunCommand("/usr/bin/python3 " + BrowserScript() + " auth https://127.0.0.1:" +
                              std::to_string(http) + "/ --owner-token " + dir_.File("alice.token") + " --other-token " +
                              dir_.File("bob.token") + " --job " + id + " 2>&1");
    EXPECT_EQ(browser.exit_code, 0) << browser.output;
    std::cout << browser.output;
  }

  // Cancelling: only with the action header (a cross-site form cannot send it), only from the
  // dashboard's own pages, only one's own.
  const std::string cancel = "/api/jobs/" + id + "/cancel";
  EXPECT_EQ(post(cancel, {{"Cookie", cookie_header}}).status, 403);
  EXPECT_EQ(post(cancel, {{"Cookie", cookie_header}, {"X-Braintune-Action", "cancel"}, {"Origin", "https://evil.example"}})
                .status,
            403);
  EXPECT_EQ(post(cancel, {{"Authorization", "Bearer " + tokens["bob"]}, {"X-Braintune-Action", "cancel"}}).status, 404);
  EXPECT_EQ(Status(id, tokens["alice"], cert).state(), v1::QUEUED);
  httplib::Response alices = post(cancel, {{"Cookie", cookie_header}, {"X-Braintune-Action", "cancel"},
                                           {"Origin", "https://127.0.0.1:" + std::to_string(http)}});
  EXPECT_EQ(alices.status, 200) << alices.body;
  EXPECT_EQ(Status(id, tokens["alice"], cert).state(), v1::CANCELLED);
}

// Without access control the HTTP side, like the gRPC port, serves loopback only.
TEST_F(ObservabilityTest, WithoutAuthTheDashboardServesLoopbackOnly) {
  auto r = RunCommand(Binary("braintune-coordinator") + " --listen 127.0.0.1:0 --http 0.0.0.0:0 --db " +
                      dir_.File("jobs.db") + " 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("refusing to serve 0.0.0.0:0 without --auth"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace braintune

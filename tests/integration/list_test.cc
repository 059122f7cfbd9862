// Issue 17, reproduction 11: `braintune list` against a coordinator holding 10,000 jobs (each
// with 2 KiB of spec text, 20 MB in all: a single reply used to exceed gRPC's 4 MiB limit), and
// --retain-days: finished jobs past the retention are gone at start, with their logs, while
// unfinished and recent ones stay.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "braintune/v1/job_service.pb.h"
#include "coordinator/log_store.h"
#include "store/job_store.h"
#include "testing/process.h"

namespace braintune {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Jobs job-1..job-N as a coordinator stores them: every third still QUEUED, the others
// SUCCEEDED, the first `old` of them finished 100 days ago, the rest an hour ago.
void StoreJobs(const std::string& db, int n, int old) {
  auto store = *store::OpenSqliteJobStore(db);
  const std::string yaml = "name: many\ndata: {path: /d.h5}\n# " + std::string(2048, 'x') + "\n";
  const int64_t day = 24 * 3600 * 1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 25; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t + 1; i <= n; i += 25) {
        v1::Job job;
        job.set_id(absl::StrCat("job-", i));
        job.set_user("ana");
        job.set_state(i % 3 ? v1::SUCCEEDED : v1::QUEUED);
        job.set_created_ms(NowMs() - 101 * day);
        job.set_updated_ms(i <= old ? NowMs() - 100 * day : NowMs() - day / 24);
        job.mutable_spec()->set_name("many");
        job.mutable_spec()->set_ranks(1);
        job.mutable_spec()->set_spec_yaml(yaml);
        ASSERT_TRUE(store->Put(job).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
}

class ListTest : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& flags) {
    address_ = "127.0.0.1:" + std::to_string(testing::FreePort());
    std::vector<std::string> argv = {testing::Binary("braintune-coordinator"), "--listen", address_, "--db",
                                     dir_.File("jobs.db")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    coordinator_ = std::make_unique<testing::BackgroundProcess>(argv, dir_.File("coordinator.log"));
    for (int i = 0; i < 100 && Cli("list --limit 1").exit_code != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  testing::CommandResult Cli(const std::string& args) {
    return testing::RunCommand(testing::Binary("braintune") + " " + args + " --coordinator " + address_ + " 2>&1");
  }
  v1::ListJobsResponse ListJson(const std::string& args) {
    auto r = Cli("list --output json " + args);
    EXPECT_EQ(r.exit_code, 0) << r.output.substr(0, 2000);
    v1::ListJobsResponse list;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.output, &list).ok()) << r.output.substr(0, 2000);
    return list;
  }

  testing::TempDir dir_;
  std::string address_;
  std::unique_ptr<testing::BackgroundProcess> coordinator_;
};

TEST_F(ListTest, TenThousandJobsAreListedPageByPage) {
  constexpr int kJobs = 10000;
  StoreJobs(dir_.File("jobs.db"), kJobs, 0);
  Start({});
  v1::ListJobsResponse all = ListJson("--all");
  ASSERT_EQ(all.jobs_size(), kJobs) << testing::ReadFileOrEmpty(dir_.File("coordinator.log"));
  for (int i = 0; i < kJobs; ++i) ASSERT_EQ(all.jobs(i).id(), absl::StrCat("job-", i + 1)) << "oldest first, once";

  v1::ListJobsResponse newest = ListJson("--limit 5");
  ASSERT_EQ(newest.jobs_size(), 5);
  EXPECT_EQ(newest.jobs(0).id(), "job-9996");
  EXPECT_EQ(newest.jobs(4).id(), "job-10000");
  EXPECT_EQ(ListJson("--limit 2500 --state QUEUED").jobs_size(), 2500) << "more than a page";

  auto table = Cli("list");
  ASSERT_EQ(table.exit_code, 0) << table.output.substr(0, 2000);
  const std::vector<std::string> lines = absl::StrSplit(table.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 102u) << "a header, the newest 100, and the hint";
  EXPECT_EQ(lines[1].rfind("job-9901 ", 0), 0u) << lines[1];
  EXPECT_NE(table.output.find("--all for more"), std::string::npos);
}

TEST_F(ListTest, FinishedJobsPastTheRetentionAreForgottenWithTheirLogsAtStart) {
  StoreJobs(dir_.File("jobs.db"), 30, 20);  // job-1..20 finished 100 days ago
  {
    auto logs = *coordinator::LogStore::Open(dir_.File("jobs.db.logs"));
    for (const char* id : {"job-1", "job-3", "job-25"}) ASSERT_TRUE(logs->Append(id, 1, 0, "output\n", true).ok());
  }
  Start({"--retain-days", "30"});
  v1::ListJobsResponse left = ListJson("--all");
  // Gone: the old SUCCEEDED ones (job-1..20 but for 3, 6, ..., 18, still QUEUED).
  ASSERT_EQ(left.jobs_size(), 30 - 14) << testing::ReadFileOrEmpty(dir_.File("coordinator.log"));
  for (const auto& job : left.jobs()) {
    const int n = std::stoi(job.id().substr(4));
    EXPECT_TRUE(n > 20 || job.state() == v1::QUEUED) << job.id();
  }
  EXPECT_NE(Cli("status job-1").exit_code, 0);
  EXPECT_EQ(Cli("status job-3").exit_code, 0) << "a queued job is kept however old";
  EXPECT_FALSE(std::filesystem::exists(dir_.File("jobs.db.logs/job-1.log")));
  EXPECT_TRUE(std::filesystem::exists(dir_.File("jobs.db.logs/job-3.log")));
  EXPECT_TRUE(std::filesystem::exists(dir_.File("jobs.db.logs/job-25.log"))) << "finished an hour ago: kept";
  EXPECT_NE(testing::ReadFileOrEmpty(dir_.File("coordinator.log")).find("pruned 14 jobs"), std::string::npos);
}

TEST_F(ListTest, RetainDaysZeroKeepsEverything) {
  StoreJobs(dir_.File("jobs.db"), 10, 10);
  Start({"--retain-days", "0"});
  EXPECT_EQ(ListJson("--all").jobs_size(), 10);
}

}  // namespace
}  // namespace braintune

// The agent's pieces of the security model (docs/operations.md): what NodeExec runs, whom it
// runs as, and the directories it hands to a job.
#include <gtest/gtest.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "agent/node_exec.h"
#include "agent/run_as.h"
#include "testing/process.h"

namespace braintune::agent {
namespace {

TEST(NodeExecTest, RunsOpenMpisDaemonOnly) {
  // What mpirun hands its rsh agent (with and without a prefix), quoted URIs holding ';'.
  // (What OpenMPI 4.1's mpirun passed in tests/integration/multinode_test.cc.)
  EXPECT_TRUE(IsDaemonCommand(
      " orted -mca ess \"env\" -mca ess_base_jobid \"1941504000\" -mca ess_base_vpid 1 -mca ess_base_num_procs \"2\" "
      "-mca orte_node_regex \"node-a,node-b@0(2)\" -mca orte_hnp_uri \"1941504000.0;tcp://10.77.0.1:51513\""));
  EXPECT_TRUE(IsDaemonCommand("PATH=/opt/ompi/bin:$PATH ; export PATH ; /opt/ompi/bin/orted -mca plm \"rsh\""));
  for (const char* bad : {"sh -c id", "orted; id", "orted && id", "orted | tee x", "orted `id`", "orted $(id)",
                          "orted > /etc/passwd", "/tmp/evil/not-orted", "id; orted", "orted \"unterminated"}) {
    EXPECT_FALSE(IsDaemonCommand(bad)) << bad;
  }
}

TEST(RunAsTest, NeverRootForAMultiUserPool) {
  auto none = ResolveRunAs("", /*multi_user=*/false);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value()) << "single user: the agent's own account";
  EXPECT_NE(ResolveRunAs("no-such-account-xyz", false).status().message().find("does not exist on this node"),
            std::string::npos);
  if (::geteuid() == 0) {
    EXPECT_NE(ResolveRunAs("", true).status().message().find("refusing to run a job as root"), std::string::npos);
    EXPECT_NE(ResolveRunAs("root", true).status().message().find("never run as root"), std::string::npos);
    auto nobody = ResolveRunAs("nobody", true);
    ASSERT_TRUE(nobody.ok()) << nobody.status();
    ASSERT_TRUE(nobody->has_value());
    EXPECT_EQ((*nobody)->uid, ::getpwnam("nobody")->pw_uid);
  } else {
    EXPECT_NE(ResolveRunAs("root", false).status().message().find("cannot run a job as"), std::string::npos);
  }
}

TEST(RunAsTest, JobDirectoriesAreRealAndTheAccounts) {
  testing::TempDir dir;
  const std::string job = dir.File("jobs/job-1");
  ASSERT_TRUE(MakeOwnedDirectory(job, std::nullopt, 0700).ok());
  struct stat st;
  ASSERT_EQ(::lstat(job.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // A symlink in its place (planted by whoever could) is refused, not followed.
  std::filesystem::create_symlink("/etc", dir.File("jobs/job-2"));
  EXPECT_FALSE(MakeOwnedDirectory(dir.File("jobs/job-2"), std::nullopt, 0700).ok());
  if (::geteuid() == 0) {
    auto nobody = ResolveRunAs("nobody", true);
    ASSERT_TRUE(nobody.ok() && nobody->has_value());
    ASSERT_TRUE(MakeOwnedDirectory(dir.File("jobs/job-3"), *nobody, 0700).ok());
    ASSERT_EQ(::lstat(dir.File("jobs/job-3").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, (*nobody)->uid);
  }
}

// An agent running as root keeps its work directory out of the jobs' reach (review of issue 18:
// a Kubernetes emptyDir is 0777, and a job could have renamed the directory the agent writes in).
TEST(RunAsTest, ARootAgentsWorkDirectoryIsRootsAlone) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CI runs as root)";
  testing::TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  const std::string open = dir.File("open"), work = dir.File("open/work");
  std::filesystem::create_directories(work);
  ::chmod(open.c_str(), 0777);
  absl::Status refused = SecureWorkDirectory(work);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find(open + " (owner uid 0, mode 0777) is not root's alone"), std::string::npos)
      << refused;
  ::chmod(open.c_str(), 01777);  // sticky, as /tmp: others cannot rename root's entries
  ::chmod(work.c_str(), 0777);   // the work directory itself, root's: tightened
  ASSERT_TRUE(SecureWorkDirectory(work).ok());
  struct stat st;
  ASSERT_EQ(::lstat(work.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  auto nobody = ResolveRunAs("nobody", true);
  ASSERT_TRUE(nobody.ok() && nobody->has_value());
  ASSERT_EQ(::chown(work.c_str(), (*nobody)->uid, (*nobody)->gid), 0);
  EXPECT_FALSE(SecureWorkDirectory(work).ok()) << "a work directory another account owns";
}

}  // namespace
}  // namespace braintune::agent

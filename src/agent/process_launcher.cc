#include "agent/process_launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace braintune::agent {

absl::StatusOr<ManagedProcess> ManagedProcess::Start(const std::vector<std::string>& argv,
                                                     const std::map<std::string, std::string>& extra_env,
                                                     const std::string& log_path, const std::optional<RunAs>& who,
                                                     const std::string& cwd) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (log_fd < 0) {
    return absl::UnavailableError(absl::StrCat(log_path, ": cannot open job log: ", std::strerror(errno)));
  }
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv(*e);
    const std::string key = kv.substr(0, kv.find('='));
    const bool kept = who ? (key == "PATH" || key == "LANG") : key != "BRAINTUNE_TOKEN";
    if (kept) env[key] = kv.substr(key.size() + 1);
  }
  if (who) env.insert({{"HOME", who->home}, {"USER", who->name}, {"LOGNAME", who->name}});
  for (const auto& [k, v] : extra_env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    ::setsid();
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    auto fail = [](const char* msg, size_t n) {
      (void)!::write(2, msg, n);
      ::_exit(126);
    };
    if (who) {
      // Groups, then gid, then uid: after setuid the others can no longer be changed.
      if (::setgroups(who->groups.size(), who->groups.data()) != 0 || ::setgid(who->gid) != 0 ||
          ::setuid(who->uid) != 0 || (who->uid != 0 && ::setuid(0) == 0)) {
        const char msg[] = "braintune-worker: cannot switch to the job's Unix account\n";
        fail(msg, sizeof(msg) - 1);
      }
      ::umask(027);
    }
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
      const char msg[] = "braintune-worker: cannot enter the job's directory\n";
      fail(msg, sizeof(msg) - 1);
    }
    // If the agent dies, mpirun gets SIGTERM and takes its ranks down: no orphans on slots that
    // the coordinator will hand to the next job. (After the switch: it clears this setting.)
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::execvpe(args[0], args.data(), envp.data());
    const char msg[] = "braintune-worker: exec failed\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  ::close(log_fd);
  return ManagedProcess(pid);
}

ExitInfo ManagedProcess::Poll() {
  if (exit_.exited) return exit_;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_.exited = true;
    if (WIFEXITED(status)) exit_.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
      exit_.term_signal = WTERMSIG(status);
      exit_.exit_code = 128 + exit_.term_signal;
    }
    // Make sure nothing of the group outlives its leader (ranks orphaned by a dead mpirun).
    ::kill(-pid_, SIGKILL);
  }
  return exit_;
}

void ManagedProcess::Stop(int64_t now_ms, int64_t grace_ms) {
  if (exit_.exited) return;
  if (term_sent_ms_ < 0) {
    term_sent_ms_ = now_ms;
    ::kill(-pid_, SIGTERM);
  } else if (now_ms - term_sent_ms_ >= grace_ms) {
    ::kill(-pid_, SIGKILL);
  }
}

}  // namespace braintune::agent

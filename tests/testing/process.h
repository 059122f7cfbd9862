// Test helpers for multi-process tests: temporary directories, running a command to completion,
// and background services (coordinator, worker) that are killed when the test ends.
#ifndef BRAINTUNE_TESTS_TESTING_PROCESS_H_
#define BRAINTUNE_TESTS_TESTING_PROCESS_H_

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace braintune::testing {

// A fresh directory under $TMPDIR, removed with its contents at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
  double seconds = 0;  // wall time until it exited
};

// Runs `command` through /bin/sh and waits for it.
CommandResult RunCommand(const std::string& command);

// A program started in the background with its output appended to `log_path`, in its own
// process group. The destructor SIGKILLs the group.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  void Signal(int sig);
  // Waits up to `timeout_ms` for the process to exit; returns its wait status or -1.
  int Wait(int timeout_ms);
  bool Running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// A job killed mid-run: runs `command` (/bin/sh -c) in the background, its output into `log`,
// until `path` exists (at most `timeout_ms`), then kills it with SIGKILL and reaps it. Returns
// whether `path` appeared.
bool KillWhenFileAppears(const std::string& command, const std::string& path, const std::string& log,
                         int timeout_ms = 60000);

// Reads a whole file ("" when missing).
std::string ReadFileOrEmpty(const std::string& path);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Path of a built binary, e.g. Binary("braintune").
std::string Binary(const std::string& name);

// The start of an mpirun command line that starts `ranks` ranks on this machine (as root too,
// more ranks than cores allowed), to which the program and its flags are appended.
std::string Mpirun(int ranks);

}  // namespace braintune::testing

#endif  // BRAINTUNE_TESTS_TESTING_PROCESS_H_

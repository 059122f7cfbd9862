#include "agent/run_as.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace braintune::agent {

absl::StatusOr<std::optional<RunAs>> ResolveRunAs(const std::string& account, bool multi_user) {
  const bool root = ::geteuid() == 0;
  if (account.empty()) {
    if (multi_user && root) {
      return absl::FailedPreconditionError(
          "refusing to run a job as root: the coordinator authenticates users but named no Unix account for it");
    }
    return std::optional<RunAs>();
  }
  std::vector<char> buffer(16384);
  struct passwd pw, *found = nullptr;
  if (::getpwnam_r(account.c_str(), &pw, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("Unix account '", account, "' does not exist on this node"));
  }
  if (pw.pw_uid == 0 && multi_user) {
    return absl::FailedPreconditionError(absl::StrCat("Unix account '", account, "' is root; jobs never run as root"));
  }
  if (!root) {
    if (pw.pw_uid == ::geteuid()) return std::optional<RunAs>();
    return absl::FailedPreconditionError(absl::StrCat("this agent runs as uid ", ::geteuid(),
                                                      ", not root: it cannot run a job as '", account, "'"));
  }
  RunAs who{account, pw.pw_uid, pw.pw_gid, {}, pw.pw_dir ? pw.pw_dir : "/"};
  int n = 64;
  who.groups.resize(n);
  if (::getgrouplist(account.c_str(), pw.pw_gid, who.groups.data(), &n) < 0) {
    who.groups.resize(n);
    if (::getgrouplist(account.c_str(), pw.pw_gid, who.groups.data(), &n) < 0) {
      return absl::FailedPreconditionError(absl::StrCat("cannot list the groups of Unix account '", account, "'"));
    }
  }
  who.groups.resize(n);
  return std::optional<RunAs>(who);
}

absl::Status MakeOwnedDirectory(const std::string& dir, const std::optional<RunAs>& who, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat(dir, ": cannot create: ", std::strerror(errno)));
  }
  // Through one handle opened without following a symlink: what is checked is what is changed.
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat(dir, ": not a directory (a symlink?): refused"));
  }
  absl::Status status = absl::OkStatus();
  if (who.has_value() && ::fchown(fd, who->uid, who->gid) != 0) {
    status = absl::PermissionDeniedError(absl::StrCat(dir, ": cannot give it to '", who->name, "': ", std::strerror(errno)));
  } else if (::fchmod(fd, mode) != 0) {
    status = absl::PermissionDeniedError(absl::StrCat(dir, ": cannot set its mode: ", std::strerror(errno)));
  }
  ::close(fd);
  return status;
}

absl::Status SecureWorkDirectory(const std::string& work_dir) {
  char resolved[PATH_MAX];
  if (::realpath(work_dir.c_str(), resolved) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--work-dir ", work_dir, ": ", std::strerror(errno)));
  }
  const std::filesystem::path dir(resolved);
  struct stat st;
  if (::lstat(resolved, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0) {
    return absl::FailedPreconditionError(absl::StrCat("--work-dir ", resolved,
                                                      ": must be a directory owned by root (the agent runs as root)"));
  }
  if ((st.st_mode & 022) != 0) {
    if (::chmod(resolved, (st.st_mode & 07777) & ~022) != 0) {
      return absl::FailedPreconditionError(absl::StrCat("--work-dir ", resolved, ": cannot tighten its mode: ",
                                                        std::strerror(errno)));
    }
    std::cerr << "braintune-worker: --work-dir " << resolved << " was writable by others; now "
              << absl::StrFormat("%04o", (st.st_mode & 07777) & ~022) << "\n";
  }
  for (std::filesystem::path p = dir.parent_path();; p = p.parent_path()) {
    if (::lstat(p.c_str(), &st) != 0) {
      return absl::FailedPreconditionError(absl::StrCat("--work-dir ", resolved, ": cannot inspect ", p.string()));
    }
    const bool others_may_write = (st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0;
    if (st.st_uid != 0 || others_may_write) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "--work-dir %s: %s (owner uid %d, mode %04o) is not root's alone: a job could swap the agent's directory; "
          "make it root's and not writable by others",
          resolved, p.string(), st.st_uid, st.st_mode & 07777));
    }
    if (p == p.parent_path()) break;
  }
  return absl::OkStatus();
}

}  // namespace braintune::agent

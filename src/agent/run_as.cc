#include "agent/run_as.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

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
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::PermissionDeniedError(absl::StrCat(dir, ": not a directory (a symlink?): refused"));
  }
  if (who.has_value() && ::lchown(dir.c_str(), who->uid, who->gid) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(dir, ": cannot give it to '", who->name, "': ", std::strerror(errno)));
  }
  if (::chmod(dir.c_str(), mode) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(dir, ": cannot set its mode: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace braintune::agent

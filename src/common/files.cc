#include "common/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace braintune {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, const std::string& what, int64_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open ", what));
  auto too_large = [&] {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", what, " is larger than ", max_bytes, " bytes"));
  };
  // A regular file too large is refused before it is read; a device or a pipe has no size to
  // ask, so it is read in pieces up to one byte past the limit.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > max_bytes) return too_large();
  std::string text;
  char buffer[1 << 16];
  while (in) {
    in.read(buffer, sizeof(buffer));
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (static_cast<int64_t>(text.size()) > max_bytes) return too_large();
  }
  if (in.bad()) return absl::NotFoundError(absl::StrCat(path, ": cannot read ", what));
  return text;
}

FileRange ReadFileRange(const std::string& path, int64_t from, int64_t max) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  FileRange out;
  out.size = in.tellg();
  if (from >= out.size) return out;
  in.seekg(from);
  out.data.resize(static_cast<size_t>(std::min(max, out.size - from)));
  in.read(out.data.data(), static_cast<std::streamsize>(out.data.size()));
  out.data.resize(static_cast<size_t>(in.gcount()));
  return out;
}

namespace {

// mkdir -p with 0700 for what it creates; `warn_if_open` only for the directory asked for, not
// for existing parents (/home is rightly readable).
absl::Status MakeDirectory(const std::string& dir, const std::string& what, bool warn_if_open) {
  int made = ::mkdir(dir.c_str(), 0700);
  if (made != 0 && errno == ENOENT) {  // a parent is missing: make it, then try again
    const size_t end = dir.find_last_not_of('/');
    const size_t slash = end == std::string::npos ? std::string::npos : dir.rfind('/', end);
    if (slash != std::string::npos && slash > 0) {
      absl::Status parent = MakeDirectory(dir.substr(0, slash), what, /*warn_if_open=*/false);
      if (!parent.ok()) return parent;
      made = ::mkdir(dir.c_str(), 0700);
    }
  }
  if (made == 0) return absl::OkStatus();
  if (errno != EEXIST) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": cannot create the ", what, ": ", std::strerror(errno)));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": cannot create the ", what, ": not a directory"));
  }
  if (warn_if_open) WarnIfOpenToOthers(dir, what);
  return absl::OkStatus();
}

}  // namespace

void WarnIfOpenToOthers(const std::string& dir, const std::string& what) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || (st.st_mode & 077) == 0) return;
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
  std::cerr << "braintune: warning: " << dir << " (the " << what << ") is open to other users (mode " << mode
            << "): its files are private (0600) but their names show; chmod 700 " << dir
            << " unless that is intended" << std::endl;
}

absl::Status CreatePrivateDirectory(const std::string& dir, const std::string& what) {
  return MakeDirectory(dir.empty() ? "." : dir, what, /*warn_if_open=*/true);
}

absl::Status RestrictToOwner(const std::string& path) {
  // O_PATH: the descriptor names the file without opening it (a FIFO planted under the name
  // cannot hang us) and, unlike an opened one, its close() keeps the POSIX locks this process
  // holds on the file: SQLite's, when the file is a database another connection has open.
  // Closing any other descriptor would drop them. The mode is changed through the descriptor,
  // so exactly the file that was checked.
  const int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::InternalError(absl::StrCat(path, ": cannot open to restrict its permissions: ", std::strerror(errno)));
  }
  struct stat st {};
  absl::Status status;
  if (::fstat(fd, &st) != 0) {
    status = absl::InternalError(absl::StrCat(path, ": cannot stat: ", std::strerror(errno)));
  } else if ((st.st_mode & 077) != 0 &&
             ::chmod(absl::StrCat("/proc/self/fd/", fd).c_str(), st.st_mode & 07700) != 0) {
    status = absl::InternalError(
        absl::StrCat(path, ": cannot make it private to its owner (chmod 600): ", std::strerror(errno)));
  }
  ::close(fd);
  return status;
}

}  // namespace braintune

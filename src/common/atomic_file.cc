#include "common/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace braintune {
namespace {

absl::Status Errno(const std::string& path, const char* what) {
  return absl::InternalError(absl::StrCat(path, ": ", what, ": ", std::strerror(errno)));
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// A new, empty regular file "<path>.tmp.<12 random characters>" that did not exist before (no
// entry of that name, symlink or not, is ever opened), with its open descriptor.
struct TempFile {
  std::string path;
  int fd = -1;
};

absl::StatusOr<TempFile> CreateTemp(const std::string& path) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // 62^12 names (~71 bits): a spray of guessed names cannot cover them; a collision (EEXIST)
  // only costs another try.
  for (int attempt = 0; attempt < 100; ++attempt) {
    unsigned char random[12];
    if (::getrandom(random, sizeof(random), 0) != static_cast<ssize_t>(sizeof(random))) {
      return Errno(path, "cannot get random bytes for a temporary file name");
    }
    std::string tmp = absl::StrCat(path, ".tmp.");
    for (unsigned char r : random) tmp += kAlphabet[r % (sizeof(kAlphabet) - 1)];
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) return TempFile{std::move(tmp), fd};
    if (errno != EEXIST && errno != EINTR) return Errno(path, "cannot create a temporary file beside it");
  }
  return absl::InternalError(absl::StrCat(path, ": cannot create a temporary file beside it: every name was taken"));
}

void Discard(TempFile& tmp) {
  if (tmp.fd >= 0) ::close(tmp.fd);
  tmp.fd = -1;
  ::unlink(tmp.path.c_str());  // removes the entry itself, never what a symlink there points to
}

// Steps after the content is written: the file at tmp.path must still be ours (a writer that
// reopened it by name wrote into our file only if so), then mode, fsync, rename, directory fsync.
absl::Status Commit(TempFile& tmp, const std::string& path, mode_t mode) {
  struct stat ours {}, named {};
  if (::fstat(tmp.fd, &ours) != 0) return Errno(path, "cannot stat the temporary file");
  if (::lstat(tmp.path.c_str(), &named) != 0 || !S_ISREG(named.st_mode) || named.st_dev != ours.st_dev ||
      named.st_ino != ours.st_ino) {
    return absl::InternalError(absl::StrCat(path, ": the temporary file ", tmp.path,
                                            " was replaced while it was written; not renaming it into place"));
  }
  if (::fchmod(tmp.fd, mode) != 0) return Errno(path, "cannot set the temporary file's mode");
  if (::fsync(tmp.fd) != 0) return Errno(path, "cannot flush the temporary file to disk");
  const int closed = ::close(tmp.fd);
  tmp.fd = -1;  // closed even when close fails: never close the number twice (another thread may reuse it)
  if (closed != 0) return Errno(path, "cannot close the temporary file");
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) return Errno(path, "cannot rename the temporary file into place");
  // The rename itself survives a crash only once the directory is on disk.
  const int dir = ::open(DirectoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteAtomically(const std::string& path, const std::function<void(const std::string& tmp)>& write,
                             mode_t mode) {
  absl::StatusOr<TempFile> tmp = CreateTemp(path);
  if (!tmp.ok()) return tmp.status();
  try {
    write(tmp->path);
  } catch (const std::exception& e) {
    Discard(*tmp);
    return absl::InternalError(absl::StrCat(path, ": cannot write: ", e.what()));
  }
  absl::Status status = Commit(*tmp, path, mode);
  if (!status.ok()) Discard(*tmp);
  return status;
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents, mode_t mode) {
  absl::StatusOr<TempFile> tmp = CreateTemp(path);
  if (!tmp.ok()) return tmp.status();
  for (size_t done = 0; done < contents.size();) {
    const ssize_t n = ::write(tmp->fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status status = Errno(path, "cannot write (disk full?)");
      Discard(*tmp);
      return status;
    }
    done += static_cast<size_t>(n);
  }
  absl::Status status = Commit(*tmp, path, mode);
  if (!status.ok()) Discard(*tmp);
  return status;
}

}  // namespace braintune

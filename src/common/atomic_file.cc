#include "common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "absl/strings/str_cat.h"

namespace braintune {

absl::Status WriteAtomically(const std::string& path, const std::function<void(const std::string& tmp)>& write) {
  const std::string tmp = absl::StrCat(path, ".tmp", ::getpid());
  try {
    write(tmp);
  } catch (const std::exception& e) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat(path, ": cannot write: ", e.what()));
  }
  int fd = ::open(tmp.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat(path, ": cannot rename the temporary file into place"));
  }
  // The rename itself survives a crash only once the directory is on disk.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  return WriteAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << contents;
    out.flush();
    if (!out) throw std::runtime_error("write failed (disk full?)");
  });
}

}  // namespace braintune

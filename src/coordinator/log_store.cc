#include "coordinator/log_store.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/atomic_file.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace braintune::coordinator {

namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<LogStore>> LogStore::Open(const std::string& dir, int64_t max_bytes) {
  // Users may read only their own jobs' output (through the coordinator): the directory is 0700
  // and every file 0600, also those an older braintune left readable.
  RETURN_IF_ERROR(CreatePrivateDirectory(dir, "log directory"));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) RETURN_IF_ERROR(RestrictToOwner(entry.path().string()));
  }
  if (ec) return absl::InvalidArgumentError(absl::StrCat(dir, ": cannot list the log directory: ", ec.message()));
  return std::unique_ptr<LogStore>(new LogStore(dir, max_bytes));
}

std::string LogStore::Path(const std::string& job_id, const char* ext) const {
  return absl::StrCat(dir_, "/", job_id, ext);
}

absl::StatusOr<LogStore::State*> LogStore::StateLocked(const std::string& job_id) {
  if (job_id.empty() || job_id.find('/') != std::string::npos || job_id[0] == '.') {
    return absl::InvalidArgumentError(absl::StrCat("job id '", job_id, "' cannot name a log"));
  }
  auto it = states_.find(job_id);
  if (it != states_.end()) return &it->second;
  State s;
  std::ifstream in(Path(job_id, ".state"));
  if (in) {
    int complete = 0;
    if (!(in >> s.attempt >> s.attempt_bytes >> s.size >> complete)) {
      return absl::DataLossError(absl::StrCat(Path(job_id, ".state"), ": unreadable log state"));
    }
    s.complete = complete != 0;
  }
  std::error_code ec;
  // Never through a symlink: the repair below truncates whatever the name leads to.
  const fs::file_status log_status = fs::symlink_status(Path(job_id, ".log"), ec);
  if (fs::exists(log_status) && !fs::is_regular_file(log_status)) {
    return absl::DataLossError(absl::StrCat(Path(job_id, ".log"), ": not a regular file"));
  }
  const auto actual = static_cast<int64_t>(fs::file_size(Path(job_id, ".log"), ec));
  const int64_t on_disk = ec ? 0 : actual;
  if (on_disk > s.size) {
    // Appended but never acknowledged: cut back, the agent sends it again.
    fs::resize_file(Path(job_id, ".log"), static_cast<uintmax_t>(s.size), ec);
    if (ec) return absl::InternalError(absl::StrCat(Path(job_id, ".log"), ": cannot repair: ", ec.message()));
  } else if (on_disk < s.size) {
    // Acknowledged but lost (a host crash before the page cache reached the disk).
    const int64_t lost = s.size - on_disk;
    s.attempt_bytes -= std::min(lost, s.attempt_bytes);
    s.size = on_disk;
    s.complete = false;
  }
  return &states_.emplace(job_id, s).first->second;
}

absl::Status LogStore::SaveLocked(const std::string& job_id, const State& s) {
  return WriteFileAtomically(Path(job_id, ".state"),
                             absl::StrCat(s.attempt, " ", s.attempt_bytes, " ", s.size, " ", s.complete ? 1 : 0, "\n"));
}

absl::Status LogStore::AppendLocked(const std::string& job_id, std::string_view bytes) {
  const std::string path = Path(job_id, ".log");
  // 0600 whatever the umask; O_NOFOLLOW: a symlink in place of a log is an error, never a target.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat(path, ": cannot append: ", std::strerror(errno)));
  absl::Status status;
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      status = absl::InternalError(absl::StrCat(path, ": cannot append: ", std::strerror(errno)));
      break;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  ::close(fd);
  return status;
}

absl::StatusOr<LogStore::Ack> LogStore::Append(const std::string& job_id, int attempt, int64_t offset,
                                               std::string_view data, bool last) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(State * s, StateLocked(job_id));
  const auto end = offset + static_cast<int64_t>(data.size());
  if (attempt < s->attempt) return Ack{end, true};  // superseded: nothing more is wanted
  State next = *s;
  if (attempt > s->attempt) next = State{attempt, 0, s->size, false};
  if (next.complete || offset > next.attempt_bytes) {
    if (attempt > s->attempt) {
      RETURN_IF_ERROR(SaveLocked(job_id, next));
      *s = next;
    }
    return Ack{next.attempt_bytes, next.complete};
  }
  const int64_t skip = next.attempt_bytes - offset;  // already held
  if (skip < static_cast<int64_t>(data.size())) {
    std::string_view fresh = data.substr(static_cast<size_t>(skip));
    std::string marker;
    if (max_bytes_ > 0 && next.size + static_cast<int64_t>(fresh.size()) > max_bytes_) {
      // Keep what fits, then the marker, once: afterwards the log is past the cap (size >
      // max_bytes_), which is what says, across restarts, that it was truncated.
      fresh = fresh.substr(0, static_cast<size_t>(std::max<int64_t>(0, max_bytes_ - next.size)));
      if (next.size <= max_bytes_) {
        marker = absl::StrFormat("%s[braintune: log truncated at %g MiB]\n",
                                 !fresh.empty() && fresh.back() != '\n' ? "\n" : "", max_bytes_ / 1048576.0);
      }
    }
    if (!fresh.empty() || !marker.empty()) RETURN_IF_ERROR(AppendLocked(job_id, std::string(fresh) + marker));
    next.attempt_bytes = end;  // acknowledged, stored or not
    next.size += static_cast<int64_t>(fresh.size() + marker.size());
  }
  if (last && end == next.attempt_bytes) next.complete = true;
  RETURN_IF_ERROR(SaveLocked(job_id, next));
  *s = next;
  return Ack{s->attempt_bytes, s->complete};
}

absl::StatusOr<std::string> LogStore::Read(const std::string& job_id, int64_t from, int64_t max_bytes) {
  int64_t size = 0;
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(State * s, StateLocked(job_id));
    size = s->size;  // only acknowledged bytes: never a piece being written
  }
  if (from >= size) return std::string();
  FileRange piece = ReadFileRange(Path(job_id, ".log"), from, std::min(max_bytes, size - from));
  if (piece.size == 0) return absl::InternalError(absl::StrCat(Path(job_id, ".log"), ": cannot open"));
  return std::move(piece.data);
}

absl::StatusOr<int64_t> LogStore::Size(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(State * s, StateLocked(job_id));
  return s->size;
}

bool LogStore::Complete(const std::string& job_id, int attempt) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<State*> s = StateLocked(job_id);
  return s.ok() && ((*s)->attempt > attempt || ((*s)->attempt == attempt && (*s)->complete));
}

absl::Status LogStore::Delete(const std::string& job_id) {
  if (job_id.empty() || job_id.find('/') != std::string::npos || job_id[0] == '.') {
    return absl::InvalidArgumentError(absl::StrCat("job id '", job_id, "' cannot name a log"));
  }
  absl::MutexLock lock(&mu_);
  states_.erase(job_id);
  for (const char* ext : {".log", ".state"}) {
    std::error_code ec;
    fs::remove(Path(job_id, ext), ec);
    if (ec) return absl::InternalError(absl::StrCat(Path(job_id, ext), ": cannot delete: ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace braintune::coordinator

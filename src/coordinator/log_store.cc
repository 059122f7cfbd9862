#include "coordinator/log_store.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace braintune::coordinator {

namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<LogStore>> LogStore::Open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat(dir, ": cannot create the log directory: ", ec.message()));
  return std::unique_ptr<LogStore>(new LogStore(dir));
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
    std::ofstream out(Path(job_id, ".log"), std::ios::binary | std::ios::app);
    out.write(data.data() + skip, static_cast<std::streamsize>(data.size() - skip));
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat(Path(job_id, ".log"), ": cannot append"));
    next.attempt_bytes = end;
    next.size += static_cast<int64_t>(data.size()) - skip;
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

bool LogStore::Complete(const std::string& job_id, int attempt) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<State*> s = StateLocked(job_id);
  return s.ok() && ((*s)->attempt > attempt || ((*s)->attempt == attempt && (*s)->complete));
}

}  // namespace braintune::coordinator

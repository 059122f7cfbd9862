// Reading files whole or in pieces: the one place for it (job specs, policy files, PEM
// certificates, resumable checkpoints' specs, job output shipped by agents and served by the
// coordinator), and the owner-only files and directories of the coordinator's state.
#ifndef BRAINTUNE_COMMON_FILES_H_
#define BRAINTUNE_COMMON_FILES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace braintune {

// The most ReadWholeFile reads unless told otherwise: specs, configs, keys, policies,
// certificates and records are far smaller, and a hostile path (a huge file, /dev/zero) must not
// exhaust memory.
inline constexpr int64_t kMaxWholeFileBytes = int64_t{64} << 20;

// The whole file; NotFound "<path>: cannot open <what>" when it cannot be read,
// InvalidArgument "<path>: <what> is larger than <max_bytes> bytes" when it holds more.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path, const std::string& what,
                                          int64_t max_bytes = kMaxWholeFileBytes);

// Up to `max` bytes of the file from byte `from`, and the file's size ("" and 0 when missing).
struct FileRange {
  std::string data;
  int64_t size = 0;
};
FileRange ReadFileRange(const std::string& path, int64_t from, int64_t max);

// Creates the directory `dir` and its missing parents with mode 0700 (a umask only removes
// bits, so never more). A directory that already exists is the operator's and keeps its mode,
// but when group or others may access it a warning naming it goes to stderr: the 0600 files in
// it stay unreadable, yet their names (job ids) show and, if it is writable, can be replaced.
// InvalidArgument "<dir>: cannot create the <what>: <reason>" when it cannot be made.
absl::Status CreatePrivateDirectory(const std::string& dir, const std::string& what);

// The warning of CreatePrivateDirectory alone, for a directory braintune does not create (the
// job database's): nothing when `dir` is missing or private.
void WarnIfOpenToOthers(const std::string& dir, const std::string& what);

// Takes the group's and others' permissions off the existing file `path` (0644 becomes 0600),
// so that a file made by an older braintune or under a loose umask is no longer readable by
// other users. A missing file is OK; otherwise errors name the file. Safe on a file this process
// has open and locked (a SQLite database): it keeps the process's POSIX locks on it.
absl::Status RestrictToOwner(const std::string& path);

}  // namespace braintune

#endif  // BRAINTUNE_COMMON_FILES_H_

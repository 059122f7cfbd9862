// Reading files whole or in pieces: the one place for it (job specs, policy files, PEM
// certificates, resumable checkpoints' specs, job output shipped by agents and served by the
// coordinator).
#ifndef BRAINTUNE_COMMON_FILES_H_
#define BRAINTUNE_COMMON_FILES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace braintune {

// The whole file; NotFound "<path>: cannot open <what>" when it cannot be read.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path, const std::string& what);

// Up to `max` bytes of the file from byte `from`, and the file's size ("" and 0 when missing).
struct FileRange {
  std::string data;
  int64_t size = 0;
};
FileRange ReadFileRange(const std::string& path, int64_t from, int64_t max);

}  // namespace braintune

#endif  // BRAINTUNE_COMMON_FILES_H_

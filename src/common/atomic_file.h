// Files that readers see whole or not at all: written to a temporary file beside the target,
// fsynced, then renamed over it, and the directory fsynced.
#ifndef BRAINTUNE_COMMON_ATOMIC_FILE_H_
#define BRAINTUNE_COMMON_ATOMIC_FILE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"

namespace braintune {

// Calls `write(tmp)`, which creates the file `tmp` (and throws std::exception on failure), then
// fsyncs and renames it onto `path`. On failure `path` is untouched and the error names it.
absl::Status WriteAtomically(const std::string& path, const std::function<void(const std::string& tmp)>& write);

// The same for a string.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace braintune

#endif  // BRAINTUNE_COMMON_ATOMIC_FILE_H_

// Files that readers see whole or not at all, and that nobody else can redirect: written to a
// new temporary file with an unpredictable name beside the target (created O_EXCL|O_NOFOLLOW,
// mode 0600, like mkstemp), fsynced, given its final mode, renamed over the target, and the
// directory fsynced. A symlink planted in the directory (under any name) is never written
// through: the temporary name cannot be guessed and creating it refuses any existing entry.
#ifndef BRAINTUNE_COMMON_ATOMIC_FILE_H_
#define BRAINTUNE_COMMON_ATOMIC_FILE_H_

#include <sys/types.h>

#include <functional>
#include <string>

#include "absl/status/status.h"

namespace braintune {

// Creates the temporary file `tmp` (empty, 0600) and calls `write(tmp)`, which writes it by
// name, truncating it (std::ofstream, torch's save_to, H5Fcreate with H5F_ACC_TRUNC) and throws
// std::exception on failure; then checks that `tmp` is still the file created for it (not
// replaced, e.g. by a symlink), sets `mode` (exactly: the umask does not apply), fsyncs and
// renames it onto `path`. On failure `path` is untouched, `tmp` is removed and the error names
// `path`. Thread model: any thread; concurrent writers of one path each get their own `tmp`
// and the last rename wins.
absl::Status WriteAtomically(const std::string& path, const std::function<void(const std::string& tmp)>& write,
                             mode_t mode = 0600);

// The same for a string, written through the descriptor (never reopened by name).
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents, mode_t mode = 0600);

}  // namespace braintune

#endif  // BRAINTUNE_COMMON_ATOMIC_FILE_H_

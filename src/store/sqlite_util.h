// Opening the coordinator's SQLite database (shared by the job and token stores).
#ifndef BRAINTUNE_STORE_SQLITE_UTIL_H_
#define BRAINTUNE_STORE_SQLITE_UTIL_H_

#include <sqlite3.h>

#include <string>

#include "absl/status/statusor.h"

namespace braintune::store::internal {

// The database file's schema version (PRAGMA user_version). Bump it, with a migration, when a
// table changes; job records themselves are protobuf messages, which read old and new alike.
constexpr int kSchemaVersion = 1;

// Opens (creating if needed) the database at `path` in WAL mode with full sync and runs
// `schema` (CREATE TABLE IF NOT EXISTS ...), then checks the schema version: a file of a newer
// one is a FailedPrecondition naming both versions; an older (or new) file is stamped. `what` names the database in errors. The database
// and its -wal and -shm files are private to their owner (0600) whatever the umask; an older,
// looser one is tightened. Its directory must exist (a warning when others may enter it).
absl::StatusOr<sqlite3*> OpenDatabase(const std::string& path, const std::string& schema, const std::string& what);

}  // namespace braintune::store::internal

#endif  // BRAINTUNE_STORE_SQLITE_UTIL_H_

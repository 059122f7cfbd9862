#include "store/sqlite_util.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace braintune::store::internal {
namespace {

// Job specs, results and token hashes are for the coordinator only, whatever the umask: a new
// database file is created 0600 before SQLite opens it, and SQLite gives its -wal, -shm and
// -journal files the database file's mode; an existing one (made by an older braintune) is
// tightened, with those files.
absl::Status MakePrivate(const std::string& path, const std::string& what) {
  const size_t slash = path.rfind('/');
  WarnIfOpenToOthers(slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash),
                     "directory of the " + what);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
    return absl::OkStatus();
  }
  // Anything else (a missing directory) is SQLite's to report, as it always was.
  if (errno != EEXIST) return absl::OkStatus();
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    if (absl::Status s = RestrictToOwner(path + suffix); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("cannot open ", what, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<sqlite3*> OpenDatabase(const std::string& path, const std::string& schema, const std::string& what) {
  if (absl::Status s = MakePrivate(path, what); !s.ok()) return s;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat(path, ": cannot open ", what, ": ", msg));
  }
  sqlite3_busy_timeout(db, 5000);
  // The file's schema version (docs/deploy.md, "Upgrading"), read before anything is written:
  // a newer file is refused untouched, never rewritten by an older coordinator.
  sqlite3_stmt* stmt = nullptr;
  int version = -1;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    version = sqlite3_column_int(stmt, 0);
  }
  sqlite3_finalize(stmt);
  if (version < 0) {
    std::string msg = sqlite3_errmsg(db);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat(path, ": cannot read the ", what, "'s schema version: ", msg));
  }
  if (version > kSchemaVersion) {
    sqlite3_close(db);
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": the ", what, " has schema version ", version, ", written by a newer braintune (this one reads up to ",
        kSchemaVersion, "): run that version, or restore the backup taken before the upgrade"));
  }
  const std::string sql = absl::StrCat("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; ", schema,
                                       "; PRAGMA user_version = ", kSchemaVersion, ";");
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat(path, ": cannot initialise ", what, ": ", msg));
  }
  return db;
}

}  // namespace braintune::store::internal

#include "store/sqlite_util.h"

#include "absl/strings/str_cat.h"

namespace braintune::store::internal {

absl::StatusOr<sqlite3*> OpenDatabase(const std::string& path, const std::string& schema, const std::string& what) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat(path, ": cannot open ", what, ": ", msg));
  }
  sqlite3_busy_timeout(db, 5000);
  const std::string sql = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; " + schema;
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

#include "store/token_store.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <chrono>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "store/sqlite_util.h"

namespace braintune::store {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Hex(const unsigned char* data, size_t n) {
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(data), n));
}

// A prepared statement finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { ok_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) == SQLITE_OK; }
  ~Statement() { sqlite3_finalize(stmt_); }
  bool ok() const { return ok_; }
  sqlite3_stmt* get() { return stmt_; }
  void Bind(int i, const std::string& s) { sqlite3_bind_text(stmt_, i, s.c_str(), -1, SQLITE_TRANSIENT); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  bool ok_ = false;
};

// Thread model: every method is safe to call concurrently; mu_ guards the connection.
class SqliteTokenStore : public TokenStore {
 public:
  SqliteTokenStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteTokenStore() override { sqlite3_close(db_); }

  absl::StatusOr<std::string> Issue(const std::string& user, const std::string& role) override {
    if (role != "user" && role != "admin" && role != "agent" && role != "metrics") {
      return absl::InvalidArgumentError(absl::StrCat("role '", role, "' is not user, admin, agent or metrics"));
    }
    if (user.empty() || user.size() > 64) return absl::InvalidArgumentError("the user must be 1-64 characters");
    unsigned char random[32];
    if (RAND_bytes(random, sizeof(random)) != 1) return absl::InternalError("no random bytes from OpenSSL");
    const std::string token = "bt_" + Hex(random, sizeof(random));
    const std::string hash = Sha256Hex(token);
    absl::MutexLock lock(&mu_);
    Statement st(db_, "INSERT INTO tokens(hash, id, user, role, created_ms) VALUES(?1, ?2, ?3, ?4, ?5)");
    if (!st.ok()) return Error("prepare issue");
    st.Bind(1, hash);
    st.Bind(2, hash.substr(0, 12));
    st.Bind(3, user);
    st.Bind(4, role);
    sqlite3_bind_int64(st.get(), 5, NowMs());
    if (sqlite3_step(st.get()) != SQLITE_DONE) return Error("issue token");
    return token;
  }

  absl::StatusOr<TokenInfo> Lookup(const std::string& token) override {
    absl::MutexLock lock(&mu_);
    Statement st(db_, "SELECT id, user, role, created_ms FROM tokens WHERE hash = ?1");
    if (!st.ok()) return Error("prepare lookup");
    st.Bind(1, Sha256Hex(token));
    const int rc = sqlite3_step(st.get());
    if (rc == SQLITE_DONE) return absl::UnauthenticatedError("unknown or revoked token");
    if (rc != SQLITE_ROW) return Error("look up token");
    return Row(st.get());
  }

  absl::StatusOr<std::vector<TokenInfo>> List() override {
    absl::MutexLock lock(&mu_);
    Statement st(db_, "SELECT id, user, role, created_ms FROM tokens ORDER BY created_ms");
    if (!st.ok()) return Error("prepare list");
    std::vector<TokenInfo> out;
    int rc;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) out.push_back(Row(st.get()));
    if (rc != SQLITE_DONE) return Error("list tokens");
    return out;
  }

  absl::Status Revoke(const std::string& id) override {
    absl::MutexLock lock(&mu_);
    Statement st(db_, "DELETE FROM tokens WHERE id = ?1");
    if (!st.ok()) return Error("prepare revoke");
    st.Bind(1, id);
    if (sqlite3_step(st.get()) != SQLITE_DONE) return Error("revoke token");
    if (sqlite3_changes(db_) == 0) return absl::NotFoundError(absl::StrCat("no token with id '", id, "'"));
    return absl::OkStatus();
  }

 private:
  static TokenInfo Row(sqlite3_stmt* stmt) {
    auto text = [&](int c) { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, c))); };
    return TokenInfo{text(0), text(1), text(2), sqlite3_column_int64(stmt, 3)};
  }
  // The connection's last error (sqlite3_errmsg), so mu_ must still be held.
  absl::Status Error(const std::string& what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return absl::InternalError(absl::StrCat(path_, ": ", what, ": ", sqlite3_errmsg(db_)));
  }

  // Constant after construction; the connection is used only with mu_ held (Error requires it).
  sqlite3* const db_;
  const std::string path_;
  absl::Mutex mu_;
};

}  // namespace

std::string Sha256Hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), digest, &n, EVP_sha256(), nullptr);
  return Hex(digest, n);
}

absl::StatusOr<std::unique_ptr<TokenStore>> OpenSqliteTokenStore(const std::string& path) {
  const char* schema =
      "CREATE TABLE IF NOT EXISTS tokens("
      "  hash TEXT PRIMARY KEY,"
      "  id TEXT NOT NULL,"
      "  user TEXT NOT NULL,"
      "  role TEXT NOT NULL,"
      "  created_ms INTEGER NOT NULL);";
  ASSIGN_OR_RETURN(sqlite3 * db, internal::OpenDatabase(path, schema, "token database"));
  return std::unique_ptr<TokenStore>(new SqliteTokenStore(db, path));
}

}  // namespace braintune::store

// Status helpers used across modules (absl::Status / absl::StatusOr at every module boundary).
#ifndef BRAINTUNE_COMMON_STATUS_MACROS_H_
#define BRAINTUNE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

#define BT_CONCAT_INNER_(a, b) a##b
#define BT_CONCAT_(a, b) BT_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status bt_status_ = (expr);        \
    if (!bt_status_.ok()) return bt_status_;   \
  } while (0)

// `lhs = value of expr` where expr is an absl::StatusOr<T>; returns its status on error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(BT_CONCAT_(bt_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

namespace braintune {

// The Status of a C library call that returned an error code: "file:line: function: message",
// with the library's own message. A code alone says neither where it came from nor what it
// means. `call` may be the whole call expression (a macro's #expr): only the function name, up
// to the first '(', is kept; `file` is cut to its base name, as absl's logging prints it.
// Each library's wrapper macro (dist/cuda_status.h: NCCL_STATUS, CUDA_STATUS) passes
// __FILE__ and __LINE__, so RETURN_IF_ERROR(NCCL_STATUS(ncclCommInitRank(...))) says where.
inline absl::Status CallError(absl::StatusCode code, absl::string_view file, int line, absl::string_view call,
                              absl::string_view message) {
  if (const size_t slash = file.rfind('/'); slash != absl::string_view::npos) file.remove_prefix(slash + 1);
  if (const size_t paren = call.find('('); paren != absl::string_view::npos) call.remove_suffix(call.size() - paren);
  while (!call.empty() && call.back() == ' ') call.remove_suffix(1);
  return absl::Status(code, absl::StrCat(file, ":", line, ": ", call, ": ", message));
}

}  // namespace braintune

#endif  // BRAINTUNE_COMMON_STATUS_MACROS_H_

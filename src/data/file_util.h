// Internal to braintune_data: whole-file reads for the small text and audio inputs of importers.
#ifndef BRAINTUNE_DATA_FILE_UTIL_H_
#define BRAINTUNE_DATA_FILE_UTIL_H_

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace braintune::data::internal {

// The bytes of `path`; NotFound when it cannot be opened, DataLoss when it cannot be read.
inline absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  const std::streamoff size = in.tellg();  // -1 for a directory
  if (size < 0) return absl::DataLossError(absl::StrCat(path, ": not a readable file"));
  std::string contents(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(contents.data(), static_cast<std::streamsize>(contents.size()))) {
    return absl::DataLossError(absl::StrCat(path, ": read error: ", std::strerror(errno)));
  }
  return contents;
}

}  // namespace braintune::data::internal

#endif  // BRAINTUNE_DATA_FILE_UTIL_H_

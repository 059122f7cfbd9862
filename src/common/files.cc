#include "common/files.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace braintune {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open ", what));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

FileRange ReadFileRange(const std::string& path, int64_t from, int64_t max) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  FileRange out;
  out.size = in.tellg();
  if (from >= out.size) return out;
  in.seekg(from);
  out.data.resize(static_cast<size_t>(std::min(max, out.size - from)));
  in.read(out.data.data(), static_cast<std::streamsize>(out.data.size()));
  out.data.resize(static_cast<size_t>(in.gcount()));
  return out;
}

}  // namespace braintune

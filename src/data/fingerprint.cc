#include "data/fingerprint.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/hdf5_util.h"

namespace braintune::data {
namespace {

using internal::Handle;
using internal::OwnAttr;
using internal::OwnFile;
using internal::OwnObject;
using internal::OwnSpace;
using internal::OwnType;

// Sampled blocks: enough to see that the numbers changed, few enough to stay a few reads.
constexpr int kSampledBlocks = 16;
constexpr int64_t kBlockBytes = 4096;
// A bound on the walk: hard links can make cycles, and a hostile file could hold millions of
// objects. Past it the rest of the file counts by its sampled blocks only.
constexpr int kMaxDepth = 16;
constexpr int kMaxObjects = 200000;

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void Add(const void* data, size_t bytes) { EVP_DigestUpdate(ctx_.get(), data, bytes); }
  void Add(int64_t value) { Add(&value, sizeof value); }
  // Length first, so that neighbouring fields cannot run together into the same bytes.
  void Add(const std::string& s) {
    Add(static_cast<int64_t>(s.size()));
    Add(s.data(), s.size());
  }
  std::string Hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &n);
    std::string hex;
    for (unsigned int i = 0; i < n; ++i) absl::StrAppendFormat(&hex, "%02x", digest[i]);
    return hex;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// The type's full description (class, size, byte order, members) in HDF5's own encoding.
void AddType(hid_t type, Sha256* h) {
  size_t n = 0;
  if (H5Tencode(type, nullptr, &n) < 0) return h->Add(std::string("unencodable type"));
  std::string buffer(n, '\0');
  H5Tencode(type, buffer.data(), &n);
  h->Add(buffer);
}

// The dataspace's shape; returns the number of elements.
int64_t AddShape(hid_t space, Sha256* h) {
  const int rank = H5Sget_simple_extent_ndims(space);
  h->Add(static_cast<int64_t>(H5Sget_simple_extent_type(space)));
  h->Add(static_cast<int64_t>(rank));
  if (rank <= 0) return H5Sget_simple_extent_type(space) == H5S_SCALAR ? 1 : 0;
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  for (hsize_t d : dims) h->Add(static_cast<int64_t>(d));
  return H5Sget_simple_extent_npoints(space);
}

// An attribute's name, type, shape and value. Values held outside the attribute (variable-length
// sequences, references) count by their type and shape alone; variable-length strings (common
// for names and units) by their text.
herr_t AddAttribute(hid_t location, const char* name, const H5A_info_t*, void* data) {
  auto* h = static_cast<Sha256*>(data);
  h->Add(std::string(name));
  Handle attr = OwnAttr(H5Aopen(location, name, H5P_DEFAULT));
  Handle type = OwnType(attr.ok() ? H5Aget_type(attr.get()) : H5I_INVALID_HID);
  Handle space = OwnSpace(attr.ok() ? H5Aget_space(attr.get()) : H5I_INVALID_HID);
  if (!type.ok() || !space.ok()) return 0;  // the name alone: the file changes all the same
  AddType(type.get(), h);
  const int64_t count = AddShape(space.get(), h);
  if (count <= 0) return 0;
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem = OwnType(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    std::vector<char*> strings(count, nullptr);
    if (H5Aread(attr.get(), mem.get(), strings.data()) >= 0) {
      for (char* s : strings) {
        h->Add(std::string(s ? s : ""));
        H5free_memory(s);
      }
    }
    return 0;
  }
  if (H5Tdetect_class(type.get(), H5T_VLEN) > 0 || H5Tdetect_class(type.get(), H5T_REFERENCE) > 0) return 0;
  std::string value(static_cast<size_t>(count) * H5Tget_size(type.get()), '\0');
  if (H5Aread(attr.get(), type.get(), value.data()) >= 0) h->Add(value);
  return 0;
}

void AddAttributes(hid_t object, Sha256* h) {
  hsize_t index = 0;
  H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, AddAttribute, h);
}

// The object at `path` (opened through a hard link) and, for a group, everything below it, in
// name order.
void AddObject(hid_t file, const std::string& path, int depth, int* objects, Sha256* h) {
  if (depth > kMaxDepth || ++*objects > kMaxObjects) return h->Add(std::string("walk bounded here"));
  Handle object = OwnObject(H5Oopen(file, path.c_str(), H5P_DEFAULT));
  if (!object.ok()) return h->Add(std::string("unopenable"));
  AddAttributes(object.get(), h);
  const H5I_type_t kind = H5Iget_type(object.get());
  if (kind == H5I_DATASET) {
    h->Add(std::string("dataset"));
    Handle type = OwnType(H5Dget_type(object.get()));
    Handle space = OwnSpace(H5Dget_space(object.get()));
    if (type.ok()) AddType(type.get(), h);
    if (space.ok()) AddShape(space.get(), h);
    // Bytes stored: with compression or chunks allocated on write, it follows the content.
    h->Add(static_cast<int64_t>(H5Dget_storage_size(object.get())));
    return;
  }
  if (kind != H5I_GROUP) return h->Add(std::string("other"));
  h->Add(std::string("group"));
  std::vector<std::string> names;
  if (!internal::ChildNames(object.get(), &names)) return h->Add(std::string("unlistable"));
  for (const std::string& name : names) {
    const std::string child = path == "/" ? "/" + name : path + "/" + name;
    h->Add(child);
    H5L_info_t link;
    if (H5Lget_info(file, child.c_str(), &link, H5P_DEFAULT) < 0) {
      h->Add(std::string("unreadable link"));
    } else if (link.type != H5L_TYPE_HARD) {
      h->Add(static_cast<int64_t>(link.type));  // never followed
    } else {
      AddObject(file, child, depth + 1, objects, h);
    }
  }
}

}  // namespace

std::string DatasetFingerprint::ToString() const {
  const time_t seconds = static_cast<time_t>(mtime_ns / 1000000000);
  struct tm utc;
  gmtime_r(&seconds, &utc);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &utc);
  return absl::StrFormat("%s (%d bytes, modified %s.%09d UTC, content sha256 %s..)", path, size_bytes, when,
                         mtime_ns % 1000000000, sha256.substr(0, 16));
}

absl::StatusOr<DatasetFingerprint> FingerprintDataset(const std::string& path) {
  DatasetFingerprint out;
  out.path = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": cannot open the dataset: ", std::strerror(errno)));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::NotFoundError(absl::StrCat(path, ": cannot stat the dataset: ", std::strerror(error)));
  }
  out.size_bytes = st.st_size;
  out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  Sha256 h;
  // Sampled blocks, evenly spread from the first byte to the last.
  std::string block(kBlockBytes, '\0');
  const int64_t last_start = std::max<int64_t>(0, out.size_bytes - kBlockBytes);
  for (int i = 0; i < kSampledBlocks; ++i) {
    const int64_t offset = last_start * i / (kSampledBlocks - 1);
    const ssize_t n = ::pread(fd, block.data(), block.size(), offset);
    h.Add(block.data(), n > 0 ? static_cast<size_t>(n) : 0);
  }
  ::close(fd);
  internal::SilenceHdf5Errors();
  Handle file = OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file.ok()) return absl::DataLossError(absl::StrCat(path, ": cannot open the dataset as an HDF5 file"));
  int objects = 0;
  AddObject(file.get(), "/", 0, &objects, &h);
  out.sha256 = h.Hex();
  return out;
}

}  // namespace braintune::data

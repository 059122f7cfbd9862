#include "data/reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/hdf5_util.h"

namespace braintune::data {

using internal::Handle;

struct DatasetReader::Impl {
  ~Impl() {
    if (fd >= 0) ::close(fd);
  }

  std::string path;
  Handle file;
  int fd = -1;                             // the same file, for direct reads
  std::map<std::string, Handle> datasets;  // by path inside the file
  std::map<std::string, int64_t> lengths;  // first dimension
  // Byte offset of datasets stored contiguously as little-endian float32, which are read with
  // pread(2) straight into the caller's buffer: HDF5's per-call selection machinery costs more
  // than the copy for the ~50 KB rows a batch is made of. Others go through H5Dread.
  std::map<std::string, haddr_t> direct;

  absl::StatusOr<hid_t> Dataset(const std::string& inner, int64_t* length) {
    auto it = datasets.find(inner);
    if (it == datasets.end()) {
      if (const std::string refusal = internal::LinkOutsideTheFile(file.get(), inner); !refusal.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", inner, ": ", refusal));
      }
      Handle ds = internal::OwnObject(H5Dopen2(file.get(), inner.c_str(), H5P_DEFAULT));
      if (!ds.ok()) return absl::NotFoundError(absl::StrCat(path, ": ", inner, ": no such dataset"));
      if (const std::string refusal = internal::StorageOutsideTheFile(ds.get()); !refusal.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", inner, ": ", refusal));
      }
      Handle space = internal::OwnSpace(H5Dget_space(ds.get()));
      hsize_t dims[2] = {0, 0};
      H5Sget_simple_extent_dims(space.get(), dims, nullptr);
      lengths[inner] = static_cast<int64_t>(dims[0]);
      Handle type = internal::OwnType(H5Dget_type(ds.get()));
      const haddr_t offset = H5Dget_offset(ds.get());
      if (fd >= 0 && offset != HADDR_UNDEF && H5Tequal(type.get(), H5T_IEEE_F32LE) > 0 &&
          H5Tequal(H5T_NATIVE_FLOAT, H5T_IEEE_F32LE) > 0) {
        direct[inner] = offset;
      }
      it = datasets.emplace(inner, std::move(ds)).first;
    }
    *length = lengths[inner];
    return it->second.get();
  }

  // Reads rows [begin, begin+rows) of a 1-D or 2-D float dataset with `width` columns.
  absl::Status ReadRows(hid_t ds, const std::string& inner, int64_t begin, int64_t rows, int64_t width,
                        float* out) {
    if (auto d = direct.find(inner); d != direct.end()) {
      const size_t bytes = static_cast<size_t>(rows * width) * sizeof(float);
      const off_t at = static_cast<off_t>(d->second + static_cast<haddr_t>(begin * width) * sizeof(float));
      size_t done = 0;
      while (done < bytes) {
        ssize_t n = ::pread(fd, reinterpret_cast<char*>(out) + done, bytes - done, at + static_cast<off_t>(done));
        if (n <= 0) {
          return absl::DataLossError(absl::StrCat(path, ": ", inner, ": cannot read rows ", begin, "..",
                                                  begin + rows, " (file truncated?)"));
        }
        done += static_cast<size_t>(n);
      }
      return absl::OkStatus();
    }
    Handle file_space = internal::OwnSpace(H5Dget_space(ds));
    const int rank = H5Sget_simple_extent_ndims(file_space.get());
    hsize_t start[2] = {static_cast<hsize_t>(begin), 0};
    hsize_t count[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(width)};
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    Handle mem_space = internal::OwnSpace(H5Screate_simple(rank, count, nullptr));
    if (H5Dread(ds, H5T_NATIVE_FLOAT, mem_space.get(), file_space.get(), H5P_DEFAULT, out) < 0) {
      return absl::DataLossError(absl::StrCat(path, ": ", inner, ": cannot read rows ", begin, "..",
                                              begin + rows, " (file damaged?)"));
    }
    return absl::OkStatus();
  }
};

DatasetReader::DatasetReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DatasetReader::~DatasetReader() = default;

absl::StatusOr<std::unique_ptr<DatasetReader>> DatasetReader::Open(const std::string& path) {
  internal::SilenceHdf5Errors();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file = internal::OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!impl->file.ok()) return absl::NotFoundError(absl::StrCat(path, ": cannot open as HDF5"));
  impl->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  return std::unique_ptr<DatasetReader>(new DatasetReader(std::move(impl)));
}

absl::Status DatasetReader::ReadResponseRows(const std::string& pid, const std::string& story, int64_t row_begin,
                                             int64_t rows, float* out) {
  const std::string inner = absl::StrCat("/participants/", pid, "/runs/", story, "/responses");
  int64_t length = 0;
  absl::StatusOr<hid_t> ds = impl_->Dataset(inner, &length);
  if (!ds.ok()) return ds.status();
  if (row_begin < 0 || row_begin + rows > length) {
    return absl::OutOfRangeError(absl::StrCat(impl_->path, ": ", inner, ": rows ", row_begin, "..",
                                              row_begin + rows, " outside [0, ", length, ")"));
  }
  Handle space = internal::OwnSpace(H5Dget_space(*ds));
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  absl::Status s = impl_->ReadRows(*ds, inner, row_begin, rows, static_cast<int64_t>(dims[1]), out);
  if (s.ok()) bytes_read_ += rows * static_cast<int64_t>(dims[1]) * 4;
  return s;
}

absl::Status DatasetReader::ReadAudio(const std::string& story, int64_t begin, int64_t count, float* out) {
  const std::string inner = absl::StrCat("/stimuli/", story, "/audio");
  int64_t length = 0;
  absl::StatusOr<hid_t> ds = impl_->Dataset(inner, &length);
  if (!ds.ok()) return ds.status();
  const int64_t first = std::max<int64_t>(begin, 0), last = std::min(begin + count, length);
  std::fill(out, out + count, 0.0f);
  if (last <= first) return absl::OkStatus();
  absl::Status s = impl_->ReadRows(*ds, inner, first, last - first, 1, out + (first - begin));
  if (s.ok()) bytes_read_ += (last - first) * 4;
  return s;
}

}  // namespace braintune::data

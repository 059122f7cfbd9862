// Internal to braintune_data: writes a dataset file object by object, by absolute path. Shared
// by the synthetic brain, the importers and the evaluation's outputs; every failure names the
// output file and the object. Its objects carry no times (HDF5 stamps every group and dataset
// with the second it was written, by default), so the same data written twice is the same
// bytes: a regenerated dataset has the same content hash (data/fingerprint.h).
#ifndef BRAINTUNE_DATA_HDF5_WRITER_H_
#define BRAINTUNE_DATA_HDF5_WRITER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "data/hdf5_util.h"

namespace braintune::data::internal {

// A creation property list (H5P_FILE_CREATE, H5P_GROUP_CREATE, H5P_DATASET_CREATE) whose
// objects record no times; not ok() if HDF5 refuses.
inline Handle UntimedPlist(hid_t plist_class) {
  Handle plist = OwnPlist(H5Pcreate(plist_class));
  if (plist.ok() && H5Pset_obj_track_times(plist.get(), 0) < 0) return Handle();
  return plist;
}

// Creates (truncates) the HDF5 file `path`, its root group without times; not ok() on failure.
inline Handle CreateUntimedFile(const std::string& path) {
  Handle fcpl = UntimedPlist(H5P_FILE_CREATE);
  if (!fcpl.ok()) return Handle();
  return OwnFile(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT));
}

// Thread model: one thread per file (serial HDF5). Does not own `fid`.
class Writer {
 public:
  Writer(std::string file, hid_t fid) : file_(std::move(file)), fid_(fid) {}

  absl::Status Group(const std::string& path) {
    Handle gcpl = UntimedPlist(H5P_GROUP_CREATE);
    Handle g = gcpl.ok() ? OwnObject(H5Gcreate2(fid_, path.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT)) : Handle();
    return g.ok() ? absl::OkStatus() : Fail(path, "cannot create group");
  }

  // Creates the dataset `path`, and the groups on the way to it that do not exist yet.
  absl::Status Array(const std::string& path, hid_t mem_type, hid_t file_type, const std::vector<hsize_t>& dims,
                     const void* data) {
    // The groups on the way ourselves: HDF5's intermediate groups would carry times.
    for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      const std::string parent = path.substr(0, slash);
      const htri_t exists = H5Lexists(fid_, parent.c_str(), H5P_DEFAULT);
      if (exists < 0) return Fail(parent, "cannot create group");
      if (exists == 0) {
        if (absl::Status s = Group(parent); !s.ok()) return s;
      }
    }
    Handle space = OwnSpace(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    Handle dcpl = UntimedPlist(H5P_DATASET_CREATE);
    if (!dcpl.ok()) return Fail(path, "cannot create dataset");
    Handle ds =
        OwnObject(H5Dcreate2(fid_, path.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
    if (!ds.ok()) return Fail(path, "cannot create dataset");
    if (H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
      return Fail(path, "cannot write dataset (disk full?)");
    }
    return absl::OkStatus();
  }

  absl::Status Floats(const std::string& path, const std::vector<hsize_t>& dims, const std::vector<float>& values) {
    return Array(path, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, dims, values.data());
  }

  absl::Status Doubles(const std::string& path, const std::vector<double>& values) {
    return Array(path, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, {values.size()}, values.data());
  }

  // Variable-length UTF-8 strings, [values.size()].
  absl::Status Strings(const std::string& path, const std::vector<std::string>& values) {
    std::vector<const char*> pointers;
    for (const std::string& v : values) pointers.push_back(v.c_str());
    Handle type = Utf8Type();
    return Array(path, type.get(), type.get(), {values.size()}, pointers.data());
  }

  // An interval tier (words, phonemes): group `path` with onset, offset and text columns.
  absl::Status Intervals(const std::string& path, const std::vector<Interval>& rows) {
    std::vector<double> onsets, offsets;
    std::vector<std::string> texts;
    for (const Interval& row : rows) {
      onsets.push_back(row.onset);
      offsets.push_back(row.offset);
      texts.push_back(row.text);
    }
    if (absl::Status s = Group(path); !s.ok()) return s;
    if (absl::Status s = Doubles(path + "/onset", onsets); !s.ok()) return s;
    if (absl::Status s = Doubles(path + "/offset", offsets); !s.ok()) return s;
    return Strings(path + "/text", texts);
  }

  absl::Status Attr(const std::string& path, const char* name, hid_t mem_type, hid_t file_type, const void* value) {
    Handle space = OwnSpace(H5Screate(H5S_SCALAR));
    Handle attr = OwnAttr(
        H5Acreate_by_name(fid_, path.c_str(), name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!attr.ok() || H5Awrite(attr.get(), mem_type, value) < 0) {
      return Fail(path, absl::StrCat("cannot write attribute '", name, "'"));
    }
    return absl::OkStatus();
  }
  absl::Status Attr(const std::string& path, const char* name, const std::string& value) {
    Handle type = Utf8Type();
    const char* pointer = value.c_str();
    return Attr(path, name, type.get(), type.get(), &pointer);
  }
  absl::Status Attr(const std::string& path, const char* name, double value) {
    return Attr(path, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &value);
  }
  absl::Status Attr(const std::string& path, const char* name, int64_t value) {
    return Attr(path, name, H5T_NATIVE_INT64, H5T_STD_I64LE, &value);
  }

 private:
  static Handle Utf8Type() {
    Handle type = OwnType(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    return type;
  }
  absl::Status Fail(const std::string& path, const std::string& what) const {
    return absl::InternalError(absl::StrCat(file_, ": ", path, ": ", what));
  }

  const std::string file_;
  const hid_t fid_;
};

}  // namespace braintune::data::internal

#endif  // BRAINTUNE_DATA_HDF5_WRITER_H_

// Internal to braintune_data: RAII ownership of HDF5 ids and a few helpers the reader, the
// synthetic writer and the tests share. Only the HDF5 C API, so it works with any HDF5 build.
#ifndef BRAINTUNE_DATA_HDF5_UTIL_H_
#define BRAINTUNE_DATA_HDF5_UTIL_H_

#include <hdf5.h>

#include <string>
#include <utility>
#include <vector>

namespace braintune::data::internal {

// Owns one HDF5 id and closes it with the matching H5?close, so that every early return closes
// what was opened (an open object keeps its file open). Move-only. Not thread-safe: Debian's
// serial HDF5 serialises calls itself only when built thread-safe, so callers keep one thread
// per file.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);

  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), closer_(other.closer_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      Reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      closer_ = other.closer_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { Reset(); }

  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  void Reset() { Close(); }
  // Closes now, for callers that must see the result (closing a file flushes it).
  herr_t Close() {
    const herr_t result = id_ >= 0 && closer_ != nullptr ? closer_(id_) : 0;
    id_ = H5I_INVALID_HID;
    return result;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

inline Handle OwnFile(hid_t id) { return Handle(id, H5Fclose); }
inline Handle OwnObject(hid_t id) { return Handle(id, H5Oclose); }  // group or dataset
inline Handle OwnAttr(hid_t id) { return Handle(id, H5Aclose); }
inline Handle OwnType(hid_t id) { return Handle(id, H5Tclose); }
inline Handle OwnSpace(hid_t id) { return Handle(id, H5Sclose); }
inline Handle OwnPlist(hid_t id) { return Handle(id, H5Pclose); }

// Library-wide: our callers turn failures into Status messages, so HDF5's own stack dumps to
// stderr would only be noise.
inline void SilenceHdf5Errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// A dataset file comes from users, and HDF5 follows external links, virtual datasets and
// External File List storage to any file the reading process may open (one user's job could
// read another's files, or /proc/self/environ): braintune reads none of them. These two say why
// an object is refused, or "" when it is an object of this file.
//
// The link at `path` in `file`, checked before it is followed.
inline std::string LinkOutsideTheFile(hid_t file, const std::string& path) {
  H5L_info_t link;  // HDF5 1.10's API (Debian 12); 1.12 keeps it under the same name
  if (path == "/" || H5Lget_info(file, path.c_str(), &link, H5P_DEFAULT) < 0) return "";  // the caller's open fails
  // Soft links too: one may name a path that goes through an external link.
  if (link.type == H5L_TYPE_SOFT) return "is a soft link: refused (only objects stored in the file are read)";
  if (link.type != H5L_TYPE_HARD) return "is an external link (to an object in another file): refused";
  return "";
}
// The storage of an open dataset, checked before it is read.
inline std::string StorageOutsideTheFile(hid_t dataset) {
  Handle dcpl(H5Dget_create_plist(dataset), H5Pclose);
  if (!dcpl.ok()) return "cannot read its storage properties: refused";
  if (H5Pget_layout(dcpl.get()) == H5D_VIRTUAL) return "is a virtual dataset (its data lives in other files): refused";
  if (H5Pget_external_count(dcpl.get()) != 0) {
    return "is stored in external files (HDF5 external storage), not in this file: refused";
  }
  return "";
}

// numpy-like name of an HDF5 type, for "expected float32, got int64" messages.
inline std::string TypeName(hid_t type) {
  const std::string bits = std::to_string(8 * H5Tget_size(type));
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + bits;
    case H5T_FLOAT:
      return "float" + bits;
    case H5T_STRING:
      return H5Tis_variable_str(type) > 0 ? "variable-length string" : "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "variable-length sequence";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_REFERENCE:
      return "reference";
    case H5T_BITFIELD:
      return "bitfield";
    default:
      return "unknown type";
  }
}

// Names of the links in a group, in name order; false on failure. H5Lget_name_by_idx rather
// than H5Literate because the latter's callback signature changed between HDF5 1.10 and 1.12.
inline bool ChildNames(hid_t group, std::vector<std::string>* names) {
  H5G_info_t info;
  if (H5Gget_info(group, &info) < 0) return false;
  names->clear();
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n =
        H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) return false;
    std::string name(static_cast<size_t>(n), '\0');
    if (H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1,
                           H5P_DEFAULT) < 0) {
      return false;
    }
    names->push_back(std::move(name));
  }
  return true;
}

}  // namespace braintune::data::internal

#endif  // BRAINTUNE_DATA_HDF5_UTIL_H_

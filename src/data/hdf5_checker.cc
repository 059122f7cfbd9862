#include "data/hdf5_checker.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace braintune::data::internal {
namespace {

// "[i]", "[i, j]", ... for element `flat` of an array of shape `dims`.
std::string IndexOf(size_t flat, const std::vector<hsize_t>& dims) {
  std::vector<size_t> index(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    index[d] = flat % dims[d];
    flat /= dims[d];
  }
  return absl::StrCat("[", absl::StrJoin(index, ", "), "]");
}

}  // namespace

std::string Hdf5Reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* error, void* data) -> herr_t {
        if (n == 0 && error->desc != nullptr) *static_cast<std::string*>(data) = error->desc;
        return 0;
      },
      &reason);
  return reason.empty() ? "" : " (HDF5: " + reason + ")";
}

absl::StatusOr<Handle> OpenHdf5File(const std::string& path) {
  SilenceHdf5Errors();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return absl::NotFoundError("no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) return absl::NotFoundError("not an HDF5 file");
  Handle file = OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file.ok()) {
    return absl::DataLossError("cannot open the HDF5 file, truncated or corrupt?" + Hdf5Reason());
  }
  return file;
}

void Checker::Report(const std::string& path, std::string message) {
  if (!stopped()) problems_.push_back({path, std::move(message)});
}

bool Checker::Expect(bool ok, const std::string& path, const std::string& message) {
  if (!ok) Report(path, message);
  return ok;
}

bool Checker::Exists(const std::string& path) const {
  return !stopped() && H5Lexists(fid_, path.c_str(), H5P_DEFAULT) > 0;
}

std::optional<Handle> Checker::OpenGroup(const std::string& path) {
  return Open(path, H5I_GROUP, "group");
}

std::optional<Array> Checker::OpenArray(const std::string& path, Element element, int rank) {
  std::optional<Handle> ds = Open(path, H5I_DATASET, "dataset");
  if (!ds) return std::nullopt;
  Handle type = OwnType(H5Dget_type(ds->get()));
  if (!type.ok()) return Fail(path, "cannot read the datatype" + Hdf5Reason());
  const H5T_class_t type_class = H5Tget_class(type.get());
  const std::string got = TypeName(type.get());
  switch (element) {
    case Element::kFloat32:
      if (type_class != H5T_FLOAT || H5Tget_size(type.get()) != 4) {
        return Fail(path, "expected float32, got " + got);
      }
      break;
    case Element::kFloat:
      if (type_class != H5T_FLOAT) return Fail(path, "expected float64 (or float32), got " + got);
      break;
    case Element::kInteger:
      if (type_class != H5T_INTEGER) {
        return Fail(path, "expected int32 (or another integer type), got " + got);
      }
      break;
    case Element::kString:
      if (type_class != H5T_STRING) return Fail(path, "expected strings, got " + got);
      break;
  }
  Handle space = OwnSpace(H5Dget_space(ds->get()));
  const int actual_rank = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (actual_rank < 0) return Fail(path, "cannot read the dataspace" + Hdf5Reason());
  if (actual_rank != rank) {
    return Fail(path, absl::StrCat("expected ", rank, " dimension(s), got ", actual_rank));
  }
  Array array{std::move(*ds), std::vector<hsize_t>(rank, 0)};
  H5Sget_simple_extent_dims(space.get(), array.dims.data(), nullptr);
  return array;
}

template <typename T>
bool Checker::Read(const Array& a, const std::string& path, hid_t mem_type, std::vector<T>* out) {
  if (stopped()) return false;
  out->resize(a.size());
  if (!out->empty() &&
      H5Dread(a.ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data()) < 0) {
    out->clear();
    return Expect(false, path, "cannot read the data" + Hdf5Reason());
  }
  return true;
}

template <typename T>
bool Checker::ReadFinite(const Array& a, const std::string& path, std::vector<T>* out) {
  static_assert(std::is_floating_point_v<T>);
  if (!Read(a, path, std::is_same_v<T, float> ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE, out)) {
    return false;
  }
  const auto bad = std::find_if(out->begin(), out->end(), [](T v) { return !std::isfinite(v); });
  if (bad == out->end()) return true;
  Report(path, absl::StrCat("non-finite value (", std::isnan(*bad) ? "NaN" : "Inf", ") at ",
                            IndexOf(bad - out->begin(), a.dims)));
  out->clear();
  return false;
}

// The two element types HDF5 reads floats into natively.
template bool Checker::ReadFinite<float>(const Array&, const std::string&, std::vector<float>*);
template bool Checker::ReadFinite<double>(const Array&, const std::string&,
                                          std::vector<double>*);

bool Checker::ReadIntegers(const Array& a, const std::string& path, std::vector<int64_t>* out) {
  return Read(a, path, H5T_NATIVE_INT64, out);
}

bool Checker::ReadStrings(const Array& a, const std::string& path,
                          std::vector<std::string>* out) {
  if (stopped()) return false;
  out->clear();
  const size_t n = a.size();
  if (n == 0) return true;
  Handle type = OwnType(H5Dget_type(a.ds.get()));
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem = OwnType(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    std::vector<char*> pointers(n, nullptr);
    if (H5Dread(a.ds.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) < 0) {
      return Expect(false, path, "cannot read the data" + Hdf5Reason());
    }
    for (char* p : pointers) {
      out->push_back(p != nullptr ? p : "");
      H5free_memory(p);
    }
    return true;
  }
  // Reading null-padded also turns space padding into nulls; then cut at the first null.
  const size_t size = H5Tget_size(type.get());
  Handle mem = OwnType(H5Tcopy(type.get()));
  H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
  std::string buffer(n * size, '\0');
  if (H5Dread(a.ds.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0) {
    return Expect(false, path, "cannot read the data" + Hdf5Reason());
  }
  for (size_t i = 0; i < n; ++i) {
    const std::string one = buffer.substr(i * size, size);
    out->push_back(one.substr(0, one.find('\0')));
  }
  return true;
}

std::optional<std::string> Checker::StringAttr(hid_t obj, const std::string& path,
                                               const std::string& name) {
  std::optional<Handle> attr = OpenAttr(obj, path, name);
  if (!attr) return std::nullopt;
  Handle type = OwnType(H5Aget_type(attr->get()));
  if (H5Tget_class(type.get()) != H5T_STRING) {
    return AttrFail(path, name, "expected a string, got " + TypeName(type.get()));
  }
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem = OwnType(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    char* value = nullptr;
    if (H5Aread(attr->get(), mem.get(), &value) < 0) return AttrFail(path, name, "cannot read");
    std::string result = value != nullptr ? value : "";
    H5free_memory(value);
    return result;
  }
  const size_t size = H5Tget_size(type.get());
  Handle mem = OwnType(H5Tcopy(type.get()));
  H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
  std::string buffer(size, '\0');
  if (H5Aread(attr->get(), mem.get(), buffer.data()) < 0) {
    return AttrFail(path, name, "cannot read");
  }
  return buffer.substr(0, buffer.find('\0'));
}

std::optional<int64_t> Checker::IntAttr(hid_t obj, const std::string& path,
                                        const std::string& name) {
  std::optional<Handle> attr = OpenAttr(obj, path, name);
  if (!attr) return std::nullopt;
  Handle type = OwnType(H5Aget_type(attr->get()));
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class == H5T_INTEGER) {
    int64_t value = 0;
    if (H5Aread(attr->get(), H5T_NATIVE_INT64, &value) < 0) {
      return AttrFail(path, name, "cannot read");
    }
    return value;
  }
  if (type_class == H5T_FLOAT) {
    double value = 0;
    if (H5Aread(attr->get(), H5T_NATIVE_DOUBLE, &value) < 0) {
      return AttrFail(path, name, "cannot read");
    }
    if (std::isfinite(value) && value == std::round(value) && std::abs(value) < 1e15) {
      return static_cast<int64_t>(value);
    }
    return AttrFail(path, name, absl::StrCat("expected an integer, got ", value));
  }
  return AttrFail(path, name, "expected an integer, got " + TypeName(type.get()));
}

std::optional<double> Checker::NumberAttr(hid_t obj, const std::string& path,
                                          const std::string& name, bool positive) {
  std::optional<Handle> attr = OpenAttr(obj, path, name);
  if (!attr) return std::nullopt;
  Handle type = OwnType(H5Aget_type(attr->get()));
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class != H5T_INTEGER && type_class != H5T_FLOAT) {
    return AttrFail(path, name, "expected a number, got " + TypeName(type.get()));
  }
  double value = 0;
  if (H5Aread(attr->get(), H5T_NATIVE_DOUBLE, &value) < 0) {
    return AttrFail(path, name, "cannot read");
  }
  if (!std::isfinite(value)) return AttrFail(path, name, absl::StrCat("not finite: ", value));
  if (positive && value <= 0) {
    return AttrFail(path, name, absl::StrCat("expected > 0, got ", value));
  }
  return value;
}

bool Checker::HasAttr(hid_t obj, const std::string& name) {
  return H5Aexists(obj, name.c_str()) > 0;
}

std::optional<std::vector<std::string>> Checker::Children(hid_t group, const std::string& path) {
  if (stopped()) return std::nullopt;
  std::vector<std::string> names;
  if (!ChildNames(group, &names)) {
    return Fail(path, "cannot list the group" + Hdf5Reason());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::nullopt_t Checker::Fail(const std::string& path, std::string message) {
  Report(path, std::move(message));
  return std::nullopt;
}

std::nullopt_t Checker::AttrFail(const std::string& path, const std::string& name,
                                 const std::string& what) {
  return Fail(path, absl::StrCat("attribute '", name, "': ", what));
}

std::optional<Handle> Checker::Open(const std::string& path, H5I_type_t want,
                                    const char* want_name) {
  if (stopped()) return std::nullopt;
  // Callers open parents first, so H5Lexists cannot fail on a missing intermediate group.
  if (H5Lexists(fid_, path.c_str(), H5P_DEFAULT) <= 0) {
    return Fail(path, absl::StrCat("missing ", want_name));
  }
  if (const std::string refusal = LinkOutsideTheFile(fid_, path); !refusal.empty()) return Fail(path, refusal);
  Handle obj = OwnObject(H5Oopen(fid_, path.c_str(), H5P_DEFAULT));
  if (!obj.ok()) return Fail(path, absl::StrCat("cannot open ", want_name, Hdf5Reason()));
  const H5I_type_t got = H5Iget_type(obj.get());
  if (got == H5I_DATASET) {
    if (const std::string refusal = StorageOutsideTheFile(obj.get()); !refusal.empty()) return Fail(path, refusal);
  }
  if (got != want) {
    const char* got_name = got == H5I_GROUP     ? "group"
                           : got == H5I_DATASET ? "dataset"
                                                : "named datatype";
    return Fail(path, absl::StrCat("expected a ", want_name, ", got a ", got_name));
  }
  return obj;
}

std::optional<Handle> Checker::OpenAttr(hid_t obj, const std::string& path,
                                        const std::string& name) {
  if (stopped()) return std::nullopt;
  if (!HasAttr(obj, name)) return Fail(path, absl::StrCat("missing attribute '", name, "'"));
  Handle attr = OwnAttr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  if (!attr.ok()) return AttrFail(path, name, "cannot open");
  // h5py writes scalars, MATLAB 1-element arrays: both are one value.
  Handle space = OwnSpace(H5Aget_space(attr.get()));
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n != 1) return AttrFail(path, name, absl::StrCat("expected one value, got ", n));
  return attr;
}

}  // namespace braintune::data::internal

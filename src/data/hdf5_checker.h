// Internal to braintune_data: checks on the objects of any HDF5 file (kinds, element types,
// ranks, attributes, values) that report what is wrong with the path inside the file, instead of
// failing inside HDF5. The dataset format's walk (dataset.cc) is built on them; they know
// nothing of that format.
#ifndef BRAINTUNE_DATA_HDF5_CHECKER_H_
#define BRAINTUNE_DATA_HDF5_CHECKER_H_

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset.h"  // Problem: the checker's reports are the validator's
#include "data/hdf5_util.h"

namespace braintune::data::internal {

// The most specific message on HDF5's error stack, as " (HDF5: truncated file: eof = ...)", so
// that a failure inside the library says more than "cannot read"; "" when the stack is empty.
std::string Hdf5Reason();

// Opens an existing HDF5 file read-only. Errors lack the file name, which callers add:
// NotFound ("no such file", "not an HDF5 file"), DataLoss (HDF5 cannot open it: truncated or
// corrupt). Silences HDF5's own error printing.
absl::StatusOr<Handle> OpenHdf5File(const std::string& path);

// Element types a check accepts. kFloat is float32 or float64 and kInteger any width, because
// h5py, MATLAB and numpy defaults differ.
enum class Element { kFloat32, kFloat, kInteger, kString };

// An open dataset and its shape.
struct Array {
  Handle ds;
  std::vector<hsize_t> dims;

  size_t size() const {
    size_t n = 1;
    for (hsize_t d : dims) n *= d;
    return n;
  }
};

// Checks for one open file. Every check that fails reports a Problem naming the object and
// returns nothing (or false), and the caller skips what depends on that object. With
// stop_at_first, every check after the first problem fails silently without touching the file,
// so a walk built on it unwinds at once. Not thread-safe, like HDF5: one thread per Checker.
class Checker {
 public:
  // `fid` stays owned by the caller and must outlive the Checker.
  Checker(hid_t fid, bool stop_at_first) : fid_(fid), stop_at_first_(stop_at_first) {}
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  bool stopped() const { return stop_at_first_ && !problems_.empty(); }
  // The problems reported so far, in order; leaves none.
  std::vector<Problem> TakeProblems() { return std::move(problems_); }

  void Report(const std::string& path, std::string message);
  // Reports unless `ok`; returns `ok`.
  bool Expect(bool ok, const std::string& path, const std::string& message);

  // Whether `path` names an object; false too when the file cannot answer.
  bool Exists(const std::string& path) const;

  // REQUIRES (for these two): the parent group of `path` exists.
  std::optional<Handle> OpenGroup(const std::string& path);
  // Opens a dataset of the given element type and rank.
  std::optional<Array> OpenArray(const std::string& path, Element element, int rank);

  // Reads a whole float array and rejects NaN/Inf, which would poison every later sum. T is
  // float or double; on failure `out` is empty.
  template <typename T>
  bool ReadFinite(const Array& a, const std::string& path, std::vector<T>* out);
  bool ReadIntegers(const Array& a, const std::string& path, std::vector<int64_t>* out);
  // Variable-length (h5py's str) or fixed-length (numpy bytes, MATLAB char) strings.
  bool ReadStrings(const Array& a, const std::string& path, std::vector<std::string>* out);

  // Attributes of the open object `obj` at `path`, one value each (a scalar or a 1-element
  // array). Missing or of the wrong kind: reported.
  std::optional<std::string> StringAttr(hid_t obj, const std::string& path,
                                        const std::string& name);
  // Integer attribute; a float holding an integral value is accepted because MATLAB writes
  // doubles by default.
  std::optional<int64_t> IntAttr(hid_t obj, const std::string& path, const std::string& name);
  // A finite number; with `positive`, also > 0.
  std::optional<double> NumberAttr(hid_t obj, const std::string& path, const std::string& name,
                                   bool positive = false);
  static bool HasAttr(hid_t obj, const std::string& name);

  // Link names under an open group, sorted so that the result never depends on how the file
  // was written.
  std::optional<std::vector<std::string>> Children(hid_t group, const std::string& path);

 private:
  // Reports; converts to an empty optional of any type.
  std::nullopt_t Fail(const std::string& path, std::string message);
  std::nullopt_t AttrFail(const std::string& path, const std::string& name,
                          const std::string& what);
  std::optional<Handle> Open(const std::string& path, H5I_type_t want, const char* want_name);
  std::optional<Handle> OpenAttr(hid_t obj, const std::string& path, const std::string& name);
  template <typename T>
  bool Read(const Array& a, const std::string& path, hid_t mem_type, std::vector<T>* out);

  // Constant after construction.
  const hid_t fid_;
  const bool stop_at_first_;

  std::vector<Problem> problems_;
};

}  // namespace braintune::data::internal

#endif  // BRAINTUNE_DATA_HDF5_CHECKER_H_

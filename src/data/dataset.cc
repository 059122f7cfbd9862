// Reading and checking the braintune dataset format v1 (design.md section 5).
#include "data/dataset.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "data/hdf5_util.h"

namespace braintune::data {
namespace {

using internal::Handle;

// Reads one open file. Every check names the file, the path inside it and what is wrong, so a
// user holding an h5py-written file can find the culprit without reading this code.
class Reader {
 public:
  Reader(std::string file, hid_t fid) : file_(std::move(file)), fid_(fid) {}

  const std::string& file() const { return file_; }

  absl::Status Error(const std::string& path, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ": ", path, ": ", what));
  }

  absl::StatusOr<Handle> OpenGroup(const std::string& path) const {
    return Open(path, H5I_GROUP, "group");
  }

  // Opens a float32 dataset of the given rank; `dims` gets its shape.
  absl::StatusOr<Handle> OpenFloat32(const std::string& path, int rank,
                                     std::vector<hsize_t>* dims) const {
    ASSIGN_OR_RETURN(Handle ds, Open(path, H5I_DATASET, "dataset"));
    Handle type = internal::OwnType(H5Dget_type(ds.get()));
    if (!type.ok()) return Error(path, "cannot read the datatype");
    if (H5Tget_class(type.get()) != H5T_FLOAT || H5Tget_size(type.get()) != 4) {
      return Error(path, "expected float32, got " + internal::TypeName(type.get()));
    }
    Handle space = internal::OwnSpace(H5Dget_space(ds.get()));
    const int actual_rank = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
    if (actual_rank < 0) return Error(path, "cannot read the dataspace");
    if (actual_rank != rank) {
      return Error(path, absl::StrCat("expected ", rank, " dimension(s), got ", actual_rank));
    }
    dims->assign(rank, 0);
    H5Sget_simple_extent_dims(space.get(), dims->data(), nullptr);
    return ds;
  }

  // Reads a whole float32 dataset and rejects NaN/Inf, which would poison every later sum.
  absl::Status ReadFloats(hid_t ds, const std::string& path, const std::vector<hsize_t>& dims,
                          std::vector<float>* out) const {
    size_t n = 1;
    for (hsize_t d : dims) n *= d;
    out->resize(n);
    if (n > 0 && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->data()) < 0) {
      out->clear();
      return Error(path, "cannot read the data");
    }
    for (size_t i = 0; i < n; ++i) {
      if (std::isfinite((*out)[i])) continue;
      std::string where = dims.size() == 2 ? absl::StrCat("[", i / dims[1], ", ", i % dims[1], "]")
                                           : absl::StrCat("[", i, "]");
      const std::string value = std::isnan((*out)[i]) ? "NaN" : "Inf";
      out->clear();
      return Error(path, absl::StrCat("non-finite value (", value, ") at ", where));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> StringAttr(hid_t obj, const std::string& path,
                                         const std::string& name) const {
    ASSIGN_OR_RETURN(Handle attr, OpenAttr(obj, path, name));
    Handle type = internal::OwnType(H5Aget_type(attr.get()));
    if (H5Tget_class(type.get()) != H5T_STRING) {
      return AttrError(path, name, "expected a string, got " + internal::TypeName(type.get()));
    }
    if (H5Tis_variable_str(type.get()) > 0) {
      Handle mem = internal::OwnType(H5Tcopy(H5T_C_S1));
      H5Tset_size(mem.get(), H5T_VARIABLE);
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
      char* value = nullptr;
      if (H5Aread(attr.get(), mem.get(), &value) < 0) return AttrError(path, name, "cannot read");
      std::string result = value != nullptr ? value : "";
      H5free_memory(value);
      return result;
    }
    // Fixed-length (numpy bytes, MATLAB char): read null-padded, which also turns space padding
    // into nulls, then cut at the first null.
    const size_t size = H5Tget_size(type.get());
    Handle mem = internal::OwnType(H5Tcopy(type.get()));
    H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
    std::string buffer(size, '\0');
    if (H5Aread(attr.get(), mem.get(), buffer.data()) < 0) {
      return AttrError(path, name, "cannot read");
    }
    return buffer.substr(0, buffer.find('\0'));
  }

  // Integer attribute; a float holding an integral value is accepted because MATLAB writes
  // doubles by default.
  absl::StatusOr<int64_t> IntAttr(hid_t obj, const std::string& path,
                                  const std::string& name) const {
    ASSIGN_OR_RETURN(Handle attr, OpenAttr(obj, path, name));
    Handle type = internal::OwnType(H5Aget_type(attr.get()));
    const H5T_class_t type_class = H5Tget_class(type.get());
    if (type_class == H5T_INTEGER) {
      int64_t value = 0;
      if (H5Aread(attr.get(), H5T_NATIVE_INT64, &value) < 0) {
        return AttrError(path, name, "cannot read");
      }
      return value;
    }
    if (type_class == H5T_FLOAT) {
      double value = 0;
      if (H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value) < 0) {
        return AttrError(path, name, "cannot read");
      }
      if (std::isfinite(value) && value == std::round(value) && std::abs(value) < 1e15) {
        return static_cast<int64_t>(value);
      }
      return AttrError(path, name, absl::StrCat("expected an integer, got ", value));
    }
    return AttrError(path, name, "expected an integer, got " + internal::TypeName(type.get()));
  }

  absl::StatusOr<double> NumberAttr(hid_t obj, const std::string& path,
                                    const std::string& name) const {
    ASSIGN_OR_RETURN(Handle attr, OpenAttr(obj, path, name));
    Handle type = internal::OwnType(H5Aget_type(attr.get()));
    const H5T_class_t type_class = H5Tget_class(type.get());
    if (type_class != H5T_INTEGER && type_class != H5T_FLOAT) {
      return AttrError(path, name, "expected a number, got " + internal::TypeName(type.get()));
    }
    double value = 0;
    if (H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value) < 0) {
      return AttrError(path, name, "cannot read");
    }
    if (!std::isfinite(value)) return AttrError(path, name, absl::StrCat("not finite: ", value));
    return value;
  }

  static bool HasAttr(hid_t obj, const std::string& name) {
    return H5Aexists(obj, name.c_str()) > 0;
  }

  // Link names under an open group, sorted so that the result never depends on how the file
  // was written.
  absl::StatusOr<std::vector<std::string>> Children(hid_t group, const std::string& path) const {
    std::vector<std::string> names;
    if (!internal::ChildNames(group, &names)) return Error(path, "cannot list the group");
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  absl::StatusOr<Handle> Open(const std::string& path, H5I_type_t want,
                              const char* want_name) const {
    // The parent was opened before, so H5Lexists cannot fail on a missing intermediate group.
    if (H5Lexists(fid_, path.c_str(), H5P_DEFAULT) <= 0) {
      return Error(path, absl::StrCat("missing ", want_name));
    }
    Handle obj = internal::OwnObject(H5Oopen(fid_, path.c_str(), H5P_DEFAULT));
    if (!obj.ok()) return Error(path, absl::StrCat("cannot open ", want_name));
    const H5I_type_t got = H5Iget_type(obj.get());
    if (got != want) {
      const char* got_name = got == H5I_GROUP     ? "group"
                             : got == H5I_DATASET ? "dataset"
                                                  : "named datatype";
      return Error(path, absl::StrCat("expected a ", want_name, ", got a ", got_name));
    }
    return obj;
  }

  absl::StatusOr<Handle> OpenAttr(hid_t obj, const std::string& path,
                                  const std::string& name) const {
    if (!HasAttr(obj, name)) return Error(path, absl::StrCat("missing attribute '", name, "'"));
    Handle attr = internal::OwnAttr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
    if (!attr.ok()) return AttrError(path, name, "cannot open");
    // h5py writes scalars, MATLAB 1-element arrays: both are one value.
    Handle space = internal::OwnSpace(H5Aget_space(attr.get()));
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    if (n != 1) return AttrError(path, name, absl::StrCat("expected one value, got ", n));
    return attr;
  }

  absl::Status AttrError(const std::string& path, const std::string& name,
                         const std::string& what) const {
    return Error(path, absl::StrCat("attribute '", name, "': ", what));
  }

  const std::string file_;
  const hid_t fid_;
};

std::string Quoted(const std::string& s) { return absl::StrCat("\"", s, "\""); }

absl::Status ReadRoot(const Reader& r, const std::string& path, Dataset* dataset) {
  ASSIGN_OR_RETURN(Handle root, r.OpenGroup("/"));
  ASSIGN_OR_RETURN(std::string format, r.StringAttr(root.get(), "/", "format"));
  if (format != "braintune-dataset") {
    return r.Error("/", absl::StrCat("attribute 'format': expected \"braintune-dataset\", got ",
                                     Quoted(format)));
  }
  ASSIGN_OR_RETURN(int64_t version, r.IntAttr(root.get(), "/", "version"));
  if (version != 1) {
    return r.Error("/", absl::StrCat("attribute 'version': expected 1, got ", version,
                                     " (this build reads version 1 only)"));
  }
  ASSIGN_OR_RETURN(dataset->modality, r.StringAttr(root.get(), "/", "modality"));
  if (dataset->modality != "fmri" && dataset->modality != "meg") {
    return r.Error("/", absl::StrCat("attribute 'modality': expected \"fmri\" or \"meg\", got ",
                                     Quoted(dataset->modality)));
  }
  if (Reader::HasAttr(root.get(), "name")) {
    ASSIGN_OR_RETURN(dataset->name, r.StringAttr(root.get(), "/", "name"));
  } else {
    dataset->name = std::filesystem::path(path).stem().string();
  }
  return absl::OkStatus();
}

// Reads /stimuli; `durations` gets each story's audio length in seconds, needed even when the
// audio itself is not loaded.
absl::Status ReadStimuli(const Reader& r, const ReadOptions& options, Dataset* dataset,
                         std::map<std::string, double>* durations) {
  ASSIGN_OR_RETURN(Handle stimuli, r.OpenGroup("/stimuli"));
  ASSIGN_OR_RETURN(std::vector<std::string> names, r.Children(stimuli.get(), "/stimuli"));
  if (names.empty()) return r.Error("/stimuli", "no stories");
  for (const std::string& name : names) {
    const std::string story_path = "/stimuli/" + name;
    ASSIGN_OR_RETURN(Handle group, r.OpenGroup(story_path));
    const std::string audio_path = story_path + "/audio";
    std::vector<hsize_t> dims;
    ASSIGN_OR_RETURN(Handle audio, r.OpenFloat32(audio_path, 1, &dims));
    if (dims[0] == 0) return r.Error(audio_path, "empty audio");
    Story story;
    story.name = name;
    ASSIGN_OR_RETURN(story.sample_rate, r.NumberAttr(audio.get(), audio_path, "sample_rate"));
    if (story.sample_rate <= 0) {
      return r.Error(audio_path, absl::StrCat("attribute 'sample_rate': expected > 0, got ",
                                              story.sample_rate));
    }
    if (options.load_audio)
      RETURN_IF_ERROR(r.ReadFloats(audio.get(), audio_path, dims, &story.audio));
    (*durations)[name] = static_cast<double>(dims[0]) / story.sample_rate;
    dataset->stories.push_back(std::move(story));
  }
  return absl::OkStatus();
}

absl::StatusOr<Run> ReadRun(const Reader& r, const std::string& pid, int64_t n_targets,
                            const std::string& story, bool load,
                            const std::map<std::string, double>& durations) {
  const std::string run_path = "/participants/" + pid + "/runs/" + story;
  ASSIGN_OR_RETURN(Handle group, r.OpenGroup(run_path));
  const auto duration = durations.find(story);
  if (duration == durations.end()) {
    return r.Error(run_path, absl::StrCat("story '", story, "' is not under /stimuli"));
  }
  const std::string path = run_path + "/responses";
  std::vector<hsize_t> dims;
  ASSIGN_OR_RETURN(Handle ds, r.OpenFloat32(path, 2, &dims));
  Run run;
  run.story = story;
  run.n_times = static_cast<int64_t>(dims[0]);
  run.n_targets = static_cast<int64_t>(dims[1]);
  if (run.n_targets != n_targets) {
    return r.Error(path, absl::StrCat("expected ", n_targets,
                                      " targets (attribute 'n_targets' of /participants/", pid,
                                      "), got ", run.n_targets));
  }
  if (run.n_times == 0) return r.Error(path, "no time points");
  if (Reader::HasAttr(ds.get(), "tr")) {
    ASSIGN_OR_RETURN(run.tr, r.NumberAttr(ds.get(), path, "tr"));
    if (run.tr <= 0)
      return r.Error(path, absl::StrCat("attribute 'tr': expected > 0, got ", run.tr));
  } else if (Reader::HasAttr(ds.get(), "sample_rate")) {
    ASSIGN_OR_RETURN(double rate, r.NumberAttr(ds.get(), path, "sample_rate"));
    if (rate <= 0) {
      return r.Error(path, absl::StrCat("attribute 'sample_rate': expected > 0, got ", rate));
    }
    run.tr = 1.0 / rate;
  } else {
    return r.Error(path, "missing attribute 'tr' (or 'sample_rate')");
  }
  if (Reader::HasAttr(ds.get(), "t0")) {
    ASSIGN_OR_RETURN(run.t0, r.NumberAttr(ds.get(), path, "t0"));
  }
  // One tr of slack: scanners keep acquiring while the last volume's response unfolds.
  const double end = run.t0 + static_cast<double>(run.n_times) * run.tr;
  if (end > duration->second + run.tr) {
    return r.Error(
        path, absl::StrFormat("responses last until %.3f s (t0 + n_times * tr) but the audio of "
                              "/stimuli/%s lasts %.3f s",
                              end, story, duration->second));
  }
  if (load) RETURN_IF_ERROR(r.ReadFloats(ds.get(), path, dims, &run.responses));
  return run;
}

absl::Status ReadParticipants(const Reader& r, const ReadOptions& options,
                              const std::map<std::string, double>& durations, Dataset* dataset) {
  ASSIGN_OR_RETURN(Handle participants, r.OpenGroup("/participants"));
  ASSIGN_OR_RETURN(std::vector<std::string> ids, r.Children(participants.get(), "/participants"));
  if (ids.empty()) return r.Error("/participants", "no participants");
  for (const std::string& wanted : options.load_responses_of) {
    if (!std::binary_search(ids.begin(), ids.end(), wanted)) {
      return absl::NotFoundError(
          absl::StrCat(r.file(), ": /participants/", wanted,
                       ": no such participant (named in ReadOptions::load_responses_of)"));
    }
  }
  std::map<std::string, std::pair<int64_t, std::string>> space_targets;  // space -> (n, pid)
  for (const std::string& id : ids) {
    const std::string path = "/participants/" + id;
    ASSIGN_OR_RETURN(Handle group, r.OpenGroup(path));
    Participant p;
    p.id = id;
    ASSIGN_OR_RETURN(p.space, r.StringAttr(group.get(), path, "space"));
    ASSIGN_OR_RETURN(p.n_targets, r.IntAttr(group.get(), path, "n_targets"));
    if (p.n_targets <= 0) {
      return r.Error(path, absl::StrCat("attribute 'n_targets': expected > 0, got ", p.n_targets));
    }
    // Participants in one space share one head, so they must agree on its width.
    const auto [it, inserted] = space_targets.emplace(p.space, std::make_pair(p.n_targets, id));
    if (!inserted && it->second.first != p.n_targets) {
      return r.Error(
          path, absl::StrCat("n_targets is ", p.n_targets, " but space '", p.space, "' has ",
                             it->second.first, " targets in /participants/", it->second.second));
    }
    const bool load =
        options.load_responses_of.empty()
            ? options.load_all_responses
            : std::find(options.load_responses_of.begin(), options.load_responses_of.end(), id) !=
                  options.load_responses_of.end();
    const std::string runs_path = path + "/runs";
    ASSIGN_OR_RETURN(Handle runs, r.OpenGroup(runs_path));
    ASSIGN_OR_RETURN(std::vector<std::string> stories, r.Children(runs.get(), runs_path));
    if (stories.empty()) return r.Error(runs_path, "participant has no runs");
    for (const std::string& story : stories) {
      ASSIGN_OR_RETURN(Run run, ReadRun(r, id, p.n_targets, story, load, durations));
      p.runs.push_back(std::move(run));
    }
    const std::string nc_path = path + "/noise_ceiling";
    if (H5Lexists(group.get(), "noise_ceiling", H5P_DEFAULT) > 0) {
      std::vector<hsize_t> dims;
      ASSIGN_OR_RETURN(Handle nc, r.OpenFloat32(nc_path, 1, &dims));
      if (static_cast<int64_t>(dims[0]) != p.n_targets) {
        return r.Error(
            nc_path, absl::StrCat("expected ", p.n_targets, " values (n_targets), got ", dims[0]));
      }
      RETURN_IF_ERROR(r.ReadFloats(nc.get(), nc_path, dims, &p.noise_ceiling));
    }
    dataset->participants.push_back(std::move(p));
  }
  return absl::OkStatus();
}

}  // namespace

const Story* Dataset::FindStory(const std::string& story_name) const {
  auto it = std::find_if(stories.begin(), stories.end(),
                         [&](const Story& s) { return s.name == story_name; });
  return it == stories.end() ? nullptr : &*it;
}

const Participant* Dataset::FindParticipant(const std::string& id) const {
  auto it = std::find_if(participants.begin(), participants.end(),
                         [&](const Participant& p) { return p.id == id; });
  return it == participants.end() ? nullptr : &*it;
}

absl::StatusOr<Dataset> ReadDataset(const std::string& path, const ReadOptions& options) {
  internal::SilenceHdf5Errors();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    return absl::NotFoundError(absl::StrCat(path, ": not an HDF5 file"));
  }
  Handle file = internal::OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file.ok()) return absl::NotFoundError(absl::StrCat(path, ": cannot open the HDF5 file"));

  Reader reader(path, file.get());
  Dataset dataset;
  dataset.path = path;
  std::map<std::string, double> durations;
  RETURN_IF_ERROR(ReadRoot(reader, path, &dataset));
  RETURN_IF_ERROR(ReadStimuli(reader, options, &dataset, &durations));
  RETURN_IF_ERROR(ReadParticipants(reader, options, durations, &dataset));
  return dataset;
}

}  // namespace braintune::data

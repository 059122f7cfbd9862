// The import runs in two passes: a plan that opens and checks every input (cheap: hf5 shapes,
// TextGrids, respdict) so that a typo in story 80 fails in seconds rather than after an hour of
// copying, then the write, one story or run at a time.
#include "data/lebel_import.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "data/hdf5_util.h"
#include "data/hdf5_writer.h"
#include "data/textgrid.h"
#include "data/wav.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace braintune::data {
namespace {

namespace fs = std::filesystem;
using internal::Handle;
using internal::Writer;

// One <subject>/<story>.hf5 as planned: where the array is and what shape it has.
struct ResponseFile {
  std::string path;
  std::string key;         // "data" or "resp"
  int64_t n_repeats = 0;   // 0 for a 2-D array
  int64_t n_rows = 0;
  int64_t n_voxels = 0;
  double t0 = 0;
};

struct SubjectPlan {
  std::string id;
  int64_t n_voxels = 0;
  std::map<std::string, ResponseFile> runs;  // by story
};

struct StoryPlan {
  std::string name;
  std::string wav;
  std::vector<Interval> words;
  std::vector<Interval> phonemes;
};

struct Plan {
  std::vector<StoryPlan> stories;
  std::vector<SubjectPlan> subjects;
};

// ds003020 is usually fetched with DataLad, where every file is a git-annex symlink whose
// target exists only once `datalad get` fetched it; say so rather than "no such file".
absl::Status CheckFile(const fs::path& path, absl::string_view what) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return absl::OkStatus();
  if (fs::is_symlink(path, ec)) {
    return absl::NotFoundError(absl::StrCat(
        path.string(), ": ", what, " is a link to missing content (a git-annex file not yet "
        "fetched? run `datalad get` on it)"));
  }
  if (fs::exists(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": ", what, " is not a file"));
  }
  return absl::NotFoundError(absl::StrCat(path.string(), ": ", what, " not found"));
}

std::vector<std::string> SortedEntries(const fs::path& dir, bool directories,
                                       const std::string& extension) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const bool is_dir = it->is_directory(ec);
    if (directories && is_dir) {
      names.push_back(it->path().filename().string());
    } else if (!directories && !is_dir && it->path().extension().string() == extension) {
      names.push_back(it->path().stem().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status CheckOptions(const LebelImportOptions& o) {
  if (o.root.empty()) return absl::InvalidArgumentError("import-lebel: no dataset directory");
  if (o.out.empty()) return absl::InvalidArgumentError("import-lebel: no output file");
  if (!(o.tr > 0) || !std::isfinite(o.tr)) {
    return absl::InvalidArgumentError(absl::StrCat("import-lebel: tr must be > 0, got ", o.tr));
  }
  if (!std::isfinite(o.sound_delay)) {
    return absl::InvalidArgumentError("import-lebel: sound_delay must be finite");
  }
  if (o.trs_dropped_at_start < 0 || o.trs_dropped_at_end < 0) {
    return absl::InvalidArgumentError("import-lebel: dropped TR counts must be >= 0");
  }
  return absl::OkStatus();
}

// derivative/respdict.json: {story: number of scan TRs}. Absent is fine (no check).
absl::StatusOr<std::map<std::string, int64_t>> ReadRespdict(const fs::path& path) {
  std::map<std::string, int64_t> counts;
  std::error_code ec;
  if (!fs::exists(path, ec) && !fs::is_symlink(path, ec)) return counts;
  RETURN_IF_ERROR(CheckFile(path, "respdict"));
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) return absl::DataLossError(absl::StrCat(path.string(), ": read error"));
  google::protobuf::Struct json;
  const auto parsed = google::protobuf::util::JsonStringToMessage(text, &json);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": not a JSON object of TR counts: ", parsed.ToString()));
  }
  for (const auto& [story, value] : json.fields()) {
    const double n = value.kind_case() == google::protobuf::Value::kNumberValue
                         ? value.number_value()
                         : -1;
    if (!(n >= 0) || n != std::floor(n) || n > 1e9) {
      return absl::InvalidArgumentError(absl::StrCat(
          path.string(), ": '", story, "': expected a whole number of TRs"));
    }
    counts[story] = static_cast<int64_t>(n);
  }
  return counts;
}

// Opens <story>.hf5 and reads the shape of its response array (not the values).
absl::StatusOr<ResponseFile> InspectResponses(const fs::path& path, const std::string& story,
                                              const LebelImportOptions& o) {
  RETURN_IF_ERROR(CheckFile(path, "response file"));
  ResponseFile r;
  r.path = path.string();
  Handle file = internal::OwnFile(H5Fopen(r.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file.ok()) return absl::InvalidArgumentError(r.path + ": not an HDF5 file");
  for (const char* key : {"data", "resp"}) {
    if (H5Lexists(file.get(), key, H5P_DEFAULT) > 0) {
      r.key = key;
      break;
    }
  }
  if (r.key.empty()) {
    return absl::InvalidArgumentError(r.path + ": no dataset 'data' or 'resp'");
  }
  const std::string where = absl::StrCat(r.path, ": '", r.key, "'");
  Handle ds = internal::OwnObject(H5Dopen2(file.get(), r.key.c_str(), H5P_DEFAULT));
  if (!ds.ok()) return absl::InvalidArgumentError(where + ": not a dataset");
  Handle type = internal::OwnType(H5Dget_type(ds.get()));
  if (H5Tget_class(type.get()) != H5T_FLOAT ||
      (H5Tget_size(type.get()) != 4 && H5Tget_size(type.get()) != 8)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected float32 or float64, got ", internal::TypeName(type.get())));
  }
  Handle space = internal::OwnSpace(H5Dget_space(ds.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank != 2 && rank != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": expected a [TRs, voxels] array (or [repeats, TRs, voxels]), got rank ", rank));
  }
  hsize_t dims[3] = {0, 0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  if (rank == 3) {
    if (!o.test_story.empty() && story != o.test_story) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": 3-D array [", dims[0], ", ", dims[1], ", ", dims[2],
          "] but only the test story '", o.test_story,
          "' may hold repeats (set the test story to import repeats of '", story, "')"));
    }
    // A single presentation is just a run; the format wants at least two for repeats.
    r.n_repeats = dims[0] >= 2 ? static_cast<int64_t>(dims[0]) : 0;
    r.n_rows = static_cast<int64_t>(dims[1]);
    r.n_voxels = static_cast<int64_t>(dims[2]);
  } else {
    r.n_rows = static_cast<int64_t>(dims[0]);
    r.n_voxels = static_cast<int64_t>(dims[1]);
  }
  if (r.n_rows == 0 || r.n_voxels == 0 || (rank == 3 && dims[0] == 0)) {
    return absl::InvalidArgumentError(where + ": empty array");
  }
  return r;
}

// Sets r->t0 from the row count; see "Timing" in lebel_import.h.
absl::Status PlaceRows(const std::map<std::string, int64_t>& respdict,
                       const std::string& respdict_path, const std::string& story,
                       const LebelImportOptions& o, ResponseFile* r) {
  const double trimmed_t0 = o.trs_dropped_at_start * o.tr - o.sound_delay;
  const auto it = respdict.find(story);
  if (it == respdict.end()) {
    r->t0 = trimmed_t0;
    return absl::OkStatus();
  }
  const int64_t scan_trs = it->second;
  const int64_t trimmed_rows = scan_trs - o.trs_dropped_at_start - o.trs_dropped_at_end;
  if (r->n_rows == trimmed_rows) {
    r->t0 = trimmed_t0;
  } else if (r->n_rows == scan_trs) {
    r->t0 = -o.sound_delay;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        r->path, ": '", r->key, "' has ", r->n_rows, " rows but ", respdict_path, " gives '",
        story, "' ", scan_trs, " scan TRs, so expected ", trimmed_rows, " (", scan_trs, " - ",
        o.trs_dropped_at_start, " - ", o.trs_dropped_at_end, " trimmed) or ", scan_trs));
  }
  return absl::OkStatus();
}

// The phone and word tiers: by name where both are named so, else the first two interval
// tiers in the order ds003020 writes them (phones, then words).
absl::Status ReadAlignments(const std::string& path, StoryPlan* story) {
  RETURN_IF_ERROR(CheckFile(path, "TextGrid"));
  ASSIGN_OR_RETURN(const TextGrid grid, ReadTextGrid(path));
  const TextGridTier* phones = nullptr;
  const TextGridTier* words = nullptr;
  std::vector<const TextGridTier*> interval_tiers;
  std::vector<std::string> names;
  for (const TextGridTier& tier : grid.tiers) {
    names.push_back(absl::StrCat("'", tier.name, "'"));
    if (!tier.is_interval_tier) continue;
    interval_tiers.push_back(&tier);
    const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(tier.name));
    if (name == "phone" || name == "phones" || name == "phoneme" || name == "phonemes") {
      if (phones == nullptr) phones = &tier;
    } else if (name == "word" || name == "words") {
      if (words == nullptr) words = &tier;
    }
  }
  if (phones == nullptr || words == nullptr) {
    if (interval_tiers.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": expected a phone tier and a word tier, found ", interval_tiers.size(),
          " interval tiers (tiers: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }
    phones = interval_tiers[0];
    words = interval_tiers[1];
  }
  // The format's intervals, sorted by onset.
  auto spoken = [](const TextGridTier& tier) {
    std::vector<Interval> out;
    for (const TextGridInterval& i : SpokenIntervals(tier)) out.push_back({i.xmin, i.xmax, i.text});
    std::stable_sort(out.begin(), out.end(), [](const Interval& a, const Interval& b) { return a.onset < b.onset; });
    return out;
  };
  story->words = spoken(*words);
  story->phonemes = spoken(*phones);
  return absl::OkStatus();
}

// Finds <story>.wav; see LebelImportOptions::stimuli_dir for the search order.
class StimulusFinder {
 public:
  explicit StimulusFinder(const LebelImportOptions& o) : o_(o) {
    const fs::path root(o.root);
    if (!o.stimuli_dir.empty()) {
      dirs_ = {fs::path(o.stimuli_dir)};
    } else {
      dirs_ = {root / "stimuli", root / "derivative" / "stimuli", root / "derivative" / "stimulus",
               root / "stimuli" / "wav", root / "derivative" / "stimuli" / "wav"};
    }
  }

  absl::StatusOr<std::string> Find(const std::string& story) {
    for (const fs::path& dir : dirs_) {
      for (const char* ext : {".wav", ".WAV"}) {
        const fs::path candidate = dir / (story + ext);
        std::error_code ec;
        if (fs::exists(candidate, ec) || fs::is_symlink(candidate, ec)) {
          RETURN_IF_ERROR(CheckFile(candidate, "stimulus"));
          return candidate.string();
        }
      }
    }
    std::vector<std::string> searched;
    for (const fs::path& dir : dirs_) searched.push_back(dir.string());
    if (o_.stimuli_dir.empty()) {
      if (!indexed_) Index();
      const auto [first, last] = index_.equal_range(story);
      if (std::distance(first, last) == 1) return first->second;
      if (first != last) {
        std::vector<std::string> found;
        for (auto it = first; it != last; ++it) found.push_back(it->second);
        return absl::InvalidArgumentError(absl::StrCat("story '", story, "': several stimuli (",
                                                       absl::StrJoin(found, ", "),
                                                       "); set the stimuli directory"));
      }
      searched.push_back(absl::StrCat("anything below ", (fs::path(o_.root) / "stimuli").string(),
                                      " and ", (fs::path(o_.root) / "derivative").string()));
    }
    return absl::NotFoundError(absl::StrCat("story '", story, "': no ", story, ".wav in ",
                                            absl::StrJoin(searched, ", ")));
  }

 private:
  void Index() {
    indexed_ = true;
    for (const fs::path& dir : {fs::path(o_.root) / "stimuli", fs::path(o_.root) / "derivative"}) {
      std::error_code ec;
      for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied,
                                               ec), end;
           !ec && it != end; it.increment(ec)) {
        const std::string ext = absl::AsciiStrToLower(it->path().extension().string());
        if (ext == ".wav" && !it->is_directory(ec)) {
          index_.emplace(it->path().stem().string(), it->path().string());
        }
      }
    }
  }

  const LebelImportOptions& o_;
  std::vector<fs::path> dirs_;
  bool indexed_ = false;
  std::multimap<std::string, std::string> index_;  // story -> path
};

absl::StatusOr<Plan> MakePlan(const LebelImportOptions& o) {
  const fs::path root(o.root);
  const fs::path preprocessed = root / "derivative" / "preprocessed_data";
  std::error_code ec;
  if (!fs::is_directory(preprocessed, ec)) {
    return absl::NotFoundError(absl::StrCat(preprocessed.string(),
                                            ": not a directory (is ", o.root,
                                            " the ds003020 directory?)"));
  }
  const bool subjects_listed = !o.subjects.empty();
  const std::vector<std::string> subjects =
      subjects_listed ? o.subjects : SortedEntries(preprocessed, true, "");
  if (subjects.empty()) {
    return absl::NotFoundError(preprocessed.string() + ": no subject directories");
  }
  std::vector<std::string> stories = o.stories;
  if (stories.empty()) {
    std::set<std::string> found;
    for (const std::string& subject : subjects) {
      for (std::string& story : SortedEntries(preprocessed / subject, false, ".hf5")) {
        found.insert(std::move(story));
      }
    }
    stories.assign(found.begin(), found.end());
  }

  const fs::path respdict_path = root / "derivative" / "respdict.json";
  ASSIGN_OR_RETURN(const auto respdict, ReadRespdict(respdict_path));

  Plan plan;
  std::set<std::string> heard;
  for (const std::string& subject : subjects) {
    const fs::path dir = preprocessed / subject;
    if (!fs::is_directory(dir, ec)) {
      return absl::NotFoundError(absl::StrCat(dir.string(), ": no such subject directory"));
    }
    SubjectPlan s;
    s.id = subject;
    for (const std::string& story : stories) {
      const fs::path path = dir / (story + ".hf5");
      if (!fs::exists(path, ec) && !fs::is_symlink(path, ec)) continue;  // not heard
      ASSIGN_OR_RETURN(ResponseFile r, InspectResponses(path, story, o));
      RETURN_IF_ERROR(PlaceRows(respdict, respdict_path.string(), story, o, &r));
      if (s.runs.empty()) {
        s.n_voxels = r.n_voxels;
      } else if (r.n_voxels != s.n_voxels) {
        return absl::InvalidArgumentError(absl::StrCat(
            r.path, ": '", r.key, "' has ", r.n_voxels, " voxels but ", s.runs.begin()->second.path,
            " has ", s.n_voxels, " (one subject, one voxel mask)"));
      }
      heard.insert(story);
      s.runs.emplace(story, std::move(r));
    }
    if (s.runs.empty()) {
      // A listed subject without data is a mistake; a discovered stray directory is not ours.
      if (subjects_listed) {
        return absl::NotFoundError(absl::StrCat(dir.string(), ": no <story>.hf5 for any of the ",
                                                stories.size(), " stories"));
      }
      continue;
    }
    plan.subjects.push_back(std::move(s));
  }
  if (plan.subjects.empty()) {
    return absl::NotFoundError(preprocessed.string() + ": no <subject>/<story>.hf5 files");
  }
  for (const std::string& story : stories) {
    if (heard.count(story) == 0) {
      return absl::NotFoundError(absl::StrCat("story '", story, "': no ", story, ".hf5 under ",
                                              preprocessed.string(), " for any subject"));
    }
  }

  const fs::path textgrids =
      o.textgrid_dir.empty() ? root / "derivative" / "TextGrids" : fs::path(o.textgrid_dir);
  StimulusFinder finder(o);
  for (const std::string& story : stories) {
    StoryPlan p;
    p.name = story;
    RETURN_IF_ERROR(ReadAlignments((textgrids / (story + ".TextGrid")).string(), &p));
    ASSIGN_OR_RETURN(p.wav, finder.Find(story));
    plan.stories.push_back(std::move(p));
  }
  return plan;
}



// Reads the whole response array as float32 (HDF5 converts float64 on the way).
absl::StatusOr<std::vector<float>> ReadResponses(const ResponseFile& r) {
  Handle file = internal::OwnFile(H5Fopen(r.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  Handle ds = file.ok() ? internal::OwnObject(H5Dopen2(file.get(), r.key.c_str(), H5P_DEFAULT))
                        : Handle();
  const int64_t n_values = std::max<int64_t>(r.n_repeats, 1) * r.n_rows * r.n_voxels;
  std::vector<float> values(static_cast<size_t>(n_values));
  if (!ds.ok() ||
      H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0) {
    return absl::DataLossError(absl::StrCat(r.path, ": '", r.key, "': cannot read the array"));
  }
  return values;
}

absl::Status WriteFile(const std::string& file, const LebelImportOptions& o, const Plan& plan,
                       const std::function<void(const ImportProgress&)>& progress) {
  Handle fid = internal::CreateUntimedFile(file);
  if (!fid.ok()) return absl::InternalError(absl::StrCat(file, ": cannot create the HDF5 file"));
  Writer w(file, fid.get());
  RETURN_IF_ERROR(w.Attr("/", "format", std::string("braintune-dataset")));
  RETURN_IF_ERROR(w.Attr("/", "version", int64_t{1}));
  RETURN_IF_ERROR(w.Attr("/", "modality", std::string("fmri")));
  RETURN_IF_ERROR(w.Attr("/", "name", o.name));

  ImportProgress report;
  report.total = static_cast<int64_t>(plan.stories.size());
  for (const SubjectPlan& s : plan.subjects) report.total += static_cast<int64_t>(s.runs.size());
  auto step = [&](ImportProgress::Stage stage, const std::string& subject,
                  const std::string& story) {
    report.stage = stage;
    report.subject = subject;
    report.story = story;
    ++report.done;
    if (progress) progress(report);
  };

  std::map<std::string, std::pair<double, std::string>> audio_seconds;  // story -> (s, wav)
  RETURN_IF_ERROR(w.Group("/stimuli"));
  for (const StoryPlan& story : plan.stories) {
    ASSIGN_OR_RETURN(const WavAudio audio, ReadWav(story.wav));
    if (audio.samples.empty()) {
      return absl::InvalidArgumentError(story.wav + ": no samples");
    }
    const std::string path = "/stimuli/" + story.name;
    RETURN_IF_ERROR(w.Group(path));
    RETURN_IF_ERROR(w.Floats(path + "/audio", {audio.samples.size()}, audio.samples));
    RETURN_IF_ERROR(w.Attr(path + "/audio", "sample_rate", audio.sample_rate));
    audio_seconds[story.name] = {audio.samples.size() / audio.sample_rate, story.wav};
    RETURN_IF_ERROR(w.Intervals(path + "/words", story.words));
    RETURN_IF_ERROR(w.Intervals(path + "/phonemes", story.phonemes));
    step(ImportProgress::Stage::kStimulus, "", story.name);
  }

  RETURN_IF_ERROR(w.Group("/participants"));
  for (const SubjectPlan& s : plan.subjects) {
    const std::string path = "/participants/" + s.id;
    RETURN_IF_ERROR(w.Group(path));
    RETURN_IF_ERROR(w.Attr(path, "space", "native-" + s.id));
    RETURN_IF_ERROR(w.Attr(path, "n_targets", s.n_voxels));
    RETURN_IF_ERROR(w.Group(path + "/runs"));
    bool have_repeats = false;
    for (const auto& [story, r] : s.runs) {
      // The reader allows one TR past the audio (design.md section 5); a longer overhang
      // means the timing options do not fit these files, and is better said here.
      const double end = r.t0 + static_cast<double>(r.n_rows) * o.tr;
      const auto& [seconds, wav] = audio_seconds.at(story);
      if (end > seconds + o.tr) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: its %d rows end %.3f s after stimulus onset (t0 %.3f + %d x %.4f s) but %s "
            "lasts %.3f s; check the TR, the sound delay and the dropped TR counts",
            r.path, r.n_rows, end, r.t0, r.n_rows, o.tr, wav, seconds));
      }
      ASSIGN_OR_RETURN(std::vector<float> values, ReadResponses(r));
      const hsize_t rows = static_cast<hsize_t>(r.n_rows);
      const hsize_t voxels = static_cast<hsize_t>(r.n_voxels);
      if (r.n_repeats > 0) {
        if (!have_repeats) RETURN_IF_ERROR(w.Group(path + "/repeats"));
        have_repeats = true;
        RETURN_IF_ERROR(w.Floats(path + "/repeats/" + story,
                                 {static_cast<hsize_t>(r.n_repeats), rows, voxels}, values));
        // The run is the mean presentation, what an encoding model is scored against.
        const size_t n = rows * voxels;
        std::vector<double> sum(n, 0.0);
        for (int64_t k = 0; k < r.n_repeats; ++k) {
          for (size_t i = 0; i < n; ++i) sum[i] += values[k * n + i];
        }
        values.resize(n);
        for (size_t i = 0; i < n; ++i) values[i] = static_cast<float>(sum[i] / r.n_repeats);
      }
      const std::string run = path + "/runs/" + story;
      RETURN_IF_ERROR(w.Group(run));
      RETURN_IF_ERROR(w.Floats(run + "/responses", {rows, voxels}, values));
      RETURN_IF_ERROR(w.Attr(run + "/responses", "tr", o.tr));
      RETURN_IF_ERROR(w.Attr(run + "/responses", "t0", r.t0));
      step(ImportProgress::Stage::kResponses, s.id, story);
    }
  }
  // Closing flushes, so its failure (disk full) must fail the import.
  if (fid.Close() < 0) return absl::InternalError(absl::StrCat(file, ": cannot close the file"));
  return absl::OkStatus();
}

}  // namespace

absl::Status ImportLebel(const LebelImportOptions& options,
                         const std::function<void(const ImportProgress&)>& progress) {
  RETURN_IF_ERROR(CheckOptions(options));
  internal::SilenceHdf5Errors();
  ASSIGN_OR_RETURN(const Plan plan, MakePlan(options));
  const std::string tmp = options.out + ".tmp";
  absl::Status status = WriteFile(tmp, options, plan, progress);
  std::error_code ec;
  if (status.ok()) {
    fs::rename(tmp, options.out, ec);
    if (ec) {
      status = absl::InternalError(
          absl::StrCat(options.out, ": cannot rename ", tmp, " into place: ", ec.message()));
    }
  }
  if (!status.ok()) fs::remove(tmp, ec);
  return status;
}

}  // namespace braintune::data

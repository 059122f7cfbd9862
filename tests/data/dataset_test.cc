#include "data/dataset.h"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "data/hdf5_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace braintune::data {
namespace {

using internal::Handle;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("braintune_data_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// Removes this process's temp files once all tests ran.
class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(TempPath("x")).parent_path(), ec);
  }
};
::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

// Open HDF5 ids of any kind in any file, in this process.
ssize_t OpenHdf5Objects() { return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); }

SynthOptions SmallOptions() {
  SynthOptions o;
  o.participants = 3;
  o.stories = 2;
  o.story_seconds = 40;
  o.targets = 8;
  o.seed = 7;
  return o;
}

Dataset WriteAndRead(const std::string& path, const SynthOptions& options,
                     const ReadOptions& read_options = {}) {
  const absl::Status written = WriteSyntheticDataset(path, options);
  EXPECT_TRUE(written.ok()) << written;
  absl::StatusOr<Dataset> dataset = ReadDataset(path, read_options);
  EXPECT_TRUE(dataset.ok()) << dataset.status();
  return dataset.ok() ? *std::move(dataset) : Dataset{};
}

TEST(SyntheticDatasetTest, ReadsBackWithTheRequestedShape) {
  const std::string path = TempPath("synth.h5");
  const Dataset d = WriteAndRead(path, SmallOptions());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(OpenHdf5Objects(), 0);
  EXPECT_EQ(d.name, "synthetic");
  EXPECT_EQ(d.modality, "fmri");
  ASSERT_EQ(d.stories.size(), 2u);
  EXPECT_EQ(d.stories[0].name, "story_00");
  EXPECT_EQ(d.stories[1].name, "story_01");
  for (const Story& s : d.stories) {
    EXPECT_EQ(s.sample_rate, 1600);
    EXPECT_EQ(s.audio.size(), 40u * 1600u);
    EXPECT_GT(*std::max_element(s.audio.begin(), s.audio.end()), 0.3f);  // words are audible
  }
  ASSERT_EQ(d.participants.size(), 3u);
  float previous_ceiling = 1;
  for (int p = 0; p < 3; ++p) {
    const Participant& participant = d.participants[p];
    EXPECT_EQ(participant.id, "sub-0" + std::to_string(p + 1));
    EXPECT_EQ(participant.space, "synthetic");
    EXPECT_EQ(participant.n_targets, 8);
    ASSERT_EQ(participant.runs.size(), 2u);
    for (const data::Run& run : participant.runs) {
      EXPECT_EQ(run.n_times, 20);
      EXPECT_EQ(run.n_targets, 8);
      EXPECT_EQ(run.tr, 2.0);
      EXPECT_EQ(run.t0, 0.0);
      ASSERT_EQ(run.responses.size(), 20u * 8u);
      const auto [lo, hi] = std::minmax_element(run.responses.begin(), run.responses.end());
      EXPECT_LT(*lo, *hi);
    }
    ASSERT_EQ(participant.noise_ceiling.size(), 8u);
    for (float c : participant.noise_ceiling) {
      EXPECT_GT(c, 0);
      EXPECT_LT(c, 1);
    }
    // Later participants are noisier by construction.
    EXPECT_LT(participant.noise_ceiling[0], previous_ceiling);
    previous_ceiling = participant.noise_ceiling[0];
  }
  ASSERT_NE(d.FindStory("story_01"), nullptr);
  EXPECT_EQ(d.FindStory("story_01")->name, "story_01");
  EXPECT_EQ(d.FindStory("story_02"), nullptr);
  ASSERT_NE(d.FindParticipant("sub-02"), nullptr);
  EXPECT_EQ(d.FindParticipant("sub-02")->id, "sub-02");
  EXPECT_EQ(d.FindParticipant("sub-04"), nullptr);
}

std::vector<float> ReadLatent(const std::string& path, const std::string& story) {
  Handle file = internal::OwnFile(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  const std::string name = "/stimuli/" + story + "/features/latent";
  Handle ds = internal::OwnObject(H5Oopen(file.get(), name.c_str(), H5P_DEFAULT));
  Handle space = internal::OwnSpace(H5Dget_space(ds.get()));
  std::vector<float> latent(H5Sget_simple_extent_npoints(space.get()));
  EXPECT_GE(H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, latent.data()), 0);
  return latent;
}

// Least-squares fit of y on the columns of x (plus an intercept); returns corr(fit, y).
double FitCorrelation(const std::vector<std::vector<double>>& x, const std::vector<double>& y) {
  const size_t n = y.size(), k = x.size() + 1;
  auto column = [&](size_t j, size_t i) { return j == 0 ? 1.0 : x[j - 1][i]; };
  std::vector<std::vector<double>> a(k, std::vector<double>(k + 1, 0.0));  // [X'X | X'y]
  for (size_t i = 0; i < n; ++i) {
    for (size_t r = 0; r < k; ++r) {
      for (size_t c = 0; c < k; ++c) a[r][c] += column(r, i) * column(c, i);
      a[r][k] += column(r, i) * y[i];
    }
  }
  for (size_t c = 0; c < k; ++c) {  // Gauss-Jordan with partial pivoting
    size_t pivot = c;
    for (size_t r = c + 1; r < k; ++r) {
      if (std::abs(a[r][c]) > std::abs(a[pivot][c])) pivot = r;
    }
    std::swap(a[c], a[pivot]);
    for (size_t r = 0; r < k; ++r) {
      if (r == c) continue;
      const double f = a[r][c] / a[c][c];
      for (size_t j = c; j <= k; ++j) a[r][j] -= f * a[c][j];
    }
  }
  std::vector<double> fit(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < k; ++j) fit[i] += a[j][k] / a[j][j] * column(j, i);
  }
  double mf = 0, my = 0;
  for (size_t i = 0; i < n; ++i) mf += fit[i] / n, my += y[i] / n;
  double sff = 0, syy = 0, sfy = 0;
  for (size_t i = 0; i < n; ++i) {
    sff += (fit[i] - mf) * (fit[i] - mf);
    syy += (y[i] - my) * (y[i] - my);
    sfy += (fit[i] - mf) * (y[i] - my);
  }
  return sfy / std::sqrt(sff * syy);
}

// Mean over targets of how well the stored latent, put through the documented HRF, explains
// sub-01's responses. `reverse` time-reverses the latent: same values, no alignment.
double MeanRecovery(const std::string& path, const Dataset& d, bool reverse) {
  std::vector<double> hrf;
  double hrf_sum = 0;
  for (int l = 0; l < 5; ++l) {
    const double t = l * 2.0 + 1.0;  // tr = 2
    auto gamma = [t](double shape) {
      return std::exp((shape - 1) * std::log(t) - t - std::lgamma(shape));
    };
    hrf.push_back(gamma(6) - gamma(16) / 6);
    hrf_sum += hrf.back();
  }
  const Participant& p = d.participants[0];
  std::vector<std::vector<double>> x(4);
  std::vector<std::vector<double>> y(p.n_targets);
  for (const data::Run& run : p.runs) {
    const std::vector<float> latent = ReadLatent(path, run.story);
    EXPECT_EQ(static_cast<int64_t>(latent.size()), run.n_times * 4);
    auto at = [&](int64_t i, int k) { return latent[(reverse ? run.n_times - 1 - i : i) * 4 + k]; };
    for (int64_t i = 0; i < run.n_times; ++i) {
      for (int k = 0; k < 4; ++k) {
        double v = 0;
        for (int l = 0; l < 5 && l <= i; ++l) v += hrf[l] / hrf_sum * at(i - l, k);
        x[k].push_back(v);
      }
      for (int64_t t = 0; t < p.n_targets; ++t) y[t].push_back(run.responses[i * p.n_targets + t]);
    }
  }
  double sum = 0;
  for (const auto& target : y) sum += FitCorrelation(x, target);
  return sum / y.size();
}

TEST(SyntheticDatasetTest, ResponsesFollowTheStoredLatent) {
  const std::string path = TempPath("recovery.h5");
  SynthOptions options = SmallOptions();
  options.participants = 1;
  options.story_seconds = 120;  // 120 TRs in all: enough that a wrong model fits poorly
  const Dataset d = WriteAndRead(path, options);
  ASSERT_EQ(d.participants.size(), 1u);
  ASSERT_EQ(d.participants[0].noise_ceiling.size(), 8u);
  const double ceiling = d.participants[0].noise_ceiling[0];
  EXPECT_NEAR(ceiling, 1 / std::sqrt(1 + 0.5 * 0.5), 1e-6);
  // The true model reaches the noise ceiling (in-sample, so a little above); the same latent
  // without its alignment does not come close.
  EXPECT_NEAR(MeanRecovery(path, d, /*reverse=*/false), ceiling, 0.05);
  EXPECT_LT(MeanRecovery(path, d, /*reverse=*/true), 0.6);
}

TEST(SyntheticDatasetTest, SameSeedGivesIdenticalData) {
  const Dataset a = WriteAndRead(TempPath("a.h5"), SmallOptions());
  const Dataset b = WriteAndRead(TempPath("b.h5"), SmallOptions());
  SynthOptions other = SmallOptions();
  other.seed = 8;
  const Dataset c = WriteAndRead(TempPath("c.h5"), other);
  ASSERT_EQ(a.stories.size(), 2u);
  ASSERT_EQ(b.stories.size(), 2u);
  ASSERT_EQ(c.stories.size(), 2u);
  ASSERT_EQ(a.stories[1].audio.size(), b.stories[1].audio.size());
  EXPECT_EQ(0, std::memcmp(a.stories[1].audio.data(), b.stories[1].audio.data(),
                           a.stories[1].audio.size() * sizeof(float)));
  EXPECT_EQ(a.participants[2].runs[1].responses, b.participants[2].runs[1].responses);
  EXPECT_NE(a.stories[1].audio, c.stories[1].audio);
  EXPECT_NE(a.participants[2].runs[1].responses, c.participants[2].runs[1].responses);
}

TEST(SyntheticDatasetTest, OverwritesAnExistingFile) {
  const std::string path = TempPath("overwrite.h5");
  WriteAndRead(path, SmallOptions());
  SynthOptions more = SmallOptions();
  more.participants = 1;
  EXPECT_EQ(WriteAndRead(path, more).participants.size(), 1u);
}

TEST(SyntheticDatasetTest, RejectsBadOptionsWithoutLeavingFiles) {
  const std::string path = TempPath("bad_options.h5");
  SynthOptions o = SmallOptions();
  o.tr = 0;
  EXPECT_EQ(WriteSyntheticDataset(path, o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(ReadOptionsTest, LoadsOnlyWhatWasAskedFor) {
  const std::string path = TempPath("options.h5");
  ASSERT_TRUE(WriteSyntheticDataset(path, SmallOptions()).ok());

  ReadOptions only_sub02;
  only_sub02.load_responses_of = {"sub-02"};
  only_sub02.load_audio = false;
  absl::StatusOr<Dataset> d = ReadDataset(path, only_sub02);
  ASSERT_TRUE(d.ok()) << d.status();
  for (const Story& s : d->stories) {
    EXPECT_TRUE(s.audio.empty());
    EXPECT_EQ(s.sample_rate, 1600);
  }
  for (const Participant& p : d->participants) {
    ASSERT_EQ(p.runs.size(), 2u);
    for (const data::Run& run : p.runs) {
      EXPECT_EQ(run.n_times, 20);  // shapes are listed either way
      EXPECT_EQ(run.responses.empty(), p.id != "sub-02") << p.id;
    }
  }

  ReadOptions none;
  none.load_all_responses = false;
  d = ReadDataset(path, none);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->stories[0].audio.empty());
  for (const Participant& p : d->participants) EXPECT_TRUE(p.runs[0].responses.empty());

  ReadOptions unknown;
  unknown.load_responses_of = {"sub-09"};
  d = ReadDataset(path, unknown);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(d.status().message(),
              HasSubstr(path + ": /participants/sub-09: no such participant"));
}

// ---- Malformed files, written with the HDF5 C API as a foreign tool would. ----

enum class Fault {
  kNone,
  kSampleRateInsteadOfTr,
  kWrongFormat,
  kInt64Responses,
  kWrongTargets,
  kUnknownStory,
  kNanResponses,
  kNoRuns,
  kMissingTr,
  kLongerThanAudio,
};

void Group(hid_t file, const std::string& path) {
  Handle g =
      internal::OwnObject(H5Gcreate2(file, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_TRUE(g.ok()) << path;
}

// Fixed-length string, as numpy bytes or MATLAB would write it (the synthetic writer uses
// variable-length strings, so both kinds get read).
void StringAttr(hid_t obj, const char* name, const std::string& value) {
  Handle type = internal::OwnType(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), value.size());
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  Handle space = internal::OwnSpace(H5Screate(H5S_SCALAR));
  Handle attr =
      internal::OwnAttr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_GE(H5Awrite(attr.get(), type.get(), value.data()), 0) << name;
}

void NumberAttr(hid_t obj, const char* name, hid_t mem_type, hid_t file_type, const void* value) {
  Handle space = internal::OwnSpace(H5Screate(H5S_SCALAR));
  Handle attr =
      internal::OwnAttr(H5Acreate2(obj, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_GE(H5Awrite(attr.get(), mem_type, value), 0) << name;
}

Handle Array(hid_t file, const std::string& path, hid_t mem_type, hid_t file_type,
             std::vector<hsize_t> dims, const void* data) {
  Handle space = internal::OwnSpace(H5Screate_simple(dims.size(), dims.data(), nullptr));
  Handle ds = internal::OwnObject(H5Dcreate2(file, path.c_str(), file_type, space.get(),
                                             H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  EXPECT_GE(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0) << path;
  return ds;
}

// One story "s1" (10 s of audio at 10 Hz) and one participant "p1" with 3 targets who heard it
// for 4 TRs of 2 s; `fault` breaks exactly one thing.
void WriteSmallFile(const std::string& path, Fault fault) {
  Handle file = internal::OwnFile(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_TRUE(file.ok());
  const hid_t f = file.get();
  StringAttr(f, "format", fault == Fault::kWrongFormat ? "braintune-datasat" : "braintune-dataset");
  const int64_t version = 1;
  NumberAttr(f, "version", H5T_NATIVE_INT64, H5T_STD_I64LE, &version);
  StringAttr(f, "modality", "fmri");

  Group(f, "/stimuli");
  Group(f, "/stimuli/s1");
  const std::vector<float> audio(100, 0.25f);
  Handle ds = Array(f, "/stimuli/s1/audio", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {100}, audio.data());
  const double audio_rate = 10;
  NumberAttr(ds.get(), "sample_rate", H5T_NATIVE_DOUBLE, H5T_IEEE_F64BE, &audio_rate);

  Group(f, "/participants");
  Group(f, "/participants/p1");
  Handle participant = internal::OwnObject(H5Oopen(f, "/participants/p1", H5P_DEFAULT));
  StringAttr(participant.get(), "space", "native");
  const int32_t n_targets = 3;  // a 32-bit integer, which is fine
  NumberAttr(participant.get(), "n_targets", H5T_NATIVE_INT32, H5T_STD_I32LE, &n_targets);
  Group(f, "/participants/p1/runs");
  if (fault == Fault::kNoRuns) return;

  const std::string run =
      fault == Fault::kUnknownStory ? "/participants/p1/runs/s9" : "/participants/p1/runs/s1";
  Group(f, run);
  const hsize_t n_times = fault == Fault::kLongerThanAudio ? 7 : 4;
  const hsize_t targets = fault == Fault::kWrongTargets ? 2 : 3;
  std::vector<float> values(n_times * targets);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  if (fault == Fault::kNanResponses)
    values[1 * targets + 2] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<int64_t> ints(values.begin(), values.end());
  ds = fault == Fault::kInt64Responses ? Array(f, run + "/responses", H5T_NATIVE_INT64,
                                               H5T_STD_I64LE, {n_times, targets}, ints.data())
                                       : Array(f, run + "/responses", H5T_NATIVE_FLOAT,
                                               H5T_IEEE_F32LE, {n_times, targets}, values.data());
  const double tr = 2, rate = 0.5, t0 = 0;
  if (fault == Fault::kSampleRateInsteadOfTr) {
    NumberAttr(ds.get(), "sample_rate", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &rate);
  } else if (fault != Fault::kMissingTr) {
    NumberAttr(ds.get(), "tr", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &tr);
  }
  NumberAttr(ds.get(), "t0", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &t0);
}

TEST(ReadDatasetTest, AcceptsAForeignFile) {
  for (Fault fault : {Fault::kNone, Fault::kSampleRateInsteadOfTr}) {
    const std::string path = TempPath("foreign.h5");
    WriteSmallFile(path, fault);
    absl::StatusOr<Dataset> d = ReadDataset(path);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->name, "foreign");  // no name attribute: the file stem
    ASSERT_EQ(d->participants.size(), 1u);
    const Participant& p = d->participants[0];
    EXPECT_EQ(p.space, "native");
    EXPECT_EQ(p.n_targets, 3);
    EXPECT_TRUE(p.noise_ceiling.empty());
    ASSERT_EQ(p.runs.size(), 1u);
    EXPECT_EQ(p.runs[0].story, "s1");
    EXPECT_EQ(p.runs[0].tr, 2.0);
    EXPECT_EQ(p.runs[0].responses[1 * 3 + 2], 5.0f);
    EXPECT_EQ(d->stories[0].audio.size(), 100u);
  }
}

struct BadCase {
  const char* label;
  Fault fault;
  std::string inner_path;
  std::string what;
};

class MalformedFileTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(MalformedFileTest, NamesFilePathAndProblem) {
  const BadCase& c = GetParam();
  const std::string path = TempPath(std::string(c.label) + ".h5");
  WriteSmallFile(path, c.fault);
  const absl::StatusOr<Dataset> d = ReadDataset(path);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << d.status();
  EXPECT_THAT(d.status().message(), HasSubstr(path + ": " + c.inner_path + ": " + c.what));
  EXPECT_EQ(OpenHdf5Objects(), 0);  // early returns closed everything
}

INSTANTIATE_TEST_SUITE_P(
    AllFaults, MalformedFileTest,
    ::testing::Values(
        BadCase{"wrong_format", Fault::kWrongFormat, "/",
                "attribute 'format': expected \"braintune-dataset\", got \"braintune-datasat\""},
        BadCase{"int64_responses", Fault::kInt64Responses, "/participants/p1/runs/s1/responses",
                "expected float32, got int64"},
        BadCase{"wrong_targets", Fault::kWrongTargets, "/participants/p1/runs/s1/responses",
                "expected 3 targets"},
        BadCase{"unknown_story", Fault::kUnknownStory, "/participants/p1/runs/s9",
                "story 's9' is not under /stimuli"},
        BadCase{"nan_responses", Fault::kNanResponses, "/participants/p1/runs/s1/responses",
                "non-finite value (NaN) at [1, 2]"},
        BadCase{"no_runs", Fault::kNoRuns, "/participants/p1/runs", "participant has no runs"},
        BadCase{"missing_tr", Fault::kMissingTr, "/participants/p1/runs/s1/responses",
                "missing attribute 'tr' (or 'sample_rate')"},
        BadCase{"longer_than_audio", Fault::kLongerThanAudio, "/participants/p1/runs/s1/responses",
                "responses last until 14.000 s"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.label); });

TEST(ReadDatasetTest, MissingOrNonHdf5FileIsNotFound) {
  const std::string missing = TempPath("does_not_exist.h5");
  absl::StatusOr<Dataset> d = ReadDataset(missing);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(d.status().message(), HasSubstr(missing));

  const std::string text = TempPath("not_hdf5.h5");
  std::ofstream(text) << "just text\n";
  d = ReadDataset(text);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(d.status().message(), HasSubstr(text + ": not an HDF5 file"));
}

}  // namespace
}  // namespace braintune::data

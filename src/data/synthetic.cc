// The synthetic brain: a dataset whose stimulus -> response mapping is known exactly, so the
// trainer and the evaluator can be tested end to end without real fMRI.
//
// Audio: each story is a sequence of "words" (2-7 phonemes of 90 ms, gaps of 50-400 ms), each of
// one of 4 classes; a word sounds as a Hann-windowed tone whose pitch names its class, over a
// faint white noise floor. Latent: per TR, the fraction of the TR covered by each class (stored
// as ground truth under /stimuli/<story>/features/latent). Response: latent convolved with a
// canonical double-gamma HRF, mixed into targets by one matrix shared by all participants,
// scaled by a per-participant gain, plus Gaussian noise whose level grows with the participant
// index. The stored noise ceiling is the exact correlation this noise allows.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "data/dataset.h"
#include "data/hdf5_util.h"

namespace braintune::data {
namespace {

using internal::Handle;

constexpr double kPi = 3.14159265358979323846;
constexpr int kClasses = 4;
constexpr double kToneHz[kClasses] = {110, 220, 390, 620};
constexpr double kPhonemeSeconds = 0.09;
constexpr int kHrfLags = 5;
constexpr double kAudioNoiseStd = 0.02;

// Own uniform/normal draws on top of mt19937_64 so that a seed gives the same file with any
// standard library (std::*_distribution algorithms are implementation-defined).
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  int UniformInt(int lo, int hi) {  // inclusive; the modulo bias is far below anything we test
    return lo + static_cast<int>(engine_() % static_cast<uint64_t>(hi - lo + 1));
  }
  double Normal() {  // Box-Muller, spare value dropped to keep the draw order simple
    const double u1 = 1.0 - Uniform();  // (0, 1], so the log is finite
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
  }

 private:
  std::mt19937_64 engine_;
};

struct Word {
  double onset = 0;
  double offset = 0;
  int n_phonemes = 0;
  int word_class = 0;
  std::string text;
};

struct SynthStory {
  std::string name;
  std::vector<Word> words;
  std::vector<float> audio;
  std::vector<float> latent;   // [n_tr, kClasses]
  std::vector<double> signal;  // noiseless response before the participant gain, [n_tr, targets]
};

// Letters track phonemes loosely, as in English spelling, so text-based features carry the
// same information as the audio with some noise.
std::string PseudoWord(Rng& rng, int n_phonemes) {
  static constexpr char kConsonants[] = "bdfgklmnprstvz";
  static constexpr char kVowels[] = "aeiou";
  const int n_letters = n_phonemes + rng.UniformInt(0, 2);
  std::string text;
  bool vowel = rng.UniformInt(0, 1) == 1;
  for (int i = 0; i < n_letters; ++i, vowel = !vowel) {
    text += vowel ? kVowels[rng.UniformInt(0, 4)] : kConsonants[rng.UniformInt(0, 13)];
  }
  return text;
}

// SPM's canonical HRF (gamma shape 6 minus gamma shape 16 / 6, scale 1) at the middle of each
// of the first kHrfLags TRs, normalised so that a sustained latent keeps its amplitude.
std::vector<double> Hrf(double tr) {
  auto gamma_pdf = [](double t, double shape) {
    return std::exp((shape - 1) * std::log(t) - t - std::lgamma(shape));
  };
  std::vector<double> h(kHrfLags);
  double sum = 0;
  for (int l = 0; l < kHrfLags; ++l) {
    const double t = l * tr + tr / 2;
    h[l] = gamma_pdf(t, 6) - gamma_pdf(t, 16) / 6;
    sum += h[l];
  }
  for (double& v : h) v /= sum;
  return h;
}

SynthStory MakeStory(Rng& rng, const SynthOptions& o, int index, const std::vector<double>& hrf,
                     const std::vector<double>& mixing) {
  SynthStory s;
  s.name = absl::StrFormat("story_%02d", index);
  for (double t = rng.Uniform(0.05, 0.4);;) {
    Word w;
    w.n_phonemes = rng.UniformInt(2, 7);
    w.word_class = rng.UniformInt(0, kClasses - 1);
    w.onset = t;
    w.offset = t + w.n_phonemes * kPhonemeSeconds;
    if (w.offset > o.story_seconds) break;
    w.text = PseudoWord(rng, w.n_phonemes);
    t = w.offset + rng.Uniform(0.05, 0.4);
    s.words.push_back(std::move(w));
  }

  const int64_t n_samples = std::llround(o.story_seconds * o.sample_rate);
  std::vector<double> audio(n_samples, 0.0);
  for (const Word& w : s.words) {
    const double amplitude = rng.Uniform(0.5, 1.0);
    const double duration = w.offset - w.onset;
    const int64_t first = static_cast<int64_t>(std::ceil(w.onset * o.sample_rate));
    for (int64_t i = first; i < n_samples && i < w.offset * o.sample_rate; ++i) {
      const double t = i / o.sample_rate - w.onset;
      const double envelope = 0.5 * (1 - std::cos(2 * kPi * t / duration));
      audio[i] += amplitude * envelope * std::sin(2 * kPi * kToneHz[w.word_class] * t);
    }
  }
  s.audio.resize(n_samples);
  for (int64_t i = 0; i < n_samples; ++i) {
    s.audio[i] = static_cast<float>(audio[i] + kAudioNoiseStd * rng.Normal());
  }

  const int64_t n_tr = static_cast<int64_t>(std::floor(o.story_seconds / o.tr));
  s.latent.assign(n_tr * kClasses, 0.0f);
  for (const Word& w : s.words) {
    const int64_t last = std::min<int64_t>(n_tr - 1, static_cast<int64_t>(w.offset / o.tr));
    for (int64_t i = static_cast<int64_t>(w.onset / o.tr); i <= last; ++i) {
      const double overlap = std::min(w.offset, (i + 1) * o.tr) - std::max(w.onset, i * o.tr);
      if (overlap > 0) s.latent[i * kClasses + w.word_class] += static_cast<float>(overlap / o.tr);
    }
  }

  s.signal.assign(n_tr * o.targets, 0.0);
  for (int64_t i = 0; i < n_tr; ++i) {
    double convolved[kClasses] = {};
    for (int l = 0; l < kHrfLags && l <= i; ++l) {
      for (int k = 0; k < kClasses; ++k) convolved[k] += hrf[l] * s.latent[(i - l) * kClasses + k];
    }
    for (int v = 0; v < o.targets; ++v) {
      for (int k = 0; k < kClasses; ++k) {
        s.signal[i * o.targets + v] += mixing[v * kClasses + k] * convolved[k];
      }
    }
  }
  return s;
}

// Writes HDF5 objects by absolute path; every failure names the output file and the object.
class Writer {
 public:
  Writer(std::string file, hid_t fid) : file_(std::move(file)), fid_(fid) {}

  absl::Status Group(const std::string& path) {
    Handle g =
        internal::OwnObject(H5Gcreate2(fid_, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    return g.ok() ? absl::OkStatus() : Fail(path, "cannot create group");
  }

  absl::Status Array(const std::string& path, hid_t mem_type, hid_t file_type,
                     const std::vector<hsize_t>& dims, const void* data) {
    Handle space =
        internal::OwnSpace(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    Handle ds = internal::OwnObject(H5Dcreate2(fid_, path.c_str(), file_type, space.get(),
                                               H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!ds.ok()) return Fail(path, "cannot create dataset");
    if (H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
      return Fail(path, "cannot write dataset");
    }
    return absl::OkStatus();
  }

  absl::Status Strings(const std::string& path, const std::vector<std::string>& values) {
    std::vector<const char*> pointers;
    for (const std::string& v : values) pointers.push_back(v.c_str());
    Handle type = Utf8Type();
    return Array(path, type.get(), type.get(), {values.size()}, pointers.data());
  }

  absl::Status Attr(const std::string& path, const char* name, hid_t mem_type, hid_t file_type,
                    const void* value) {
    Handle space = internal::OwnSpace(H5Screate(H5S_SCALAR));
    Handle attr = internal::OwnAttr(H5Acreate_by_name(
        fid_, path.c_str(), name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
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
    Handle type = internal::OwnType(H5Tcopy(H5T_C_S1));
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

absl::Status CheckOptions(const SynthOptions& o) {
  if (o.participants < 1 || o.stories < 1 || o.targets < 1) {
    return absl::InvalidArgumentError(
        "synthetic dataset: participants, stories and targets must be >= 1");
  }
  if (!(o.tr > 0) || !(o.sample_rate > 0) || !(o.story_seconds >= o.tr) || !(o.noise >= 0)) {
    return absl::InvalidArgumentError(
        "synthetic dataset: need tr > 0, sample_rate > 0, story_seconds >= tr, noise >= 0");
  }
  return absl::OkStatus();
}

absl::Status WriteFile(const std::string& file, const SynthOptions& o) {
  Rng rng(o.seed);
  std::vector<double> mixing(o.targets * kClasses);
  for (double& m : mixing) m = rng.Normal();
  std::vector<double> gains(o.participants);
  for (double& g : gains) g = rng.Uniform(0.8, 1.2);
  const std::vector<double> hrf = Hrf(o.tr);
  std::vector<SynthStory> stories;
  for (int s = 0; s < o.stories; ++s) stories.push_back(MakeStory(rng, o, s, hrf, mixing));

  // Noise is set relative to each target's signal std over the whole dataset, so that the noise
  // ceiling is the same for every target of a participant and known in closed form.
  std::vector<double> sum(o.targets, 0.0), sum_sq(o.targets, 0.0);
  int64_t count = 0;
  for (const SynthStory& s : stories) {
    for (size_t i = 0; i < s.signal.size(); ++i) {
      sum[i % o.targets] += s.signal[i];
      sum_sq[i % o.targets] += s.signal[i] * s.signal[i];
    }
    count += static_cast<int64_t>(s.signal.size()) / o.targets;
  }
  std::vector<double> signal_std(o.targets);
  for (int v = 0; v < o.targets; ++v) {
    const double mean = sum[v] / count;
    signal_std[v] = std::sqrt(std::max(0.0, sum_sq[v] / count - mean * mean));
  }

  internal::Handle fid =
      internal::OwnFile(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  if (!fid.ok()) return absl::InternalError(absl::StrCat(file, ": cannot create the HDF5 file"));
  Writer w(file, fid.get());
  RETURN_IF_ERROR(w.Attr("/", "format", std::string("braintune-dataset")));
  RETURN_IF_ERROR(w.Attr("/", "version", int64_t{1}));
  RETURN_IF_ERROR(w.Attr("/", "modality", std::string("fmri")));
  RETURN_IF_ERROR(w.Attr("/", "name", o.name));

  RETURN_IF_ERROR(w.Group("/stimuli"));
  for (const SynthStory& s : stories) {
    const std::string path = "/stimuli/" + s.name;
    RETURN_IF_ERROR(w.Group(path));
    RETURN_IF_ERROR(w.Array(path + "/audio", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {s.audio.size()},
                            s.audio.data()));
    RETURN_IF_ERROR(w.Attr(path + "/audio", "sample_rate", o.sample_rate));

    std::vector<double> onsets, offsets;
    std::vector<std::string> texts;
    for (const Word& word : s.words) {
      onsets.push_back(word.onset);
      offsets.push_back(word.offset);
      texts.push_back(word.text);
    }
    RETURN_IF_ERROR(w.Group(path + "/words"));
    RETURN_IF_ERROR(w.Array(path + "/words/onset", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE,
                            {onsets.size()}, onsets.data()));
    RETURN_IF_ERROR(w.Array(path + "/words/offset", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE,
                            {offsets.size()}, offsets.data()));
    RETURN_IF_ERROR(w.Strings(path + "/words/text", texts));

    const hsize_t n_tr = s.latent.size() / kClasses;
    std::vector<double> times(n_tr);
    for (hsize_t i = 0; i < n_tr; ++i) times[i] = i * o.tr;
    RETURN_IF_ERROR(w.Group(path + "/features"));
    RETURN_IF_ERROR(w.Array(path + "/features/latent", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE,
                            {n_tr, hsize_t{kClasses}}, s.latent.data()));
    RETURN_IF_ERROR(w.Array(path + "/features/latent_times", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE,
                            {n_tr}, times.data()));
  }

  RETURN_IF_ERROR(w.Group("/participants"));
  for (int p = 0; p < o.participants; ++p) {
    const std::string path = absl::StrFormat("/participants/sub-%02d", p + 1);
    const double relative_noise = o.noise * (1 + 0.5 * p / o.participants);
    RETURN_IF_ERROR(w.Group(path));
    RETURN_IF_ERROR(w.Attr(path, "space", o.space));
    RETURN_IF_ERROR(w.Attr(path, "n_targets", int64_t{o.targets}));
    RETURN_IF_ERROR(w.Group(path + "/runs"));
    for (const SynthStory& s : stories) {
      const hsize_t n_tr = s.signal.size() / o.targets;
      std::vector<float> responses(s.signal.size());
      for (size_t i = 0; i < responses.size(); ++i) {
        // A target without signal (no words at all) still gets unit-scale noise.
        const double scale = signal_std[i % o.targets] > 0 ? signal_std[i % o.targets] : 1.0;
        responses[i] =
            static_cast<float>(gains[p] * (s.signal[i] + relative_noise * scale * rng.Normal()));
      }
      const std::string run = path + "/runs/" + s.name;
      RETURN_IF_ERROR(w.Group(run));
      RETURN_IF_ERROR(w.Array(run + "/responses", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE,
                              {n_tr, static_cast<hsize_t>(o.targets)}, responses.data()));
      RETURN_IF_ERROR(w.Attr(run + "/responses", "tr", o.tr));
      RETURN_IF_ERROR(w.Attr(run + "/responses", "t0", 0.0));
    }
    std::vector<float> ceiling(o.targets);
    for (int v = 0; v < o.targets; ++v) {
      ceiling[v] = signal_std[v] > 0
                       ? static_cast<float>(1 / std::sqrt(1 + relative_noise * relative_noise))
                       : 0.0f;
    }
    RETURN_IF_ERROR(w.Array(path + "/noise_ceiling", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE,
                            {ceiling.size()}, ceiling.data()));
  }
  // Closing flushes, so its failure (disk full) must fail the write.
  if (fid.Close() < 0) {
    return absl::InternalError(absl::StrCat(file, ": cannot close the HDF5 file"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteSyntheticDataset(const std::string& path, const SynthOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  internal::SilenceHdf5Errors();
  const std::string tmp = path + ".tmp";
  absl::Status status = WriteFile(tmp, options);
  std::error_code ec;
  if (status.ok()) {
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
      status = absl::InternalError(
          absl::StrCat(path, ": cannot rename ", tmp, " into place: ", ec.message()));
    }
  }
  if (!status.ok()) {
    std::filesystem::remove(tmp, ec);
    return absl::Status(status.code(),
                        absl::StrCat("writing synthetic dataset ", path, ": ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace braintune::data

// The synthetic brain: a dataset whose stimulus -> response mapping is known exactly, so the
// trainer and the evaluator can be tested end to end without real fMRI.
//
// Audio: each story is a sequence of "words" (2-7 phonemes of 90 ms, gaps of 50-400 ms), each of
// one of 4 classes; a word sounds as a Hann-windowed tone whose pitch names its class, over a
// faint white noise floor. Word text is a pseudo-word whose letter count tracks its phoneme count
// (the word-length confound of design.md section 1); its phonemes are its first letters in
// ARPAbet, one per 90 ms.
// Latents, stored as ground truth under /stimuli/<story>/features/: "latent" (acoustic), per
// response sample the fraction of it covered by each class; "semantic", each word's meaning
// (its class's vector plus per-word noise, which the audio does not carry) integrated over a
// few seconds of context, so it varies more slowly than the sound.
// Response: both latents convolved with a canonical double-gamma HRF (fMRI, one sample per tr)
// or a 0-300 ms exponential kernel (MEG), mixed into targets by one block-structured matrix
// shared by all participants (ROI "auditory": mostly acoustic; "language": mostly semantic),
// scaled by a per-participant gain, plus Gaussian noise whose level grows with the participant
// index. The stored noise ceiling is the exact correlation this noise allows; the test story
// also gets independent noisy repeats.
#include <algorithm>
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
#include "data/hdf5_writer.h"

namespace braintune::data {
namespace {

using internal::Handle;
using internal::Writer;

constexpr double kPi = 3.14159265358979323846;
constexpr int kClasses = 4;
constexpr double kToneHz[kClasses] = {110, 220, 390, 620};
constexpr double kPhonemeSeconds = 0.09;
constexpr int kHrfLags = 5;
constexpr double kAudioNoiseStd = 0.02;
constexpr double kMegKernelSeconds = 0.3;
constexpr double kMegTimeConstant = 0.1;
// Context over which word meanings are integrated: slower than the sound, so the two ROIs
// respond differently.
constexpr double kSemanticSeconds = 4.0;
// Weight of the other ROI's latent in a target, relative to its own ("mostly").
constexpr double kCrossTalk = 0.15;

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
  std::vector<double> meaning;  // [semantic_dims]
};

struct SynthStory {
  std::string name;
  std::vector<Word> words;
  std::vector<float> audio;
  std::vector<float> latent;    // acoustic, [n_times, kClasses]
  std::vector<float> semantic;  // [n_times, semantic_dims]
  std::vector<double> signal;   // noiseless response before the participant gain, [n_times, targets]
};

// The response sampling: one sample per tr (fMRI) or per 1/response_rate (MEG).
struct Sampling {
  double dt = 0;               // seconds per sample
  int64_t n_times = 0;         // per story
  std::vector<double> kernel;  // response to a latent, by lag in samples; sums to 1
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
// of the first kHrfLags TRs.
std::vector<double> Hrf(double tr) {
  auto gamma_pdf = [](double t, double shape) {
    return std::exp((shape - 1) * std::log(t) - t - std::lgamma(shape));
  };
  std::vector<double> h(kHrfLags);
  for (int l = 0; l < kHrfLags; ++l) {
    const double t = l * tr + tr / 2;
    h[l] = gamma_pdf(t, 6) - gamma_pdf(t, 16) / 6;
  }
  return h;
}

// MEG: an evoked response that decays over the first 300 ms, no hemodynamic delay.
std::vector<double> MegKernel(double dt) {
  std::vector<double> h;
  for (double t = dt / 2; t < kMegKernelSeconds; t += dt) h.push_back(std::exp(-t / kMegTimeConstant));
  return h;
}

Sampling MakeSampling(const SynthOptions& o) {
  Sampling s;
  const bool meg = o.modality == "meg";
  s.dt = meg ? 1.0 / o.response_rate : o.tr;
  s.n_times = static_cast<int64_t>(std::floor(o.story_seconds / s.dt + 1e-9));
  s.kernel = meg ? MegKernel(s.dt) : Hrf(o.tr);
  // Normalised so that a sustained latent keeps its amplitude.
  double sum = 0;
  for (double v : s.kernel) sum += v;
  for (double& v : s.kernel) v /= sum;
  return s;
}

// The ARPAbet phoneme each pseudo-word letter stands for.
const char* Phoneme(char letter) {
  static constexpr std::pair<char, const char*> kArpabet[] = {
      {'a', "AE"}, {'e', "EH"}, {'i', "IH"}, {'o', "AA"}, {'u', "AH"}, {'b', "B"}, {'d', "D"},
      {'f', "F"},  {'g', "G"},  {'k', "K"},  {'l', "L"},  {'m', "M"},  {'n', "N"}, {'p', "P"},
      {'r', "R"},  {'s', "S"},  {'t', "T"},  {'v', "V"},  {'z', "Z"}};
  for (const auto& [l, phoneme] : kArpabet) {
    if (l == letter) return phoneme;
  }
  return "SIL";  // unreachable: PseudoWord draws from the letters above
}

// Adds values[k] times the fraction of sample i that the word covers to out[i * stride + k]:
// a latent that is constant over a word, seen at the response sampling.
void AddCoverage(const Word& w, const Sampling& sampling, const std::vector<double>& values,
                 size_t stride, std::vector<float>* out) {
  const double dt = sampling.dt;
  const int64_t last = std::min<int64_t>(sampling.n_times - 1, static_cast<int64_t>(w.offset / dt));
  for (int64_t i = static_cast<int64_t>(w.onset / dt); i <= last; ++i) {
    const double overlap = std::min(w.offset, (i + 1) * dt) - std::max(w.onset, i * dt);
    if (overlap <= 0) continue;
    for (size_t k = 0; k < values.size(); ++k) {
      (*out)[i * stride + k] += static_cast<float>(overlap / dt * values[k]);
    }
  }
}

// The fixed parts of the brain, drawn once per dataset.
struct Brain {
  Sampling sampling;
  int inputs = 0;                       // kClasses acoustic + semantic_dims
  std::vector<double> mixing;           // [targets, inputs], block-structured by ROI
  std::vector<double> class_meaning;    // [kClasses, semantic_dims]
  int n_auditory = 0;                   // targets [0, n_auditory) are "auditory", the rest "language"
};

SynthStory MakeStory(Rng& rng, const SynthOptions& o, int index, const Brain& brain) {
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
  for (Word& w : s.words) {
    for (int j = 0; j < o.semantic_dims; ++j) {
      w.meaning.push_back(brain.class_meaning[w.word_class * o.semantic_dims + j] +
                          o.semantic_noise * rng.Normal());
    }
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

  const Sampling& sampling = brain.sampling;
  const int64_t n = sampling.n_times;
  const size_t dims = o.semantic_dims;
  s.latent.assign(n * kClasses, 0.0f);
  std::vector<float> meaning(n * dims, 0.0f);
  for (const Word& w : s.words) {
    std::vector<double> one_hot(kClasses, 0.0);
    one_hot[w.word_class] = 1;
    AddCoverage(w, sampling, one_hot, kClasses, &s.latent);
    AddCoverage(w, sampling, w.meaning, dims, &meaning);
  }
  // Leaky integration: the meaning of the last few seconds of words.
  const double keep = std::exp(-sampling.dt / kSemanticSeconds);
  s.semantic.assign(n * dims, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < dims; ++j) {
      const double previous = i > 0 ? s.semantic[(i - 1) * dims + j] : 0.0;
      s.semantic[i * dims + j] =
          static_cast<float>(keep * previous + (1 - keep) * meaning[i * dims + j]);
    }
  }

  const int inputs = brain.inputs;
  s.signal.assign(n * o.targets, 0.0);
  std::vector<double> convolved(inputs);
  for (int64_t i = 0; i < n; ++i) {
    std::fill(convolved.begin(), convolved.end(), 0.0);
    for (size_t l = 0; l < sampling.kernel.size() && static_cast<int64_t>(l) <= i; ++l) {
      const double h = sampling.kernel[l];
      for (int k = 0; k < kClasses; ++k) convolved[k] += h * s.latent[(i - l) * kClasses + k];
      for (size_t j = 0; j < dims; ++j) convolved[kClasses + j] += h * s.semantic[(i - l) * dims + j];
    }
    for (int v = 0; v < o.targets; ++v) {
      for (int k = 0; k < inputs; ++k) {
        s.signal[i * o.targets + v] += brain.mixing[v * inputs + k] * convolved[k];
      }
    }
  }
  return s;
}

Brain MakeBrain(Rng& rng, const SynthOptions& o) {
  Brain b;
  b.sampling = MakeSampling(o);
  b.inputs = kClasses + o.semantic_dims;
  b.n_auditory = o.targets - static_cast<int>(std::lround(o.targets * o.language_fraction));
  b.mixing.resize(o.targets * b.inputs);
  for (int v = 0; v < o.targets; ++v) {
    const bool auditory = v < b.n_auditory;
    for (int k = 0; k < b.inputs; ++k) {
      const bool acoustic = k < kClasses;
      b.mixing[v * b.inputs + k] = (auditory == acoustic ? 1.0 : kCrossTalk) * rng.Normal();
    }
  }
  b.class_meaning.resize(kClasses * o.semantic_dims);
  for (double& m : b.class_meaning) m = rng.Normal();
  return b;
}


absl::Status CheckOptions(const SynthOptions& o) {
  if (o.participants < 1 || o.stories < 1 || o.targets < 1 || o.semantic_dims < 1) {
    return absl::InvalidArgumentError(
        "synthetic dataset: participants, stories, targets and semantic_dims must be >= 1");
  }
  if (o.modality != "fmri" && o.modality != "meg") {
    return absl::InvalidArgumentError(
        absl::StrCat("synthetic dataset: modality must be \"fmri\" or \"meg\", got \"",
                     o.modality, "\""));
  }
  const double dt = o.modality == "meg" ? 1 / o.response_rate : o.tr;
  if (!(o.tr > 0) || !(o.response_rate > 0) || !(o.sample_rate > 0) ||
      !(o.story_seconds >= dt) || !(o.noise >= 0) || !(o.semantic_noise >= 0)) {
    return absl::InvalidArgumentError(
        "synthetic dataset: need tr > 0, response_rate > 0, sample_rate > 0, story_seconds at "
        "least one response sample, noise >= 0, semantic_noise >= 0");
  }
  if (!(o.language_fraction >= 0 && o.language_fraction <= 1)) {
    return absl::InvalidArgumentError("synthetic dataset: language_fraction must be in [0, 1]");
  }
  // A noise ceiling needs two presentations at least; the format rejects one.
  if (o.n_repeats < 0 || o.n_repeats == 1) {
    return absl::InvalidArgumentError("synthetic dataset: n_repeats must be 0 or >= 2");
  }
  if (o.test_story_index < -1 || o.test_story_index >= o.stories) {
    return absl::InvalidArgumentError(
        "synthetic dataset: test_story_index must be -1 (the last story) or a story index");
  }
  return absl::OkStatus();
}

absl::Status WriteIntervals(Writer& w, const std::string& path,
                            const std::vector<Interval>& intervals) {
  std::vector<double> onsets, offsets;
  std::vector<std::string> texts;
  for (const Interval& i : intervals) {
    onsets.push_back(i.onset);
    offsets.push_back(i.offset);
    texts.push_back(i.text);
  }
  return w.Intervals(path, onsets, offsets, texts);
}

absl::Status WriteFeature(Writer& w, const std::string& path, const std::vector<float>& values,
                          const Sampling& sampling) {
  const hsize_t n = static_cast<hsize_t>(sampling.n_times);
  std::vector<double> times(n);
  for (hsize_t i = 0; i < n; ++i) times[i] = i * sampling.dt;
  RETURN_IF_ERROR(w.Array(path, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {n, values.size() / n},
                          values.data()));
  return w.Array(path + "_times", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, {n}, times.data());
}

absl::Status WriteStory(Writer& w, const SynthStory& s, const SynthOptions& o,
                        const Sampling& sampling) {
  const std::string path = "/stimuli/" + s.name;
  RETURN_IF_ERROR(w.Group(path));
  RETURN_IF_ERROR(w.Array(path + "/audio", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {s.audio.size()},
                          s.audio.data()));
  RETURN_IF_ERROR(w.Attr(path + "/audio", "sample_rate", o.sample_rate));
  std::vector<Interval> words, phonemes;
  for (const Word& word : s.words) {
    words.push_back({word.onset, word.offset, word.text});
    for (int j = 0; j < word.n_phonemes; ++j) {
      const double onset = word.onset + j * kPhonemeSeconds;
      phonemes.push_back({onset, onset + kPhonemeSeconds, Phoneme(word.text[j])});
    }
  }
  RETURN_IF_ERROR(WriteIntervals(w, path + "/words", words));
  RETURN_IF_ERROR(WriteIntervals(w, path + "/phonemes", phonemes));
  RETURN_IF_ERROR(w.Group(path + "/features"));
  RETURN_IF_ERROR(WriteFeature(w, path + "/features/latent", s.latent, sampling));
  return WriteFeature(w, path + "/features/semantic", s.semantic, sampling);
}

absl::Status WriteFile(const std::string& file, const SynthOptions& o) {
  Rng rng(o.seed);
  const Brain brain = MakeBrain(rng, o);
  std::vector<double> gains(o.participants);
  for (double& g : gains) g = rng.Uniform(0.8, 1.2);
  std::vector<SynthStory> stories;
  for (int s = 0; s < o.stories; ++s) stories.push_back(MakeStory(rng, o, s, brain));
  const int test_story = o.test_story_index < 0 ? o.stories - 1 : o.test_story_index;

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
  RETURN_IF_ERROR(w.Attr("/", "modality", o.modality));
  RETURN_IF_ERROR(w.Attr("/", "name", o.name));

  RETURN_IF_ERROR(w.Group("/stimuli"));
  for (const SynthStory& s : stories) RETURN_IF_ERROR(WriteStory(w, s, o, brain.sampling));

  const hsize_t n_times = static_cast<hsize_t>(brain.sampling.n_times);
  const hsize_t targets = static_cast<hsize_t>(o.targets);
  RETURN_IF_ERROR(w.Group("/participants"));
  for (int p = 0; p < o.participants; ++p) {
    const std::string path = absl::StrFormat("/participants/sub-%02d", p + 1);
    const double relative_noise = o.noise * (1 + 0.5 * p / o.participants);
    // One presentation of a story: gain * (signal + noise), noise fresh on every call.
    auto present = [&](const SynthStory& s, float* out) {
      for (size_t i = 0; i < s.signal.size(); ++i) {
        // A target without signal (no words at all) still gets unit-scale noise.
        const double scale = signal_std[i % o.targets] > 0 ? signal_std[i % o.targets] : 1.0;
        out[i] = static_cast<float>(gains[p] * (s.signal[i] + relative_noise * scale * rng.Normal()));
      }
    };
    RETURN_IF_ERROR(w.Group(path));
    RETURN_IF_ERROR(w.Attr(path, "space", o.space));
    RETURN_IF_ERROR(w.Attr(path, "n_targets", int64_t{o.targets}));
    RETURN_IF_ERROR(w.Group(path + "/runs"));
    for (const SynthStory& s : stories) {
      std::vector<float> responses(s.signal.size());
      present(s, responses.data());
      const std::string run = path + "/runs/" + s.name;
      RETURN_IF_ERROR(w.Group(run));
      const std::string ds = run + "/responses";
      RETURN_IF_ERROR(w.Array(ds, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {n_times, targets},
                              responses.data()));
      RETURN_IF_ERROR(o.modality == "meg" ? w.Attr(ds, "sample_rate", o.response_rate)
                                          : w.Attr(ds, "tr", o.tr));
      RETURN_IF_ERROR(w.Attr(ds, "t0", 0.0));
    }
    if (o.n_repeats > 0) {
      const SynthStory& s = stories[test_story];
      std::vector<float> repeats(o.n_repeats * s.signal.size());
      for (int r = 0; r < o.n_repeats; ++r) present(s, repeats.data() + r * s.signal.size());
      RETURN_IF_ERROR(w.Group(path + "/repeats"));
      RETURN_IF_ERROR(w.Array(path + "/repeats/" + s.name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE,
                              {static_cast<hsize_t>(o.n_repeats), n_times, targets},
                              repeats.data()));
    }
    std::vector<float> ceiling(o.targets);
    for (int v = 0; v < o.targets; ++v) {
      ceiling[v] = signal_std[v] > 0
                       ? static_cast<float>(1 / std::sqrt(1 + relative_noise * relative_noise))
                       : 0.0f;
    }
    RETURN_IF_ERROR(w.Array(path + "/noise_ceiling", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE,
                            {ceiling.size()}, ceiling.data()));
    RETURN_IF_ERROR(w.Group(path + "/rois"));
    std::vector<int32_t> auditory, language;
    for (int v = 0; v < o.targets; ++v) (v < brain.n_auditory ? auditory : language).push_back(v);
    for (const auto& [name, roi] : {std::pair{"auditory", &auditory}, std::pair{"language", &language}}) {
      if (roi->empty()) continue;  // the format has no empty ROIs
      RETURN_IF_ERROR(w.Array(path + "/rois/" + name, H5T_NATIVE_INT32, H5T_STD_I32LE,
                              {roi->size()}, roi->data()));
    }
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

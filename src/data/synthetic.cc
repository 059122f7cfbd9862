// The synthetic brain: a dataset whose stimulus -> response mapping is known exactly, so the
// trainer and the evaluator can be tested end to end without real fMRI.
//
// Lexicon: 4 word classes (coarse meanings), each with a vocabulary of kWordsPerClass
// pseudo-words drawn once per dataset; a word's meaning is its class's vector plus a deviation of
// its own. Meaning is carried by which word is said, as in real speech, never by how it sounds:
// nothing in the sound but the word's phonemes tells its class. A word's text has one letter per
// phoneme plus 0-2 silent ones (the word-length confound of design.md section 1); its phonemes are
// its first letters in ARPAbet.
// Audio: each story is a sequence of words (2-7 phonemes of 60-130 ms each, pauses of 50-400 ms);
// every phoneme sounds as a Hann-windowed pair of partials at frequencies of its own (a fixed
// share of the sample rate, so they never alias), over a faint white noise floor. A phoneme
// recogniser can tell the phonemes apart; the word's class needs its phoneme sequence.
// Latents, stored as ground truth under /stimuli/<story>/features/, one row per response sample:
// "envelope" (mean amplitude envelope of the sound), "phoneme_rate" and "word_rate" (per
// second), and "semantic": the meanings of the words heard, integrated over a few seconds of
// context, so it varies slowly.
// Response: the latents, standardised, convolved with a canonical double-gamma HRF (fMRI, one
// sample per tr) or a 0-300 ms exponential kernel (MEG), mixed into each participant's targets by
// a matrix of its own (a shared part plus a participant-specific part, both block-structured by
// ROI: "auditory" targets are driven mostly by the phoneme rate, "language" targets mostly by the
// semantic features), scaled by a per-participant gain, plus Gaussian noise whose level grows
// with the participant index. The stored noise ceiling is the exact correlation this noise
// allows; the test story also gets independent noisy repeats.
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "data/hdf5_util.h"
#include "data/hdf5_writer.h"

namespace braintune::data {
namespace {

using internal::Handle;
using internal::Writer;

constexpr double kPi = 3.14159265358979323846;
constexpr int kClasses = 4;
constexpr int kWordsPerClass = 10;
// A phoneme's two partials, as shares of the audio sample rate (below the Nyquist 0.5): the
// first from 7 values, the second from 3, so the 19 phonemes of Phoneme() all differ, and
// neighbours are 0.03 apart (48 Hz at the default 1600 Hz, resolved within one 60 ms phoneme).
constexpr double kFirstPartial[7] = {0.06, 0.09, 0.12, 0.15, 0.18, 0.21, 0.24};
constexpr double kSecondPartial[3] = {0.30, 0.36, 0.42};
constexpr double kSecondPartialGain = 0.6;
// Audio samples per story at most (about 37 hours at 16 kHz): the story is built in memory.
constexpr int64_t kMaxStorySamples = 2147483647;
constexpr double kMinPhonemeSeconds = 0.06;
constexpr double kMaxPhonemeSeconds = 0.13;
constexpr int kHrfLags = 5;
constexpr double kAudioNoiseStd = 0.02;
constexpr double kMegKernelSeconds = 0.3;
constexpr double kMegTimeConstant = 0.1;
// Context over which word meanings are integrated: slower than the sound, so the two ROIs
// respond differently.
constexpr double kSemanticSeconds = 4.0;

// The latent inputs of the brain, in the order of a mixing matrix's columns; semantic dimensions
// follow these.
enum Input { kEnvelope = 0, kPhonemeRate = 1, kWordRate = 2, kAcousticInputs = 3 };
// Weight scale of each input in a target of either ROI (relative std of its mixing weights):
// the auditory ROI follows the phoneme rate, the language ROI the meaning.
constexpr double kAuditoryScale[kAcousticInputs] = {0.5, 1.0, 0.3};
constexpr double kAuditorySemanticScale = 0.15;
constexpr double kLanguageScale[kAcousticInputs] = {0.15, 0.15, 0.5};
constexpr double kLanguageSemanticScale = 1.0;

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
  std::vector<double> phoneme_seconds;  // durations; they tile [onset, offset)
  int word_class = 0;
  int vocabulary_index = 0;  // into Brain::lexicon
  double amplitude = 0;
  std::string text;
  std::vector<double> meaning;  // [semantic_dims]
};

struct SynthStory {
  std::string name;
  std::vector<Word> words;
  std::vector<float> audio;
  // Stored latents, one row per response sample.
  std::vector<float> envelope, phoneme_rate, word_rate;  // [n_times]
  std::vector<float> semantic;                           // [n_times, semantic_dims]
  // The latents convolved with the response kernel, [n_times, inputs]; standardised over the
  // whole dataset before mixing.
  std::vector<double> drive;
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

// The ARPAbet phoneme each pseudo-word letter stands for; its index picks its partials.
constexpr std::pair<char, const char*> kArpabet[] = {
    {'a', "AE"}, {'e', "EH"}, {'i', "IH"}, {'o', "AA"}, {'u', "AH"}, {'b', "B"}, {'d', "D"},
    {'f', "F"},  {'g', "G"},  {'k', "K"},  {'l', "L"},  {'m', "M"},  {'n', "N"}, {'p', "P"},
    {'r', "R"},  {'s', "S"},  {'t', "T"},  {'v', "V"},  {'z', "Z"}};
static_assert(std::size(kArpabet) <= std::size(kFirstPartial) * std::size(kSecondPartial));

int PhonemeIndex(char letter) {
  for (size_t i = 0; i < std::size(kArpabet); ++i) {
    if (kArpabet[i].first == letter) return static_cast<int>(i);
  }
  return 0;  // unreachable: PseudoWord draws from the letters above
}

const char* Phoneme(char letter) { return kArpabet[PhonemeIndex(letter)].second; }

// Adds values[k] times the fraction of sample i that [onset, offset) covers to
// out[i * stride + k]: a latent that is constant over an interval, seen at the response sampling.
void AddCoverage(double onset, double offset, const Sampling& sampling,
                 const std::vector<double>& values, size_t stride, std::vector<float>* out) {
  const double dt = sampling.dt;
  const int64_t last = std::min<int64_t>(sampling.n_times - 1, static_cast<int64_t>(offset / dt));
  for (int64_t i = static_cast<int64_t>(onset / dt); i <= last; ++i) {
    const double overlap = std::min(offset, (i + 1) * dt) - std::max(onset, i * dt);
    if (overlap <= 0) continue;
    for (size_t k = 0; k < values.size(); ++k) {
      (*out)[i * stride + k] += static_cast<float>(overlap / dt * values[k]);
    }
  }
}

// The fixed parts of the brain, drawn once per dataset.
// A word of the lexicon: what is said (its first n_phonemes letters) and what it means.
struct LexiconWord {
  std::string text;
  int n_phonemes = 0;
  int word_class = 0;
  std::vector<double> meaning;  // [semantic_dims]: its class's vector plus its own deviation
};

struct Brain {
  Sampling sampling;
  int inputs = 0;                     // kAcousticInputs + semantic_dims
  std::vector<double> class_meaning;  // [kClasses, semantic_dims]
  std::vector<LexiconWord> lexicon;   // [kClasses * kWordsPerClass], class-major
  int n_auditory = 0;                 // targets [0, n_auditory) are "auditory", the rest "language"
  std::vector<double> shared_mixing;  // [targets, inputs], the part every participant shares
};

// Mixing weights with the ROI block structure: each weight a normal draw times its input's scale
// in the target's ROI.
std::vector<double> DrawMixing(Rng& rng, const SynthOptions& o, const Brain& b) {
  std::vector<double> m(static_cast<size_t>(o.targets) * b.inputs);
  for (int v = 0; v < o.targets; ++v) {
    const bool auditory = v < b.n_auditory;
    for (int k = 0; k < b.inputs; ++k) {
      const double scale =
          k < kAcousticInputs
              ? (auditory ? kAuditoryScale[k] : kLanguageScale[k])
              : (auditory ? kAuditorySemanticScale : kLanguageSemanticScale);
      m[v * b.inputs + k] = scale * rng.Normal();
    }
  }
  return m;
}

Brain MakeBrain(Rng& rng, const SynthOptions& o) {
  Brain b;
  b.sampling = MakeSampling(o);
  b.inputs = kAcousticInputs + o.semantic_dims;
  b.n_auditory = o.targets - static_cast<int>(std::lround(o.targets * o.language_fraction));
  b.shared_mixing = DrawMixing(rng, o, b);
  b.class_meaning.resize(kClasses * o.semantic_dims);
  for (double& m : b.class_meaning) m = rng.Normal();
  // Every word sounds different from every other (distinct phoneme sequences), so its class is
  // always recoverable from what is heard.
  std::set<std::string> spoken;
  for (int c = 0; c < kClasses; ++c) {
    for (int k = 0; k < kWordsPerClass; ++k) {
      LexiconWord w;
      w.word_class = c;
      do {
        w.n_phonemes = rng.UniformInt(2, 7);
        w.text = PseudoWord(rng, w.n_phonemes);
      } while (!spoken.insert(w.text.substr(0, w.n_phonemes)).second);
      for (int j = 0; j < o.semantic_dims; ++j) {
        w.meaning.push_back(b.class_meaning[c * o.semantic_dims + j] + o.semantic_noise * rng.Normal());
      }
      b.lexicon.push_back(std::move(w));
    }
  }
  return b;
}

SynthStory MakeStory(Rng& rng, const SynthOptions& o, int index, const Brain& brain) {
  SynthStory s;
  s.name = absl::StrFormat("story_%02d", index);
  for (double t = rng.Uniform(0.05, 0.4);;) {
    Word w;
    w.vocabulary_index = rng.UniformInt(0, kClasses * kWordsPerClass - 1);
    const LexiconWord& said = brain.lexicon[w.vocabulary_index];
    w.word_class = said.word_class;
    w.onset = t;
    w.offset = t;
    for (int j = 0; j < said.n_phonemes; ++j) {
      w.phoneme_seconds.push_back(rng.Uniform(kMinPhonemeSeconds, kMaxPhonemeSeconds));
      w.offset += w.phoneme_seconds.back();
    }
    if (w.offset > o.story_seconds) break;
    w.text = said.text;
    w.meaning = said.meaning;
    w.amplitude = rng.Uniform(0.5, 1.0);
    t = w.offset + rng.Uniform(0.05, 0.4);
    s.words.push_back(std::move(w));
  }

  // Each phoneme its own pair of partials, Hann-windowed; `envelope` is the amplitude envelope.
  const int64_t n_samples = std::llround(o.story_seconds * o.sample_rate);
  std::vector<double> audio(n_samples, 0.0), envelope(n_samples, 0.0);
  for (const Word& w : s.words) {
    double onset = w.onset;
    for (size_t j = 0; j < w.phoneme_seconds.size(); ++j) {
      const double duration = w.phoneme_seconds[j];
      const int index = PhonemeIndex(w.text[j]);
      const double f1 = kFirstPartial[index % std::size(kFirstPartial)] * o.sample_rate;
      const double f2 = kSecondPartial[index / std::size(kFirstPartial)] * o.sample_rate;
      const int64_t first = static_cast<int64_t>(std::ceil(onset * o.sample_rate));
      for (int64_t i = first; i < n_samples && i < (onset + duration) * o.sample_rate; ++i) {
        const double t = i / o.sample_rate - onset;
        envelope[i] = w.amplitude * 0.5 * (1 - std::cos(2 * kPi * t / duration));
        audio[i] += envelope[i] * (std::sin(2 * kPi * f1 * t) + kSecondPartialGain * std::sin(2 * kPi * f2 * t)) /
                    (1 + kSecondPartialGain);
      }
      onset += duration;
    }
  }
  s.audio.resize(n_samples);
  for (int64_t i = 0; i < n_samples; ++i) {
    s.audio[i] = static_cast<float>(audio[i] + kAudioNoiseStd * rng.Normal());
  }

  const Sampling& sampling = brain.sampling;
  const int64_t n = sampling.n_times;
  const size_t dims = o.semantic_dims;
  s.envelope.assign(n, 0.0f);
  std::vector<int64_t> count(n, 0);
  for (int64_t i = 0; i < n_samples; ++i) {
    const int64_t row = static_cast<int64_t>(i / o.sample_rate / sampling.dt);
    if (row >= n) break;
    s.envelope[row] += static_cast<float>(envelope[i]);
    ++count[row];
  }
  for (int64_t i = 0; i < n; ++i) {
    if (count[i] > 0) s.envelope[i] /= static_cast<float>(count[i]);
  }
  // Rates: an interval of duration d contributes 1/d per second while it lasts, so a sample's
  // value is the number of phonemes (words) per second in it.
  s.phoneme_rate.assign(n, 0.0f);
  s.word_rate.assign(n, 0.0f);
  std::vector<float> meaning(n * dims, 0.0f);
  for (const Word& w : s.words) {
    double onset = w.onset;
    for (double duration : w.phoneme_seconds) {
      AddCoverage(onset, onset + duration, sampling, {1 / duration}, 1, &s.phoneme_rate);
      onset += duration;
    }
    AddCoverage(w.onset, w.offset, sampling, {1 / (w.offset - w.onset)}, 1, &s.word_rate);
    AddCoverage(w.onset, w.offset, sampling, w.meaning, dims, &meaning);
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
  return s;
}

// Latent k of a story at response sample i.
double LatentAt(const SynthStory& s, int dims, int64_t i, int k) {
  switch (k) {
    case kEnvelope: return s.envelope[i];
    case kPhonemeRate: return s.phoneme_rate[i];
    case kWordRate: return s.word_rate[i];
    default: return s.semantic[i * dims + (k - kAcousticInputs)];
  }
}

// Each story's drive: its latents, centred on their means over the dataset (as if the listener
// had been hearing average speech before the story, so there is no onset transient), through
// the response kernel.
void ComputeDrives(const Brain& brain, int dims, std::vector<SynthStory>* stories) {
  const int inputs = brain.inputs;
  const std::vector<double>& kernel = brain.sampling.kernel;
  std::vector<double> mean(inputs, 0.0);
  int64_t count = 0;
  for (const SynthStory& s : *stories) {
    for (int64_t i = 0; i < brain.sampling.n_times; ++i, ++count) {
      for (int k = 0; k < inputs; ++k) mean[k] += LatentAt(s, dims, i, k);
    }
  }
  for (double& m : mean) m /= count;
  for (SynthStory& s : *stories) {
    const int64_t n = brain.sampling.n_times;
    s.drive.assign(n * inputs, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      for (size_t l = 0; l < kernel.size() && static_cast<int64_t>(l) <= i; ++l) {
        for (int k = 0; k < inputs; ++k) {
          s.drive[i * inputs + k] += kernel[l] * (LatentAt(s, dims, i - l, k) - mean[k]);
        }
      }
    }
  }
}

// Standardises every input of the drive over the whole dataset (so that the mixing scales mean
// what they say) and returns the inputs' covariance [inputs, inputs] after it, from which the
// std of any mixture follows in closed form.
std::vector<double> StandardiseDrive(int inputs, std::vector<SynthStory>* stories) {
  std::vector<double> mean(inputs, 0.0), cov(inputs * inputs, 0.0);
  int64_t count = 0;
  for (const SynthStory& s : *stories) {
    for (size_t i = 0; i < s.drive.size(); ++i) mean[i % inputs] += s.drive[i];
    count += static_cast<int64_t>(s.drive.size()) / inputs;
  }
  for (double& m : mean) m /= count;
  std::vector<double> var(inputs, 0.0);
  for (const SynthStory& s : *stories) {
    for (size_t i = 0; i < s.drive.size(); ++i) {
      var[i % inputs] += (s.drive[i] - mean[i % inputs]) * (s.drive[i] - mean[i % inputs]);
    }
  }
  for (SynthStory& s : *stories) {
    for (size_t i = 0; i < s.drive.size(); ++i) {
      const double sd = std::sqrt(var[i % inputs] / count);
      s.drive[i] = sd > 0 ? (s.drive[i] - mean[i % inputs]) / sd : 0.0;
    }
  }
  for (const SynthStory& s : *stories) {
    const int64_t n = static_cast<int64_t>(s.drive.size()) / inputs;
    for (int64_t i = 0; i < n; ++i) {
      for (int a = 0; a < inputs; ++a) {
        for (int b = 0; b < inputs; ++b) {
          cov[a * inputs + b] += s.drive[i * inputs + a] * s.drive[i * inputs + b] / count;
        }
      }
    }
  }
  return cov;
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
  // Infinite values (a flag of 1e400, "inf") would write non-finite stimuli and responses, or
  // never end; every size follows from these.
  for (double v : {o.story_seconds, o.sample_rate, o.tr, o.response_rate, o.noise, o.semantic_noise}) {
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(
          "synthetic dataset: story_seconds, sample_rate, tr, response_rate, noise and semantic_noise must be finite");
    }
  }
  if (o.story_seconds * o.sample_rate > static_cast<double>(kMaxStorySamples)) {
    return absl::InvalidArgumentError(absl::StrCat("synthetic dataset: story_seconds x sample_rate must be at most ",
                                                   kMaxStorySamples, " audio samples per story"));
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
  if (!(o.participant_specificity >= 0 && o.participant_specificity <= 1)) {
    return absl::InvalidArgumentError(
        "synthetic dataset: participant_specificity must be in [0, 1]");
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
    double onset = word.onset;
    for (size_t j = 0; j < word.phoneme_seconds.size(); ++j) {
      phonemes.push_back({onset, onset + word.phoneme_seconds[j], Phoneme(word.text[j])});
      onset += word.phoneme_seconds[j];
    }
  }
  RETURN_IF_ERROR(w.Intervals(path + "/words", words));
  // Each word's semantic class: what the word-meaning probe predicts (docs/evaluation.md).
  std::vector<int32_t> classes;
  for (const Word& word : s.words) classes.push_back(word.word_class);
  RETURN_IF_ERROR(w.Array(path + "/words/class", H5T_NATIVE_INT32, H5T_STD_I32LE, {classes.size()}, classes.data()));
  RETURN_IF_ERROR(w.Intervals(path + "/phonemes", phonemes));
  RETURN_IF_ERROR(w.Group(path + "/features"));
  RETURN_IF_ERROR(WriteFeature(w, path + "/features/envelope", s.envelope, sampling));
  RETURN_IF_ERROR(WriteFeature(w, path + "/features/phoneme_rate", s.phoneme_rate, sampling));
  RETURN_IF_ERROR(WriteFeature(w, path + "/features/word_rate", s.word_rate, sampling));
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
  const int inputs = brain.inputs;
  ComputeDrives(brain, o.semantic_dims, &stories);
  const std::vector<double> cov = StandardiseDrive(inputs, &stories);

  internal::Handle fid = internal::CreateUntimedFile(file);
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
  const double shared = std::sqrt(1 - o.participant_specificity);
  const double own = std::sqrt(o.participant_specificity);
  RETURN_IF_ERROR(w.Group("/participants"));
  for (int p = 0; p < o.participants; ++p) {
    const std::string path = absl::StrFormat("/participants/sub-%02d", p + 1);
    const double relative_noise = o.noise * (1 + 0.5 * p / o.participants);
    // This participant's mixing of the shared latent space.
    std::vector<double> mixing = DrawMixing(rng, o, brain);
    for (size_t i = 0; i < mixing.size(); ++i) {
      mixing[i] = shared * brain.shared_mixing[i] + own * mixing[i];
    }
    // Noise is set relative to each target's signal std over the whole dataset (sqrt(m' C m)),
    // so that the noise ceiling is the same for every target of a participant and known in
    // closed form.
    std::vector<double> noise_std(o.targets);
    std::vector<float> ceiling(o.targets, 0.0f);
    for (int v = 0; v < o.targets; ++v) {
      const double* m = &mixing[v * inputs];
      double var = 0;
      for (int a = 0; a < inputs; ++a) {
        for (int b = 0; b < inputs; ++b) var += m[a] * cov[a * inputs + b] * m[b];
      }
      // A target without signal (no words at all) still gets unit-scale noise.
      noise_std[v] = relative_noise * (var > 0 ? std::sqrt(var) : 1.0);
      if (var > 0) ceiling[v] = static_cast<float>(1 / std::sqrt(1 + relative_noise * relative_noise));
    }
    std::vector<double> signal;
    // One presentation of a story: gain * (signal + noise), noise fresh on every call.
    auto present = [&](float* out) {
      for (size_t i = 0; i < signal.size(); ++i) {
        out[i] = static_cast<float>(gains[p] * (signal[i] + noise_std[i % o.targets] * rng.Normal()));
      }
    };
    RETURN_IF_ERROR(w.Group(path));
    RETURN_IF_ERROR(w.Attr(path, "space", o.space));
    RETURN_IF_ERROR(w.Attr(path, "n_targets", int64_t{o.targets}));
    RETURN_IF_ERROR(w.Group(path + "/runs"));
    for (int story = 0; story < o.stories; ++story) {
      const SynthStory& s = stories[story];
      signal.assign(n_times * targets, 0.0);
      for (hsize_t i = 0; i < n_times; ++i) {
        const double* drive = &s.drive[i * inputs];
        for (int v = 0; v < o.targets; ++v) {
          const double* m = &mixing[v * inputs];
          double sum = 0;
          for (int k = 0; k < inputs; ++k) sum += m[k] * drive[k];
          signal[i * targets + v] = sum;
        }
      }
      std::vector<float> responses(signal.size());
      present(responses.data());
      const std::string run = path + "/runs/" + s.name;
      RETURN_IF_ERROR(w.Group(run));
      const std::string ds = run + "/responses";
      RETURN_IF_ERROR(w.Array(ds, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {n_times, targets},
                              responses.data()));
      RETURN_IF_ERROR(o.modality == "meg" ? w.Attr(ds, "sample_rate", o.response_rate)
                                          : w.Attr(ds, "tr", o.tr));
      RETURN_IF_ERROR(w.Attr(ds, "t0", 0.0));
      if (story == test_story && o.n_repeats > 0) {
        std::vector<float> repeats(o.n_repeats * signal.size());
        for (int r = 0; r < o.n_repeats; ++r) present(repeats.data() + r * signal.size());
        RETURN_IF_ERROR(w.Group(path + "/repeats"));
        RETURN_IF_ERROR(w.Array(path + "/repeats/" + s.name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE,
                                {static_cast<hsize_t>(o.n_repeats), n_times, targets},
                                repeats.data()));
      }
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

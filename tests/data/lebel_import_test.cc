// The TextGrid and WAV readers, and ImportLebel on a miniature ds003020 tree built here with
// the real layout (hf5 files written with the HDF5 C API, Praat TextGrids in both formats,
// 16-bit WAV files, respdict.json).
#include "data/lebel_import.h"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "data/dataset.h"
#include "data/hdf5_util.h"
#include "data/textgrid.h"
#include "data/wav.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace braintune::data {
namespace {

namespace fs = std::filesystem;
using internal::Handle;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

fs::path TestDir() {
  static const fs::path dir = fs::path(::testing::TempDir()) /
                              ("braintune_lebel_test_" + std::to_string(getpid()));
  return dir;
}

class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(TestDir(), ec);
  }
};
::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

void WriteBytes(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// ---------------------------------------------------------------------------------------------
// WAV files, byte by byte.

void PutU16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v & 0xFF));
  s->push_back(static_cast<char>(v >> 8));
}
void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// A RIFF/WAVE file with the given format code and raw interleaved sample bytes. A LIST chunk
// before the data checks that unknown chunks are skipped.
std::string Wav(uint16_t format, int channels, uint32_t rate, int bits, const std::string& data,
                uint32_t declared_data_size = 0) {
  std::string fmt;
  PutU16(&fmt, format);
  PutU16(&fmt, static_cast<uint16_t>(channels));
  PutU32(&fmt, rate);
  PutU32(&fmt, rate * channels * bits / 8);
  PutU16(&fmt, static_cast<uint16_t>(channels * bits / 8));
  PutU16(&fmt, static_cast<uint16_t>(bits));
  std::string body = "WAVE";
  body += "fmt ";
  PutU32(&body, static_cast<uint32_t>(fmt.size()));
  body += fmt;
  body += "LIST";
  PutU32(&body, 3);
  body += "abc";
  body.push_back('\0');  // pad byte of the odd-sized chunk
  body += "data";
  PutU32(&body, declared_data_size != 0 ? declared_data_size : static_cast<uint32_t>(data.size()));
  body += data;
  std::string file = "RIFF";
  PutU32(&file, static_cast<uint32_t>(body.size()));
  return file + body;
}

std::string Pcm16(const std::vector<int16_t>& samples) {
  std::string data;
  for (int16_t v : samples) PutU16(&data, static_cast<uint16_t>(v));
  return data;
}

std::string Float32(const std::vector<float>& samples) {
  std::string data(samples.size() * 4, '\0');
  std::memcpy(data.data(), samples.data(), data.size());
  return data;
}

TEST(WavTest, Reads16BitMono) {
  absl::StatusOr<WavAudio> wav =
      ParseWav(Wav(1, 1, 16000, 16, Pcm16({0, 16384, -32768, 32767})), "a.wav");
  ASSERT_TRUE(wav.ok()) << wav.status();
  EXPECT_EQ(wav->sample_rate, 16000);
  EXPECT_EQ(wav->channels, 1);
  EXPECT_EQ(wav->bits_per_sample, 16);
  EXPECT_THAT(wav->samples, ElementsAre(0.0f, 0.5f, -1.0f, 32767 / 32768.0f));
}

TEST(WavTest, ReadsFloat32) {
  absl::StatusOr<WavAudio> wav = ParseWav(Wav(3, 1, 44100, 32, Float32({0.25f, -0.75f})), "f.wav");
  ASSERT_TRUE(wav.ok()) << wav.status();
  EXPECT_EQ(wav->sample_rate, 44100);
  EXPECT_THAT(wav->samples, ElementsAre(0.25f, -0.75f));
}

TEST(WavTest, MixesStereoToMono) {
  // Frames (L, R): (16384, 0), (-16384, -16384), (32767, -32768).
  absl::StatusOr<WavAudio> wav =
      ParseWav(Wav(1, 2, 8000, 16, Pcm16({16384, 0, -16384, -16384, 32767, -32768})), "s.wav");
  ASSERT_TRUE(wav.ok()) << wav.status();
  EXPECT_EQ(wav->channels, 2);
  ASSERT_EQ(wav->samples.size(), 3u);
  EXPECT_FLOAT_EQ(wav->samples[0], 0.25f);
  EXPECT_FLOAT_EQ(wav->samples[1], -0.5f);
  EXPECT_NEAR(wav->samples[2], 0.0f, 1e-4);
}

TEST(WavTest, RejectsTruncatedDataChunk) {
  const absl::StatusOr<WavAudio> wav =
      ParseWav(Wav(1, 1, 16000, 16, Pcm16({1, 2, 3}), /*declared_data_size=*/64000), "t.wav");
  ASSERT_FALSE(wav.ok());
  EXPECT_THAT(wav.status().message(), HasSubstr("t.wav: truncated data chunk"));
  EXPECT_THAT(wav.status().message(), HasSubstr("64000"));
}

TEST(WavTest, RejectsNonRiffAndUnsupportedFormats) {
  EXPECT_THAT(ParseWav("ID3\x03 not a wav at all", "mp3.wav").status().message(),
              HasSubstr("mp3.wav: not a RIFF file"));
  EXPECT_THAT(ParseWav(Wav(0x55, 1, 16000, 16, Pcm16({1, 2})), "m.wav").status().message(),
              HasSubstr("m.wav: unsupported format code 85 (MPEG layer 3)"));
  EXPECT_THAT(ParseWav(Wav(3, 1, 16000, 16, Pcm16({1, 2})), "h.wav").status().message(),
              HasSubstr("h.wav: unsupported 16-bit float"));
  EXPECT_THAT(ReadWav((TestDir() / "absent.wav").string()).status().message(),
              HasSubstr("absent.wav: cannot open"));
}

// ---------------------------------------------------------------------------------------------
// TextGrids, written as Praat writes them.

struct TierSpec {
  std::string name;
  std::vector<TextGridInterval> intervals;
};

std::string Quote(const std::string& s) {
  return "\"" + absl::StrReplaceAll(s, {{"\"", "\"\""}}) + "\"";
}

std::string LongTextGrid(double xmax, const std::vector<TierSpec>& tiers) {
  std::string s = absl::StrCat("File type = \"ooTextFile\"\nObject class = \"TextGrid\"\n\n",
                               "xmin = 0 \nxmax = ", xmax, " \ntiers? <exists> \nsize = ",
                               tiers.size(), " \nitem []: \n");
  for (size_t k = 0; k < tiers.size(); ++k) {
    absl::StrAppend(&s, "    item [", k + 1, "]:\n        class = \"IntervalTier\" \n",
                    "        name = ", Quote(tiers[k].name), " \n        xmin = 0 \n",
                    "        xmax = ", xmax, " \n        intervals: size = ",
                    tiers[k].intervals.size(), " \n");
    for (size_t i = 0; i < tiers[k].intervals.size(); ++i) {
      const TextGridInterval& in = tiers[k].intervals[i];
      absl::StrAppend(&s, "        intervals [", i + 1, "]:\n            xmin = ", in.xmin,
                      " \n            xmax = ", in.xmax, " \n            text = ", Quote(in.text),
                      " \n");
    }
  }
  return s;
}

std::string ShortTextGrid(double xmax, const std::vector<TierSpec>& tiers) {
  std::string s = absl::StrCat("File type = \"ooTextFile\"\nObject class = \"TextGrid\"\n\n0\n",
                               xmax, "\n<exists>\n", tiers.size(), "\n");
  for (const TierSpec& tier : tiers) {
    absl::StrAppend(&s, "\"IntervalTier\"\n", Quote(tier.name), "\n0\n", xmax, "\n",
                    tier.intervals.size(), "\n");
    for (const TextGridInterval& in : tier.intervals) {
      absl::StrAppend(&s, in.xmin, "\n", in.xmax, "\n", Quote(in.text), "\n");
    }
  }
  return s;
}

// One story's alignment: phones then words, with silences ("", "sp", "sil") in between.
std::vector<TierSpec> Alignment(const std::string& phone_tier, const std::string& word_tier) {
  return {
      {phone_tier,
       {{0, 0.2, "sil"}, {0.2, 0.3, "HH"}, {0.3, 0.45, "AY1"}, {0.45, 0.6, "sp"},
        {0.6, 0.7, "DH"}, {0.7, 0.8, "EH1"}, {0.8, 0.95, "R"}, {0.95, 1.5, ""}}},
      {word_tier, {{0, 0.2, ""}, {0.2, 0.45, "hi"}, {0.45, 0.6, "sp"},
                   {0.6, 0.95, "\"there\""}, {0.95, 1.5, "{SP}"}}},
  };
}

std::vector<std::string> Texts(const std::vector<TextGridInterval>& intervals) {
  std::vector<std::string> texts;
  for (const TextGridInterval& in : intervals) texts.push_back(in.text);
  return texts;
}

TEST(TextGridTest, LongAndShortFormatsParseTheSame) {
  const std::vector<TierSpec> tiers = Alignment("phone", "word");
  for (const std::string& text : {LongTextGrid(1.5, tiers), ShortTextGrid(1.5, tiers)}) {
    absl::StatusOr<TextGrid> grid = ParseTextGrid(text, "g.TextGrid");
    ASSERT_TRUE(grid.ok()) << grid.status();
    EXPECT_EQ(grid->xmax, 1.5);
    ASSERT_EQ(grid->tiers.size(), 2u);
    EXPECT_EQ(grid->tiers[0].name, "phone");
    EXPECT_EQ(grid->tiers[1].name, "word");
    ASSERT_EQ(grid->tiers[0].intervals.size(), 8u);
    EXPECT_EQ(grid->tiers[0].intervals[2].xmin, 0.3);
    EXPECT_EQ(grid->tiers[0].intervals[2].xmax, 0.45);
    EXPECT_EQ(grid->tiers[0].intervals[2].text, "AY1");
    EXPECT_THAT(Texts(grid->tiers[1].intervals),
                ElementsAre("", "hi", "sp", "\"there\"", "{SP}"));
  }
}

TEST(TextGridTest, DropsSilences) {
  absl::StatusOr<TextGrid> grid =
      ParseTextGrid(ShortTextGrid(1.5, Alignment("phones", "words")), "g.TextGrid");
  ASSERT_TRUE(grid.ok()) << grid.status();
  EXPECT_THAT(Texts(SpokenIntervals(grid->tiers[0])), ElementsAre("HH", "AY1", "DH", "EH1", "R"));
  const std::vector<TextGridInterval> words = SpokenIntervals(grid->tiers[1]);
  EXPECT_THAT(Texts(words), ElementsAre("hi", "\"there\""));
  EXPECT_EQ(words[1].xmin, 0.6);
  EXPECT_TRUE(IsSilence(" SIL "));
  EXPECT_TRUE(IsSilence("{sp}"));
  EXPECT_FALSE(IsSilence("spa"));
}

TEST(TextGridTest, ReadsUtf16WithByteOrderMarkAndCrLf) {
  const std::string utf8 = absl::StrReplaceAll(
      LongTextGrid(1.0, {{"words", {{0, 1, "caf\xC3\xA9"}}}}), {{"\n", "\r\n"}});
  std::string utf16 = "\xFF\xFE";
  for (unsigned char c : std::string(utf8)) {
    // Only ASCII and the one two-byte UTF-8 sequence (U+00E9) occur in this file.
    if (c == 0xC3) continue;
    const unsigned char unit = c == 0xA9 ? 0xE9 : c;
    utf16.push_back(static_cast<char>(unit));
    utf16.push_back('\0');
  }
  absl::StatusOr<TextGrid> grid = ParseTextGrid(utf16, "u.TextGrid");
  ASSERT_TRUE(grid.ok()) << grid.status();
  EXPECT_EQ(grid->tiers[0].intervals[0].text, "caf\xC3\xA9");
}

TEST(TextGridTest, ErrorsNameFileAndLine) {
  std::string text = LongTextGrid(1.5, Alignment("phone", "word"));
  // Line 17 is the first interval's "xmax = 0.2".
  const size_t at = text.find("            xmax = 0.2");
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(std::count(text.begin(), text.begin() + at, '\n') + 1, 17);
  text.replace(at, 22, "            xmux = 0.2");
  EXPECT_THAT(ParseTextGrid(text, "g.TextGrid").status().message(),
              HasSubstr("g.TextGrid:17: expected 'xmax = ', got 'xmux'"));

  EXPECT_THAT(ParseTextGrid("hello", "h.TextGrid").status().message(),
              HasSubstr("h.TextGrid:1: expected 'File type = '"));
  const std::string short_text = ShortTextGrid(1.5, Alignment("phone", "word"));
  EXPECT_THAT(ParseTextGrid(short_text.substr(0, short_text.size() - 20), "s.TextGrid")
                  .status()
                  .message(),
              HasSubstr("s.TextGrid:"));
  EXPECT_THAT(ParseTextGrid(absl::StrReplaceAll(short_text, {{"\n0.3\n", "\nabc\n"}}),
                            "n.TextGrid")
                  .status()
                  .message(),
              HasSubstr("expected a number (xmax), got 'abc'"));
  EXPECT_THAT(ReadTextGrid((TestDir() / "absent.TextGrid").string()).status().message(),
              HasSubstr("absent.TextGrid: cannot open"));
}

// ---------------------------------------------------------------------------------------------
// A miniature ds003020.

// Writes `values` (row-major, `dims`) under `key`, as float64 when `as_double`.
void WriteHf5(const fs::path& path, const std::string& key, const std::vector<hsize_t>& dims,
              const std::vector<float>& values, bool as_double = false) {
  fs::create_directories(path.parent_path());
  Handle file = internal::OwnFile(
      H5Fcreate(path.string().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_TRUE(file.ok()) << path;
  Handle space = internal::OwnSpace(
      H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  Handle ds = internal::OwnObject(H5Dcreate2(file.get(), key.c_str(),
                                             as_double ? H5T_IEEE_F64LE : H5T_IEEE_F32LE,
                                             space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_TRUE(ds.ok());
  ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
}

// Deterministic, distinct values per file.
std::vector<float> Ramp(size_t n, float base) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = base + 0.25f * static_cast<float>(i);
  return v;
}

std::string Tone16k(double seconds) {
  std::vector<int16_t> samples(static_cast<size_t>(seconds * 16000));
  for (size_t i = 0; i < samples.size(); ++i) {
    samples[i] = static_cast<int16_t>(8000 * std::sin(2 * M_PI * 440 * i / 16000.0));
  }
  return Wav(1, 1, 16000, 16, Pcm16(samples));
}

constexpr int kVoxels1 = 7;
constexpr int kVoxels2 = 5;
constexpr char kTest[] = "wheretheressmoke";

struct Tree {
  fs::path root;
  fs::path Hf5(const std::string& subject, const std::string& story) const {
    return root / "derivative" / "preprocessed_data" / subject / (story + ".hf5");
  }
  fs::path TextGridPath(const std::string& story) const {
    return root / "derivative" / "TextGrids" / (story + ".TextGrid");
  }
  fs::path Respdict() const { return root / "derivative" / "respdict.json"; }
};

// UTS01 heard alpha (key data, float32, trimmed: respdict 30 -> 10 rows), beta (key resp,
// float64, untrimmed: 12 rows = respdict) and the test story 3 times ([3, 8, 7], respdict 28);
// UTS02 heard alpha and the test story (2-D, already averaged) but not beta.
Tree MakeTree(const std::string& name) {
  Tree t{TestDir() / name};
  fs::remove_all(t.root);
  WriteHf5(t.Hf5("UTS01", "alpha"), "data", {10, kVoxels1}, Ramp(10 * kVoxels1, 1));
  WriteHf5(t.Hf5("UTS01", "beta"), "resp", {12, kVoxels1}, Ramp(12 * kVoxels1, 100), true);
  WriteHf5(t.Hf5("UTS01", kTest), "data", {3, 8, kVoxels1}, Ramp(3 * 8 * kVoxels1, -5));
  WriteHf5(t.Hf5("UTS02", "alpha"), "data", {10, kVoxels2}, Ramp(10 * kVoxels2, 50));
  WriteHf5(t.Hf5("UTS02", kTest), "resp", {8, kVoxels2}, Ramp(8 * kVoxels2, 7), true);
  WriteBytes(t.TextGridPath("alpha"), LongTextGrid(1.5, Alignment("phone", "word")));
  WriteBytes(t.TextGridPath("beta"), ShortTextGrid(1.5, Alignment("phones", "words")));
  // Unconventional tier names: the tiers are told apart by their order.
  WriteBytes(t.TextGridPath(kTest), LongTextGrid(1.5, Alignment("A", "B")));
  WriteBytes(t.Respdict(), R"({"alpha": 30, "beta": 12, "wheretheressmoke": 28, "other": 99})");
  WriteBytes(t.root / "stimuli" / "alpha.wav", Tone16k(1.5));
  WriteBytes(t.root / "derivative" / "stimuli" / "beta.wav", Tone16k(1.0));
  WriteBytes(t.root / "stimuli" / "misc" / "wheretheressmoke.wav", Tone16k(2.0));
  return t;
}

// Timing scaled down 20x from ds003020's (tr 2.0045 s, sound 10 s after the first TR) so that
// a 1.5 s stimulus covers its responses: t0 = 10 dropped TRs x 0.1 s - 0.5 s = 0.5 s.
constexpr double kTr = 0.1;
constexpr double kSoundDelay = 0.5;
constexpr double kTrimmedT0 = 10 * kTr - kSoundDelay;

LebelImportOptions Options(const Tree& t) {
  LebelImportOptions o;
  o.root = t.root.string();
  o.out = (t.root.parent_path() / (t.root.filename().string() + ".h5")).string();
  o.tr = kTr;
  o.sound_delay = kSoundDelay;
  return o;
}

std::vector<std::string> ReadStrings(hid_t file, const std::string& path) {
  Handle ds = internal::OwnObject(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
  Handle space = internal::OwnSpace(H5Dget_space(ds.get()));
  std::vector<char*> raw(static_cast<size_t>(H5Sget_simple_extent_npoints(space.get())));
  Handle type = internal::OwnType(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  EXPECT_GE(H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), 0) << path;
  std::vector<std::string> out(raw.begin(), raw.end());
  H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, raw.data());
  return out;
}

std::vector<double> ReadDoubles(hid_t file, const std::string& path) {
  Handle ds = internal::OwnObject(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
  Handle space = internal::OwnSpace(H5Dget_space(ds.get()));
  std::vector<double> out(static_cast<size_t>(H5Sget_simple_extent_npoints(space.get())));
  EXPECT_GE(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), 0);
  return out;
}

TEST(LebelImportTest, ImportsMiniatureDataset) {
  const Tree t = MakeTree("good");
  const LebelImportOptions o = Options(t);
  std::vector<ImportProgress> reports;
  const absl::Status status = ImportLebel(o, [&](const ImportProgress& p) { reports.push_back(p); });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_FALSE(fs::exists(o.out + ".tmp"));

  // 3 stories + 5 runs, counted in order.
  ASSERT_EQ(reports.size(), 8u);
  for (size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i].done, static_cast<int64_t>(i + 1));
    EXPECT_EQ(reports[i].total, 8);
  }
  EXPECT_EQ(reports[0].stage, ImportProgress::Stage::kStimulus);
  EXPECT_EQ(reports[3].stage, ImportProgress::Stage::kResponses);
  EXPECT_EQ(reports[3].subject, "UTS01");
  EXPECT_EQ(reports[3].story, "alpha");

  absl::StatusOr<Dataset> d = ReadDataset(o.out);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->name, "lebel2023");
  EXPECT_EQ(d->modality, "fmri");
  ASSERT_EQ(d->stories.size(), 3u);
  const Story* alpha = d->FindStory("alpha");
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ(alpha->sample_rate, 16000);
  ASSERT_EQ(alpha->audio.size(), 24000u);
  EXPECT_NEAR(alpha->audio[4], 8000 * std::sin(2 * M_PI * 440 * 4 / 16000.0) / 32768, 1e-4);
  EXPECT_EQ(d->FindStory("beta")->audio.size(), 16000u);
  EXPECT_EQ(d->FindStory(kTest)->audio.size(), 32000u);

  const Participant* p1 = d->FindParticipant("UTS01");
  ASSERT_NE(p1, nullptr);
  EXPECT_EQ(p1->space, "native-UTS01");
  EXPECT_EQ(p1->n_targets, kVoxels1);
  ASSERT_EQ(p1->runs.size(), 3u);
  std::map<std::string, const data::Run*> runs;
  for (const data::Run& r : p1->runs) runs[r.story] = &r;
  EXPECT_EQ(runs["alpha"]->n_times, 10);
  EXPECT_DOUBLE_EQ(runs["alpha"]->tr, kTr);
  EXPECT_DOUBLE_EQ(runs["alpha"]->t0, kTrimmedT0);
  EXPECT_EQ(runs["alpha"]->responses, Ramp(10 * kVoxels1, 1));
  EXPECT_EQ(runs["beta"]->n_times, 12);
  EXPECT_DOUBLE_EQ(runs["beta"]->t0, -kSoundDelay);  // untrimmed: its rows match respdict
  EXPECT_EQ(runs["beta"]->responses, Ramp(12 * kVoxels1, 100));  // float64 -> float32
  // The test story's run is the mean of its 3 repeats.
  const data::Run* test_run = runs[kTest];
  ASSERT_EQ(test_run->n_times, 8);
  const std::vector<float> repeats = Ramp(3 * 8 * kVoxels1, -5);
  const size_t n = 8 * kVoxels1;
  for (size_t i = 0; i < n; ++i) {
    EXPECT_NEAR(test_run->responses[i], (repeats[i] + repeats[n + i] + repeats[2 * n + i]) / 3,
                1e-4);
  }

  const Participant* p2 = d->FindParticipant("UTS02");
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(p2->n_targets, kVoxels2);
  EXPECT_EQ(p2->space, "native-UTS02");
  ASSERT_EQ(p2->runs.size(), 2u);  // did not hear beta
  EXPECT_EQ(p2->runs[0].story, "alpha");
  EXPECT_EQ(p2->runs[1].responses, Ramp(8 * kVoxels2, 7));

  // Words, phonemes and repeats read back with the HDF5 C API, independently of ReadDataset.
  Handle file = internal::OwnFile(H5Fopen(o.out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  ASSERT_TRUE(file.ok());
  for (const std::string story : {"alpha", "beta", kTest}) {
    const std::string path = "/stimuli/" + story;
    EXPECT_THAT(ReadStrings(file.get(), path + "/words/text"), ElementsAre("hi", "\"there\""))
        << story;
    EXPECT_THAT(ReadDoubles(file.get(), path + "/words/onset"), ElementsAre(0.2, 0.6));
    EXPECT_THAT(ReadDoubles(file.get(), path + "/words/offset"), ElementsAre(0.45, 0.95));
    EXPECT_THAT(ReadStrings(file.get(), path + "/phonemes/text"),
                ElementsAre("HH", "AY1", "DH", "EH1", "R"));
    EXPECT_EQ(ReadDoubles(file.get(), path + "/phonemes/onset").size(), 5u);
  }
  Handle rep = internal::OwnObject(
      H5Dopen2(file.get(), "/participants/UTS01/repeats/wheretheressmoke", H5P_DEFAULT));
  ASSERT_TRUE(rep.ok());
  Handle space = internal::OwnSpace(H5Dget_space(rep.get()));
  hsize_t dims[3] = {};
  ASSERT_EQ(H5Sget_simple_extent_ndims(space.get()), 3);
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  EXPECT_THAT(dims, ElementsAre(3u, 8u, static_cast<hsize_t>(kVoxels1)));
  std::vector<float> stored(repeats.size());
  ASSERT_GE(H5Dread(rep.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, stored.data()), 0);
  EXPECT_EQ(stored, repeats);
  EXPECT_EQ(H5Lexists(file.get(), "/participants/UTS02/repeats", H5P_DEFAULT), 0);
}

TEST(LebelImportTest, SelectsSubjectsAndStories) {
  const Tree t = MakeTree("subset");
  LebelImportOptions o = Options(t);
  o.subjects = {"UTS02"};
  o.stories = {"alpha"};
  ASSERT_TRUE(ImportLebel(o, nullptr).ok());
  absl::StatusOr<Dataset> d = ReadDataset(o.out);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->participants.size(), 1u);
  ASSERT_EQ(d->stories.size(), 1u);
  ASSERT_EQ(d->participants[0].runs.size(), 1u);
  EXPECT_EQ(d->participants[0].id, "UTS02");
  EXPECT_DOUBLE_EQ(d->participants[0].runs[0].t0, kTrimmedT0);

  o.stories = {"beta"};  // UTS02 did not hear it
  EXPECT_THAT(ImportLebel(o, nullptr).message(), HasSubstr("UTS02: no <story>.hf5"));
  o.subjects = {"UTS09"};
  EXPECT_THAT(ImportLebel(o, nullptr).message(),
              HasSubstr("preprocessed_data/UTS09: no such subject directory"));
}

// Runs the import on a tree broken by `breakage`; checks that it fails with a message holding
// every one of `expected`, and that neither the output nor its temp file was touched.
void ExpectImportError(const std::string& name, const std::function<void(const Tree&)>& breakage,
                       const std::vector<std::string>& expected) {
  SCOPED_TRACE(name);
  const Tree t = MakeTree(name);
  breakage(t);
  const LebelImportOptions o = Options(t);
  WriteBytes(o.out, "previous");
  const absl::Status status = ImportLebel(o, nullptr);
  ASSERT_FALSE(status.ok());
  for (const std::string& piece : expected) EXPECT_THAT(status.message(), HasSubstr(piece));
  EXPECT_EQ(ReadBytes(o.out), "previous");
  EXPECT_FALSE(fs::exists(o.out + ".tmp"));
}

// With the real timing, the 10 hf5 rows of alpha sit at 10.045 s + i x 2.0045 s, which the
// 1.5 s miniature stimulus does not cover: the import says so instead of writing a file that
// the reader would refuse.
TEST(LebelImportTest, DefaultTimingFollowsHuthLabAndMustFitTheAudio) {
  const Tree t = MakeTree("default_timing");
  LebelImportOptions o = Options(t);
  o.tr = LebelImportOptions().tr;
  o.sound_delay = LebelImportOptions().sound_delay;
  const absl::Status status = ImportLebel(o, nullptr);
  EXPECT_THAT(status.message(),
              HasSubstr("UTS01/alpha.hf5: its 10 rows end 30.090 s after stimulus onset "
                        "(t0 10.045 + 10 x 2.0045 s) but "));
  EXPECT_THAT(status.message(), HasSubstr("stimuli/alpha.wav lasts 1.500 s"));
  EXPECT_FALSE(fs::exists(o.out));
  EXPECT_FALSE(fs::exists(o.out + ".tmp"));
}

TEST(LebelImportTest, MissingTextGrid) {
  ExpectImportError("no_textgrid", [](const Tree& t) { fs::remove(t.TextGridPath("beta")); },
                    {"derivative/TextGrids/beta.TextGrid: TextGrid not found"});
}

TEST(LebelImportTest, Hf5WithoutDataOrResp) {
  ExpectImportError(
      "no_key",
      [](const Tree& t) {
        WriteHf5(t.Hf5("UTS02", "alpha"), "bold", {10, kVoxels2}, Ramp(10 * kVoxels2, 0));
      },
      {"preprocessed_data/UTS02/alpha.hf5: no dataset 'data' or 'resp'"});
}

TEST(LebelImportTest, MalformedTextGridLine) {
  ExpectImportError(
      "bad_textgrid",
      [](const Tree& t) {
        std::string text = ReadBytes(t.TextGridPath("alpha"));
        text.replace(text.find("            xmax = 0.2"), 22, "            xmux = 0.2");
        WriteBytes(t.TextGridPath("alpha"), text);
      },
      {"derivative/TextGrids/alpha.TextGrid:17: expected 'xmax = ', got 'xmux'"});
}

TEST(LebelImportTest, RespdictMismatch) {
  ExpectImportError(
      "respdict",
      [](const Tree& t) {
        WriteBytes(t.Respdict(), R"({"alpha": 31, "beta": 12, "wheretheressmoke": 28})");
      },
      {"preprocessed_data/UTS01/alpha.hf5: 'data' has 10 rows but ", "respdict.json",
       "'alpha' 31 scan TRs, so expected 11"});
}

TEST(LebelImportTest, MalformedRespdict) {
  ExpectImportError(
      "respdict_json", [](const Tree& t) { WriteBytes(t.Respdict(), R"({"alpha": 30,)"); },
      {"derivative/respdict.json: not a JSON object"});
}

TEST(LebelImportTest, NonRiffWav) {
  ExpectImportError(
      "not_riff", [](const Tree& t) { WriteBytes(t.root / "stimuli" / "alpha.wav", "OggS...."); },
      {"stimuli/alpha.wav: not a RIFF file"});
}

TEST(LebelImportTest, MissingWav) {
  ExpectImportError(
      "no_wav", [](const Tree& t) { fs::remove(t.root / "derivative" / "stimuli" / "beta.wav"); },
      {"story 'beta': no beta.wav in ", "/stimuli"});
}

TEST(LebelImportTest, RepeatsOnlyForTheTestStory) {
  ExpectImportError(
      "repeats",
      [](const Tree& t) {
        WriteHf5(t.Hf5("UTS02", "alpha"), "data", {2, 10, kVoxels2}, Ramp(20 * kVoxels2, 0));
      },
      {"UTS02/alpha.hf5: 'data': 3-D array [2, 10, 5] but only the test story"});
}

TEST(LebelImportTest, VoxelCountsDifferWithinSubject) {
  ExpectImportError(
      "voxels",
      [](const Tree& t) {
        WriteHf5(t.Hf5("UTS02", kTest), "data", {8, kVoxels2 + 1}, Ramp(8 * (kVoxels2 + 1), 0));
      },
      {"UTS02/wheretheressmoke.hf5: 'data' has 6 voxels but ", "UTS02/alpha.hf5 has 5"});
}

TEST(LebelImportTest, IntegerResponsesAreRejected) {
  ExpectImportError(
      "int",
      [](const Tree& t) {
        const fs::path path = t.Hf5("UTS01", "beta");
        Handle file = internal::OwnFile(
            H5Fcreate(path.string().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
        const hsize_t dims[2] = {12, kVoxels1};
        Handle space = internal::OwnSpace(H5Screate_simple(2, dims, nullptr));
        Handle ds = internal::OwnObject(H5Dcreate2(file.get(), "data", H5T_STD_I16LE, space.get(),
                                                   H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
      },
      {"UTS01/beta.hf5: 'data': expected float32 or float64, got int16"});
}

TEST(LebelImportTest, NotADs003020Directory) {
  LebelImportOptions o;
  o.root = (TestDir() / "nothing").string();
  o.out = (TestDir() / "nothing.h5").string();
  EXPECT_THAT(ImportLebel(o, nullptr).message(),
              HasSubstr("nothing/derivative/preprocessed_data: not a directory"));
}

}  // namespace
}  // namespace braintune::data

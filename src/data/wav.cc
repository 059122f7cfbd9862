#include "data/wav.h"

#include "data/file_util.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace braintune::data {
namespace {

constexpr uint16_t kFormatPcm = 1;
constexpr uint16_t kFormatFloat = 3;
constexpr uint16_t kFormatExtensible = 0xFFFE;
// A chunk size the streaming writers (sox, ffmpeg to a pipe) leave when they cannot seek back.
constexpr uint32_t kUnknownSize = 0xFFFFFFFF;

uint16_t U16(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(b[0] | b[1] << 8);
}
uint32_t U32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 |
         static_cast<uint32_t>(b[2]) << 16 | static_cast<uint32_t>(b[3]) << 24;
}

std::string FormatName(uint16_t code) {
  switch (code) {
    case 2:
      return " (Microsoft ADPCM)";
    case 6:
      return " (A-law)";
    case 7:
      return " (mu-law)";
    case 0x11:
      return " (IMA ADPCM)";
    case 0x55:
      return " (MPEG layer 3)";
    default:
      return "";
  }
}

absl::Status Bad(const std::string& file, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": ", what));
}

// One sample at `p`, full scale +-1. Only the (format, bits) pairs ParseWav admits get here.
double Sample(const char* p, uint16_t format, int bits) {
  if (format == kFormatFloat) {
    if (bits == 32) {
      float v;
      std::memcpy(&v, p, sizeof v);  // WAV and every machine we build for are little-endian
      return v;
    }
    double v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  switch (bits) {
    case 8:  // the only unsigned PCM width
      return (static_cast<int>(b[0]) - 128) / 128.0;
    case 16:
      return static_cast<int16_t>(U16(p)) / 32768.0;
    case 24: {
      int32_t v = static_cast<int32_t>(b[0] | b[1] << 8 | b[2] << 16);
      if (v & 0x800000) v -= 0x1000000;
      return v / 8388608.0;
    }
    default:
      return static_cast<int32_t>(U32(p)) / 2147483648.0;
  }
}

}  // namespace

absl::StatusOr<WavAudio> ParseWav(absl::string_view bytes, const std::string& file) {
  if (bytes.size() < 12 || bytes.substr(0, 4) != "RIFF") {
    if (bytes.substr(0, 4) == "RIFX" || bytes.substr(0, 4) == "RF64") {
      return Bad(file, absl::StrCat("unsupported WAV variant '", bytes.substr(0, 4),
                                    "' (only little-endian RIFF)"));
    }
    return Bad(file, "not a RIFF file (no 'RIFF' header)");
  }
  if (bytes.substr(8, 4) != "WAVE") return Bad(file, "RIFF file but not WAVE audio");

  const char* fmt = nullptr;
  uint32_t fmt_size = 0;
  absl::string_view data;
  bool have_data = false;
  for (size_t pos = 12; pos + 8 <= bytes.size();) {
    const absl::string_view id = bytes.substr(pos, 4);
    const uint32_t declared = U32(bytes.data() + pos + 4);
    const size_t body = pos + 8;
    const size_t available = bytes.size() - body;
    if (id == "data") {
      if (declared != kUnknownSize && declared > available) {
        return Bad(file, absl::StrCat("truncated data chunk: header says ", declared,
                                      " bytes, ", available, " present"));
      }
      data = bytes.substr(body, declared == kUnknownSize ? available : declared);
      have_data = true;
      break;  // anything after the samples (LIST, id3) is metadata we do not need
    }
    if (declared > available) {
      return Bad(file, absl::StrCat("truncated '", id, "' chunk: header says ", declared,
                                    " bytes, ", available, " present"));
    }
    if (id == "fmt ") {
      fmt = bytes.data() + body;
      fmt_size = declared;
    }
    pos = body + declared + (declared & 1);  // chunks are padded to an even size
  }
  if (fmt == nullptr) return Bad(file, "no 'fmt ' chunk before the data");
  if (fmt_size < 16) return Bad(file, absl::StrCat("'fmt ' chunk too short (", fmt_size, " bytes)"));
  if (!have_data) return Bad(file, "no 'data' chunk");

  uint16_t format = U16(fmt);
  const int channels = U16(fmt + 2);
  const uint32_t sample_rate = U32(fmt + 4);
  const int block_align = U16(fmt + 12);
  const int bits = U16(fmt + 14);
  if (format == kFormatExtensible) {
    if (fmt_size < 40) return Bad(file, "WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short");
    format = U16(fmt + 24);  // the first two bytes of the subformat GUID are the format code
  }
  if (format != kFormatPcm && format != kFormatFloat) {
    return Bad(file, absl::StrCat("unsupported format code ", format, FormatName(format),
                                  "; only PCM (1) and IEEE float (3)"));
  }
  const bool bits_ok = format == kFormatPcm
                           ? bits == 8 || bits == 16 || bits == 24 || bits == 32
                           : bits == 32 || bits == 64;
  if (!bits_ok) {
    return Bad(file, absl::StrCat("unsupported ", bits, "-bit ",
                                  format == kFormatPcm ? "PCM" : "float", " samples"));
  }
  if (channels < 1) return Bad(file, "0 channels");
  if (sample_rate == 0) return Bad(file, "sample rate 0");
  const int frame_bytes = channels * (bits / 8);
  if (block_align != frame_bytes) {
    return Bad(file, absl::StrCat("block align ", block_align, " but ", channels, " channels of ",
                                  bits, " bits need ", frame_bytes));
  }
  if (data.size() % frame_bytes != 0) {
    return Bad(file, absl::StrCat("data chunk of ", data.size(),
                                  " bytes is not a whole number of ", frame_bytes,
                                  "-byte frames (truncated?)"));
  }

  WavAudio audio;
  audio.sample_rate = sample_rate;
  audio.channels = channels;
  audio.bits_per_sample = bits;
  const size_t n_frames = data.size() / frame_bytes;
  audio.samples.resize(n_frames);
  const int sample_bytes = bits / 8;
  for (size_t i = 0; i < n_frames; ++i) {
    const char* frame = data.data() + i * frame_bytes;
    double sum = 0;
    for (int c = 0; c < channels; ++c) sum += Sample(frame + c * sample_bytes, format, bits);
    audio.samples[i] = static_cast<float>(sum / channels);
  }
  return audio;
}

absl::StatusOr<WavAudio> ReadWav(const std::string& path) {
  absl::StatusOr<std::string> contents = internal::ReadFileBytes(path);
  if (!contents.ok()) return contents.status();
  return ParseWav(*contents, path);
}

}  // namespace braintune::data

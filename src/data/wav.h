// WAV (RIFF/WAVE) audio for the stimulus importers: PCM 8/16/24/32-bit integer and IEEE float
// 32/64-bit, plain or WAVE_FORMAT_EXTENSIBLE, any channel count and sample rate.
#ifndef BRAINTUNE_DATA_WAV_H_
#define BRAINTUNE_DATA_WAV_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace braintune::data {

struct WavAudio {
  double sample_rate = 0;     // Hz
  int channels = 0;           // in the file; `samples` is always mono
  int bits_per_sample = 0;    // in the file
  std::vector<float> samples; // mono: the mean of the channels, full scale +-1
};

// Parses the bytes of a WAV file. `file` only names the file in errors, e.g.
// "a.wav: not a RIFF file", "a.wav: unsupported format code 85 (MPEG layer 3)",
// "a.wav: truncated data chunk: header says 64000 bytes, 1000 present".
absl::StatusOr<WavAudio> ParseWav(absl::string_view bytes, const std::string& file);

// Reads and parses a WAV file; errors name `path`.
absl::StatusOr<WavAudio> ReadWav(const std::string& path);

}  // namespace braintune::data

#endif  // BRAINTUNE_DATA_WAV_H_

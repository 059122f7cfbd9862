// Resampling stimulus audio to the rate a model hears (model/input_contract.h), with libsoxr at
// its "high quality" setting (the resampler librosa uses by default: a linear-phase band-limited
// filter, 20-bit precision). The dataset keeps the recorded rate; the resampled copy lives in the
// memory of the process that needs it, made once per story.
#ifndef BRAINTUNE_DATA_RESAMPLE_H_
#define BRAINTUNE_DATA_RESAMPLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace braintune::data {

// Samples that `n` samples at `from_hz` become at `to_hz`: round(n * to_hz / from_hz).
int64_t ResampledLength(int64_t n, double from_hz, double to_hz);

// `in`, recorded at from_hz, at to_hz: exactly ResampledLength(in.size(), from_hz, to_hz)
// samples, time-aligned (sample k at k / to_hz s). `what` names the audio in errors.
absl::StatusOr<std::vector<float>> Resample(absl::Span<const float> in, double from_hz, double to_hz,
                                            const std::string& what);

}  // namespace braintune::data

#endif  // BRAINTUNE_DATA_RESAMPLE_H_

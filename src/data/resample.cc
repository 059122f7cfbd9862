#include "data/resample.h"

#include <soxr.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace braintune::data {

int64_t ResampledLength(int64_t n, double from_hz, double to_hz) {
  return static_cast<int64_t>(std::llround(static_cast<double>(n) * to_hz / from_hz));
}

absl::StatusOr<std::vector<float>> Resample(absl::Span<const float> in, double from_hz, double to_hz,
                                            const std::string& what) {
  if (!(from_hz > 0) || !(to_hz > 0) || !std::isfinite(from_hz) || !std::isfinite(to_hz)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": cannot resample from ", from_hz, " Hz to ", to_hz, " Hz"));
  }
  const int64_t n_out = ResampledLength(static_cast<int64_t>(in.size()), from_hz, to_hz);
  std::vector<float> out(static_cast<size_t>(n_out) + 16, 0.0f);  // soxr may round one sample up
  if (in.empty() || n_out == 0) return std::vector<float>(static_cast<size_t>(n_out), 0.0f);
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  const soxr_runtime_spec_t runtime = soxr_runtime_spec(1);
  size_t done_in = 0, done_out = 0;
  // One shot: the whole story in, flushed at the end (the filter's delay is compensated).
  const soxr_error_t err = soxr_oneshot(from_hz, to_hz, 1, in.data(), in.size(), &done_in, out.data(), out.size(),
                                        &done_out, &io, &quality, &runtime);
  if (err) return absl::InternalError(absl::StrCat(what, ": libsoxr: ", err));
  out.resize(static_cast<size_t>(n_out));  // zeros beyond what soxr produced (at most a sample)
  return out;
}

}  // namespace braintune::data

// The safetensors format (what Hugging Face checkpoints use): an 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
// {...}}, then the raw little-endian tensor bytes (offsets relative to the end of the header).
// Read and written here without Python or any other library.
#ifndef BRAINTUNE_MODEL_SAFETENSORS_H_
#define BRAINTUNE_MODEL_SAFETENSORS_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace braintune::model {

// Every tensor of the file, converted to float32 when stored as F16, BF16 or F64 (integer and
// bool tensors keep their type). Errors name the file and, where one is at fault, the tensor:
// a truncated file, a header that is not JSON, an unknown dtype, offsets outside the data or a
// byte count that does not match the shape.
absl::StatusOr<std::map<std::string, torch::Tensor>> ReadSafetensors(const std::string& path);

// Writes `tensors` (CPU or not; float32, float64, bf16, f16, int64, int32) atomically, with
// `metadata` as "__metadata__". Names must be unique.
absl::Status WriteSafetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_SAFETENSORS_H_

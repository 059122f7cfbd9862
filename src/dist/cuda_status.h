// CUDA and NCCL return codes as absl::Status, with file:line and the library's own message:
//   RETURN_IF_ERROR(CUDA_STATUS(cudaSetDevice(device)));
//   // -> "nccl_communicator.cc:212: cudaSetDevice: invalid device ordinal"
// Internal to src/dist, and only where braintune is built with NCCL (it includes their headers).
#ifndef BRAINTUNE_DIST_CUDA_STATUS_H_
#define BRAINTUNE_DIST_CUDA_STATUS_H_

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace braintune::dist {

inline absl::Status NcclCallStatus(ncclResult_t rc, absl::string_view call, const char* file, int line) {
  if (rc == ncclSuccess) return absl::OkStatus();
  return CallError(absl::StatusCode::kInternal, file, line, call, ncclGetErrorString(rc));
}

inline absl::Status CudaCallStatus(cudaError_t rc, absl::string_view call, const char* file, int line) {
  if (rc == cudaSuccess) return absl::OkStatus();
  return CallError(absl::StatusCode::kInternal, file, line, call, cudaGetErrorString(rc));
}

}  // namespace braintune::dist

// The Status of one NCCL / CUDA call, named after the function it calls.
#define NCCL_STATUS(call) ::braintune::dist::NcclCallStatus((call), #call, __FILE__, __LINE__)
#define CUDA_STATUS(call) ::braintune::dist::CudaCallStatus((call), #call, __FILE__, __LINE__)

#endif  // BRAINTUNE_DIST_CUDA_STATUS_H_

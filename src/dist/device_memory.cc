#include "dist/device_memory.h"

#ifdef BRAINTUNE_HAVE_NCCL
#include <cuda_runtime_api.h>
#endif

namespace braintune::dist {

int64_t DeviceMemoryInUse(int device) {
#ifdef BRAINTUNE_HAVE_NCCL
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) return 0;
  size_t free_bytes = 0, total_bytes = 0;
  const bool ok = cudaSetDevice(device) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess;
  cudaSetDevice(previous);
  return ok ? static_cast<int64_t>(total_bytes - free_bytes) : 0;
#else
  (void)device;
  return 0;
#endif
}

}  // namespace braintune::dist

// GPU memory in use, for progress reports (the dashboard and /metrics show it per job).
#ifndef BRAINTUNE_DIST_DEVICE_MEMORY_H_
#define BRAINTUNE_DIST_DEVICE_MEMORY_H_

#include <cstdint>

namespace braintune::dist {

// Bytes in use on CUDA device `device`: its total less its free memory as cudaMemGetInfo reports
// them (every process's use, the CUDA context included). 0 where braintune is built without
// CUDA, or when the query fails.
int64_t DeviceMemoryInUse(int device);

}  // namespace braintune::dist

#endif  // BRAINTUNE_DIST_DEVICE_MEMORY_H_

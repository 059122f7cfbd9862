// bf16 autocast on CUDA for a scope (training.precision, bench/train_step_bench): the forward
// pass runs its matrix products in bf16 while parameters, gradients and optimizer state stay
// fp32. A no-op when not enabled.
#ifndef BRAINTUNE_MODEL_AUTOCAST_H_
#define BRAINTUNE_MODEL_AUTOCAST_H_

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace braintune::model {

class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool enabled) : enabled_(enabled) {
    if (enabled_) Set(true);
  }
  ~Bf16Autocast() {
    if (!enabled_) return;
    Set(false);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  static void Set(bool on) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, on);
#else
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(on);
#endif
  }

  bool enabled_;
};

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_AUTOCAST_H_

#include "model/threads.h"

#include <dlfcn.h>
#include <torch/torch.h>

namespace braintune::model {
namespace {

struct OpenBlas {
  int (*get)() = nullptr;
  void (*set)(int) = nullptr;
};

const OpenBlas& FindOpenBlas() {
  static const OpenBlas blas = [] {
    OpenBlas b;
    b.get = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    b.set = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (b.get == nullptr || b.set == nullptr) b = OpenBlas{};
    return b;
  }();
  return blas;
}

}  // namespace

void SetCpuThreads(int threads) {
  torch::set_num_threads(threads);
  if (const auto set = FindOpenBlas().set) set(1);
}

SingleThreadedBlas::SingleThreadedBlas() {
  const OpenBlas& blas = FindOpenBlas();
  if (blas.get == nullptr) return;
  previous_ = blas.get();
  if (previous_ > 1) blas.set(1);
}

SingleThreadedBlas::~SingleThreadedBlas() {
  if (previous_ > 1) FindOpenBlas().set(previous_);
}

}  // namespace braintune::model

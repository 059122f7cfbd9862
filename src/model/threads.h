// CPU threads of the model's computations.
//
// ATen parallelises its kernels over torch::get_num_threads() OpenMP threads. OpenBLAS, which
// Debian's libblas.so.3 usually is, also runs every matrix product on threads of its own; the
// two pools compete for the same cores (OpenMP threads spin while waiting). Measured on 2 cores
// with 2 ATen threads (docs/model.md): a training step of the tiny encoder 1.5x and of base 1.2x
// faster with OpenBLAS on one thread, for the C++ trainer and for PyTorch alike.
#ifndef BRAINTUNE_MODEL_THREADS_H_
#define BRAINTUNE_MODEL_THREADS_H_

namespace braintune::model {

// ATen's intra-op threads = `threads`; OpenBLAS (when it is the BLAS) on the calling thread.
void SetCpuThreads(int threads);

// OpenBLAS on the calling thread for the scope (restored after), for kernels that call BLAS from
// the threads of an ATen parallel region. Found at run time: another BLAS is left alone.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_ = 1;
};

}  // namespace braintune::model

#endif  // BRAINTUNE_MODEL_THREADS_H_

#!/usr/bin/env bash
# The GPU check, in one run of a few minutes on a machine with one NVIDIA GPU, CUDA, PyTorch
# (LibTorch headers and CMake config inside) and NCCL, and no network:
#   1. unpacks the Debian packages in DEPS_DIR (OpenMPI, absl, googletest: see docs/ddp.md for
#      how to fetch them) when mpirun or absl is missing;
#   2. builds src/dist, src/ddp, their tests and bench/ddp_bench against that PyTorch and NCCL
#      (cmake -DBRAINTUNE_DDP_ONLY=ON: no gRPC, HDF5, SQLite needed);
#   3. runs the GPU tests (NCCL collectives and watchdog at world size 1, the reducer on CUDA vs
#      CPU through mpirun) and the MPI reducer tests;
#   4. benchmarks the reducer: on the GPU (NCCL, world size 1) and on the CPU with 2 ranks, each
#      against PyTorch's DistributedDataParallel on the same model, batch and threads.
# Usage: bench/gpu_check.sh [DEPS_DIR] (default .gpu-deps). Output also goes to $OUT/gpu_check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
DEPS=${1:-.gpu-deps}
LOG=${OUT:-/tmp}/gpu_check.log
exec > >(tee "$LOG") 2>&1
section() { printf '\n==> %s (%s)\n' "$*" "$(date +%T)"; }

section "Machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nproc
command -v g++ c++ cmake ninja nvcc || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI)'

section "Dependencies"
if ! command -v mpirun >/dev/null || [ ! -d /usr/include/absl ] || [ ! -f /usr/include/gtest/gtest.h ]; then
  for f in "$DEPS"/*.deb; do
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$f" /; else (cd / && ar p "$OLDPWD/$f" data.tar.xz | tar -xJ); fi
  done
  ldconfig
fi
mpirun --version | head -1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One node: mpirun never uses its remote launcher, but OpenMPI wants one to exist.
export OMPI_MCA_plm_rsh_agent=$(command -v ssh || echo /bin/false)
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
# The NCCL that PyTorch itself loads (the nvidia-nccl wheel), given the names CMake looks for.
WHEEL_NCCL=$(python3 -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null || true)
if [ -n "$WHEEL_NCCL" ]; then
  NCCL_ROOT=/tmp/braintune-nccl
  mkdir -p $NCCL_ROOT/lib && ln -sfn "$WHEEL_NCCL/include" $NCCL_ROOT/include
  ln -sf "$WHEEL_NCCL"/lib/libnccl.so.2 $NCCL_ROOT/lib/libnccl.so.2 && ln -sf libnccl.so.2 $NCCL_ROOT/lib/libnccl.so
else
  NCCL_ROOT=/usr/local/cuda
fi
export NCCL_ROOT LD_LIBRARY_PATH="$NCCL_ROOT/lib:${LD_LIBRARY_PATH:-}"
echo "torch cmake: $TORCH_PREFIX; nccl: $NCCL_ROOT"

section "Build (BRAINTUNE_DDP_ONLY)"
cmake -S . -B build-gpu -G Ninja -DBRAINTUNE_DDP_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DCUDAToolkit_ROOT=/usr/local/cuda \
  -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc 2>&1 | grep -E "braintune|Error|error|NCCL|CUDA|Torch" | head -40
time cmake --build build-gpu -j "$(nproc)" -- -k 0 2>&1 | grep -E "error|FAILED|Linking" | head -40

section "GPU tests"
(cd build-gpu && timeout 300 ctest --output-on-failure -L gpu)
section "MPI reducer tests (CPU)"
(cd build-gpu && timeout 200 ctest --output-on-failure -L mpi)

MPI="mpirun --bind-to none --oversubscribe --mca btl_vader_single_copy_mechanism none"
section "Benchmark: GPU, base-sized model (85M parameters), world size 1"
timeout 120 $MPI -np 1 build-gpu/bench/ddp_bench --device cuda --layers 12 --width 768 --batch 32 --steps 20
timeout 120 $MPI -np 1 python3 bench/ddp_reference.py --device cuda --layers 12 --width 768 --batch 32 --steps 20
section "Benchmark: CPU, 2 ranks x 4 threads, base-sized model"
timeout 150 $MPI -np 2 build-gpu/bench/ddp_bench --device cpu --layers 12 --width 768 --batch 2 --steps 6 --threads 4
OMP_NUM_THREADS=4 timeout 150 $MPI -np 2 python3 bench/ddp_reference.py --device cpu --layers 12 --width 768 --batch 2 --steps 6 --threads 4
section "Done"

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
#      against PyTorch's DistributedDataParallel on the same model, batch and threads;
#   5. times a brain-tuning training step of the wav2vec2-base encoder (bench/train_step_bench,
#      src/model; built when yaml-cpp is unpacked too) in bf16 autocast and in fp32, each against
#      the same step in PyTorch's Python API, and reports samples/s and model FLOP utilisation
#      (MFU: 6 x trainable parameters x frames + attention, per sample, over the GPU's dense bf16
#      peak: 989 TFLOPS for H100/H200 SXM, or BRAINTUNE_PEAK_TFLOPS).
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
if ! command -v mpirun >/dev/null || [ ! -d /usr/include/absl ] || [ ! -f /usr/include/gtest/gtest.h ] ||
   [ ! -d /usr/include/yaml-cpp ]; then
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
section "Benchmark: base brain-tuning training step (4 s clips, batch 16), C++ vs PyTorch"
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$GPU_NAME" in
  *H100*|*H200*) PEAK=989 ;;
  *A100*) PEAK=312 ;;
  *) PEAK=0 ;;
esac
PEAK=${BRAINTUNE_PEAK_TFLOPS:-$PEAK}
echo "GPU: $GPU_NAME; dense bf16 peak used for MFU: $PEAK TFLOPS"
STEP="--size base --device cuda --batch 16 --seconds 4 --steps 10 --warmup 3"
for precision in --bf16 ""; do
  cpp=$(timeout 150 build-gpu/bench/train_step_bench $STEP $precision --peak-tflops "$PEAK" | tail -1)
  py=$(timeout 150 python3 bench/train_step_bench.py $STEP $precision | tail -1)
  echo "braintune: $cpp"
  echo "pytorch:   $py"
  python3 - "$cpp" "$py" <<'PY' || true
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("base %s: braintune %.1f samples/s (%.3f model TFLOP/s, MFU %s), pytorch %.1f samples/s: %.2fx" % (
    "bf16" if c["bf16"] else "fp32", c["samples_per_sec"], c["model_tflops_per_sec"],
    "%.1f%%" % (100 * c["mfu"]) if "mfu" in c else "n/a", p["samples_per_sec"],
    c["samples_per_sec"] / p["samples_per_sec"]))
PY
done
section "Done"

#!/usr/bin/env bash
# Gradient synchronisation on the CPU: braintune's reducer (bench/ddp_bench.cc, MPI) vs PyTorch's
# DistributedDataParallel (bench/ddp_reference.py, Gloo; Debian's python3-torch) on the same
# model, batch, ranks and threads, at two sizes. Usage: bench/ddp_bench.sh [RANKS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=${1:-2}
THREADS=${2:-1}
BIN=${BRAINTUNE_BUILD_DIR:-build}
./scripts/build ddp_bench >/dev/null
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "ddp_bench.sh: needs python3-torch (apt-get install python3-torch)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=$THREADS
# Both sides keep freed memory (up to 32 MB blocks) in the heap instead of returning it to the
# kernel: otherwise every step faults its gradients in afresh, which on a VM varies 4x run to run.
export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296
MPI="mpirun -np $RANKS --bind-to none --oversubscribe --mca btl_vader_single_copy_mechanism none -x MALLOC_MMAP_THRESHOLD_ -x MALLOC_TRIM_THRESHOLD_ -x OMP_NUM_THREADS"
for size in "--layers 4 --width 256 --batch 2 --steps 10" "--layers 12 --width 768 --batch 1 --steps 4"; do
  OURS=$($MPI "$BIN/bench/ddp_bench" --device cpu $size --threads "$THREADS")
  THEIRS=$($MPI /usr/bin/python3 bench/ddp_reference.py --device cpu $size --threads "$THREADS")
  echo "$OURS"
  echo "$THEIRS"
  python3 - "$OURS" "$THEIRS" <<'PY'
import re, sys
ours = float(re.search(r"with reducer ([0-9.]+) ms", sys.argv[1]).group(1))
theirs = float(re.search(r"with DDP ([0-9.]+) ms", sys.argv[2]).group(1))
print(f"step time braintune / PyTorch DDP: {ours / theirs:.2f} (<= 1.0: braintune no slower)\n")
PY
done

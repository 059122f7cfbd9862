#!/usr/bin/env bash
# Brain-tuning training step: braintune's C++ (bench/train_step_bench.cc) vs the same model,
# batch and step in PyTorch's Python API (bench/train_step_bench.py, Debian's python3-torch: the
# same LibTorch 1.13), same threads, run alternately so both see the same machine state.
# Prints samples/s of each, the ratio, and for base the peak memory per sample (peak RSS at
# batch 2 minus batch 1, C++ and Python).
# Usage: bench/train_step_bench.sh [THREADS] (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BRAINTUNE_BUILD_DIR:-build}/bench/train_step_bench
THREADS=${1:-$(nproc)}
./scripts/build train_step_bench >/dev/null
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['$1'])" "$2"; }
compare() {  # size, extra args
  local size=$1; shift
  local cpp py
  py=$(/usr/bin/python3 bench/train_step_bench.py --size "$size" --threads "$THREADS" "$@" | tail -1)
  cpp=$("$BIN" --size "$size" --threads "$THREADS" "$@" | tail -1)
  echo "pytorch:   $py"
  echo "braintune: $cpp"
  local a b
  a=$(field samples_per_sec "$cpp"); b=$(field samples_per_sec "$py")
  /usr/bin/python3 -c "print('%s: braintune %.3f samples/s, pytorch %.3f samples/s: %.2fx' % ('$size $*', $a, $b, $a / $b))"
}
echo "== tiny (batch 8 x 10 s, 20 steps, $THREADS threads)"
compare tiny
echo "== base (batch 2 x 4 s, 3 steps, $THREADS threads)"
compare base
echo "== base peak memory per sample (4 s clips; peak RSS at batch 2 minus batch 1)"
for impl in braintune pytorch; do
  if [ $impl = braintune ]; then run() { "$BIN" --size base --threads "$THREADS" --steps 1 --warmup 1 "$@" | tail -1; }
  else run() { /usr/bin/python3 bench/train_step_bench.py --size base --threads "$THREADS" --steps 1 --warmup 1 "$@" | tail -1; }; fi
  one=$(field peak_rss_mb "$(run --batch 1)"); two=$(field peak_rss_mb "$(run --batch 2)")
  /usr/bin/python3 -c "print('$impl: peak RSS %.0f MB at batch 1, %.0f MB at batch 2: %.0f MB per sample' % ($one, $two, $two - $one))"
done

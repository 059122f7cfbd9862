#!/usr/bin/env bash
# Brain-tuning training step: braintune's C++ (bench/train_step_bench.cc) vs the same model,
# batch and step in PyTorch's Python API (bench/train_step_bench.py, Debian's python3-torch: the
# same LibTorch 1.13), same threads, and the same BLAS threading (OpenBLAS on one thread, as
# braintune-train sets it: model/threads.h), run alternately ROUNDS times so both see the same
# machine state; the ratio is of the medians over rounds. Prints samples/s of each, the ratio,
# and for base the peak memory per sample (peak RSS at batch 2 minus batch 1, C++ and Python).
# Usage: bench/train_step_bench.sh [THREADS] [ROUNDS] (default: all cores, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BRAINTUNE_BUILD_DIR:-build}/bench/train_step_bench
THREADS=${1:-$(nproc)}
ROUNDS=${2:-3}
export OPENBLAS_NUM_THREADS=1
./scripts/build train_step_bench >/dev/null
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['$1'])" "$2"; }
compare() {  # size, extra args
  local size=$1; shift
  local cpp=() py=()
  for _ in $(seq "$ROUNDS"); do
    py+=("$(/usr/bin/python3 bench/train_step_bench.py --size "$size" --threads "$THREADS" "$@" | tail -1)")
    cpp+=("$("$BIN" --size "$size" --threads "$THREADS" "$@" | tail -1)")
    echo "pytorch:   ${py[-1]}"
    echo "braintune: ${cpp[-1]}"
  done
  /usr/bin/python3 - "$size" "${#cpp[@]}" "${cpp[@]}" "${py[@]}" <<'PY'
import json, statistics, sys
size, n = sys.argv[1], int(sys.argv[2])
runs = [json.loads(x)["samples_per_sec"] for x in sys.argv[3:]]
cpp, py = statistics.median(runs[:n]), statistics.median(runs[n:])
print("%s: braintune %.3f samples/s, pytorch %.3f samples/s (medians of %d rounds): %.2fx"
      % (size, cpp, py, n, cpp / py))
PY
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

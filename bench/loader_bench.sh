#!/usr/bin/env bash
# Loader throughput vs plain sequential reads and vs h5py on a >= 2 GB synthetic dataset, and vs
# what the trainer consumes at the quickstart size. Usage: bench/loader_bench.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/braintune-bench}
BIN=${BRAINTUNE_BUILD_DIR:-build}
mkdir -p "$DIR"
./scripts/build braintune loader_bench braintune-train >/dev/null
FILE="$DIR/big.h5"
if [ ! -f "$FILE" ]; then
  # 8 participants x 20 stories x 300 TRs x 12000 targets x 4 B = 2.3 GB of responses.
  "$BIN/services/braintune" dataset synth --out "$FILE" --participants 8 --stories 20 --story-seconds 600 \
    --targets 12000 >/dev/null
fi
echo "dataset: $FILE ($(du -h "$FILE" | cut -f1))"
cat "$FILE" >/dev/null  # the warm figures: every reader sees a warm page cache
LOADER=$("$BIN/bench/loader_bench" "$FILE" 20 warm)
# The cold figures: the page cache is dropped before each reader (root only), so the reference
# is the disk, not memcpy.
COLD=$("$BIN/bench/loader_bench" "$FILE" 20 cold)
H5PY=$(/usr/bin/python3 - "$FILE" <<'PY'
import sys, time, h5py
t = time.time(); n = 0
with h5py.File(sys.argv[1], "r") as f:
    for pid in f["participants"]:
        for story in f["participants"][pid]["runs"]:
            n += f["participants"][pid]["runs"][story]["responses"][...].nbytes
    for story in f["stimuli"]:
        n += f["stimuli"][story]["audio"][...].nbytes
print(n / (time.time() - t) / 1e6)
PY
)
# What the trainer consumes: the quickstart job, 40 steps, one rank.
sed -e "s#../data/quickstart.h5#$DIR/quickstart.h5#; s/steps: 300/steps: 40/; s/ranks: 2/ranks: 1/" \
  configs/quickstart.yaml >"$DIR/consume.yaml"
[ -f "$DIR/quickstart.h5" ] || "$BIN/services/braintune" dataset synth --out "$DIR/quickstart.h5" >/dev/null
CONSUME=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 1 "$BIN/services/braintune-train" \
  --spec "$DIR/consume.yaml" --output-dir "$DIR/consume" | sed -n 's/.*step 40\/40.* \([0-9.]*\) samples\/s.*/\1/p')
/usr/bin/python3 - "$LOADER" "$H5PY" "$CONSUME" "$COLD" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); h5py_mb = float(sys.argv[2]); consume = float(sys.argv[3]); c = json.loads(sys.argv[4])
print(f"cold page cache: plain sequential read {c['plain_mb_s']:.1f} MB/s (reference), loader batches "
      f"{c['loader_mb_s']:.1f} MB/s ({c['loader_mb_s'] / c['plain_mb_s']:.2f}x plain)")
print("warm page cache:")
print(f"plain sequential read   {r['plain_mb_s']:9.1f} MB/s  (reference)")
print(f"h5py, whole datasets    {h5py_mb:9.1f} MB/s  ({h5py_mb / r['plain_mb_s']:.2f}x plain)")
print(f"loader statistics pass  {r['stats_mb_s']:9.1f} MB/s  ({r['stats_mb_s'] / r['plain_mb_s']:.2f}x plain)")
print(f"loader batches          {r['loader_mb_s']:9.1f} MB/s  ({r['loader_mb_s'] / r['plain_mb_s']:.2f}x plain), "
      f"{r['loader_samples_s']:.0f} windows/s with {r['participants']} participants x {r['targets']} targets each")
print(f"trainer consumes        {consume:9.1f} windows/s at the quickstart size; loader/trainer = "
      f"{r['loader_samples_s'] / consume:.0f}x")
PY

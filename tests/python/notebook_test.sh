#!/usr/bin/env bash
# The example notebook (docs/python-quickstart.ipynb) executed as a researcher runs it: a
# coordinator and a worker on loopback, the quickstart's dataset and configs in a scratch copy of
# the repository's layout, `jupyter nbconvert --execute` (Debian's jupyter-nbconvert and
# python3-ipykernel). Fails when a cell fails or the evaluation plot is missing.
#   notebook_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
bin="$build/services"
work=$(mktemp -d /tmp/braintune-notebook.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
command -v jupyter-nbconvert >/dev/null || { echo "notebook_test: needs jupyter-nbconvert (scripts/install-deps)"; exit 1; }

mkdir -p "$work/root/configs" "$work/root/data" "$work/root/docs"
cp "$src/configs/quickstart.yaml" "$src/configs/quickstart-eval.yaml" "$work/root/configs/"
cp "$src/docs/python-quickstart.ipynb" "$work/root/docs/"
"$bin/braintune" dataset synth --out "$work/root/data/quickstart.h5" --participants 8 --stories 10 \
  --story-seconds 240 >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/braintune-coordinator" --listen "127.0.0.1:$port" --db "$work/jobs.db" >"$work/coordinator.log" 2>&1 &
pids+=($!)
"$bin/braintune-worker" --coordinator "127.0.0.1:$port" --slots 2 --work-dir "$work/work" \
  --train-binary "$bin/braintune-train" >"$work/worker.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  "$bin/braintune" nodes --coordinator "127.0.0.1:$port" 2>/dev/null | grep -q live && break
  sleep 0.2
done

start=$(date +%s)
if ! BRAINTUNE_ROOT="$work/root" BRAINTUNE_COORDINATOR="127.0.0.1:$port" PYTHONPATH="$build/python" \
    jupyter-nbconvert --to notebook --execute --ExecutePreprocessor.timeout=600 \
    --output "$work/executed.ipynb" "$work/root/docs/python-quickstart.ipynb" >"$work/nbconvert.log" 2>&1; then
  tail -40 "$work/nbconvert.log"; tail -20 "$work/worker.log"
  echo "notebook_test: the notebook failed"; exit 1
fi
python3 - "$work/executed.ipynb" <<'PY'
import json, sys
nb = json.load(open(sys.argv[1]))
outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
errors = [o for o in outputs if o.get("output_type") == "error"]
assert not errors, errors
images = [o for o in outputs if "image/png" in o.get("data", {})]
assert len(images) >= 2, f"{len(images)} figures (the loss history and the evaluation)"
text = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
for expected in ("SUCCEEDED", "tuned", "untrained", "language", "auditory", "held-out", "word_class"):
    assert expected in text, f"'{expected}' not in the notebook's output"
print(f"notebook_test: {len(nb['cells'])} cells ran, {len(images)} figures")
PY
echo "notebook_test: executed in $(( $(date +%s) - start )) s"
if [ -n "${BRAINTUNE_NOTEBOOK_OUT:-}" ]; then cp "$work/executed.ipynb" "$BRAINTUNE_NOTEBOOK_OUT"; fi

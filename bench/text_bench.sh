#!/usr/bin/env bash
# Text models (issue 19): braintune's C++ (bench/text_bench.cc) against the same work in
# PyTorch's Python API (bench/text_bench.py, Debian's python3-torch: the same LibTorch 1.13),
# same threads, same BLAS threading (OpenBLAS on one thread, as braintune sets it), the same
# randomly initialised GPT-2 weights, run alternately ROUNDS times; the ratio is of the medians.
#   words: word-level features of every layer (eval/word_features.h: tokenizing, huth contexts of
#          64 words, batched passes), words/s; the states are compared (largest difference). The
#          toy BPE vocabulary (400 merges) cuts a word into ~3 tokens where GPT-2's real one needs
#          ~1.3, so 64 words here are about as many tokens as ~150 real ones (longer contexts
#          exceed tiny's 512 positions and turn into one pass per word).
#   step:  a brain-tuning step with LoRA on attention (mean over words -> head -> Pearson loss
#          -> backward -> clip -> AdamW), samples/s; the first losses and gradient norm compared.
# The words are the first WORDS words of docs/evaluation.md (English with punctuation, digits,
# code; a quarter of them for small), the BPE vocabulary trained on them by
# bench/reference/text_reference.py.
# Usage: bench/text_bench.sh [THREADS] [ROUNDS] [WORDS] (default: all cores, 3 rounds, 2000 words)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BRAINTUNE_BUILD_DIR:-build}/bench/text_bench
THREADS=${1:-$(nproc)}
ROUNDS=${2:-3}
WORDS=${3:-2000}
export OPENBLAS_NUM_THREADS=1
./scripts/build text_bench >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tr -s ' \n\t' '\n' < docs/evaluation.md | grep -v '^$' | head -n "$WORDS" | tr '\n' ' ' > "$work/tiny.words"
tr ' ' '\n' < "$work/tiny.words" | head -n $((WORDS / 4)) | tr '\n' ' ' > "$work/small.words"
/usr/bin/python3 bench/reference/text_reference.py make-tokenizers --text "$work/tiny.words" --out "$work/tok" \
  --merges 400 >/dev/null
for size in tiny small; do
  /usr/bin/python3 bench/text_bench.py make-model --size $size --out "$work/$size" >/dev/null
done
/usr/bin/python3 bench/text_bench.py make-inputs --model "$work/tiny" --out "$work/tiny.inputs" --batch 8 --tokens 64 >/dev/null
/usr/bin/python3 bench/text_bench.py make-inputs --model "$work/small" --out "$work/small.inputs" --batch 4 --tokens 128 >/dev/null

ratio() {  # label, unit key, then the C++ and Python JSON lines (ROUNDS each)
  /usr/bin/python3 - "$@" <<'PY'
import json, statistics, sys
label, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = [json.loads(x) for x in sys.argv[4:]]
cpp = statistics.median(r[key] for r in runs[:n])
py = statistics.median(r[key] for r in runs[n:])
print("%s: braintune %.2f %s, pytorch %.2f %s (medians of %d rounds): %.2fx"
      % (label, cpp, key.replace("_per_sec", "/s"), py, key.replace("_per_sec", "/s"), n, cpp / py))
PY
}

words() {  # size
  local size=$1 cpp=() py=()
  local args=(--model "$work/$size" --tokenizer "$work/tok/gpt2" --words "$work/$size.words" --context-words 64
              --mode huth --batch-size 8 --repeats 2 --threads "$THREADS")
  for r in $(seq "$ROUNDS"); do
    cpp+=("$("$BIN" words "${args[@]}" --save "$work/states.safetensors" | tail -1)")
    py+=("$(/usr/bin/python3 bench/text_bench.py words "${args[@]}" --expected "$work/states.safetensors" | tail -1)")
    echo "braintune: ${cpp[-1]}"
    echo "pytorch:   ${py[-1]}"
  done
  ratio "words $size ($(wc -w < "$work/$size.words") words, 64-word huth contexts, $THREADS threads)" words_per_sec "$ROUNDS" "${cpp[@]}" "${py[@]}"
}

step() {  # size, steps
  local size=$1 steps=$2 cpp=() py=()
  local args=(--model "$work/$size" --inputs "$work/$size.inputs" --steps "$steps" --warmup 2 --threads "$THREADS"
              --lora-dropout 0)
  for r in $(seq "$ROUNDS"); do
    cpp+=("$("$BIN" step "${args[@]}" | tail -1)")
    py+=("$(/usr/bin/python3 bench/text_bench.py step "${args[@]}" | tail -1)")
    echo "braintune: ${cpp[-1]}"
    echo "pytorch:   ${py[-1]}"
  done
  ratio "step $size (LoRA r8 on c_attn+c_proj, $steps steps, $THREADS threads)" samples_per_sec "$ROUNDS" \
    "${cpp[@]}" "${py[@]}"
}

echo "== word-level features"
words tiny
words small
echo "== brain-tuning step"
step tiny 20
step small 5

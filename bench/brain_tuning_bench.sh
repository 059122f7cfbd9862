#!/usr/bin/env bash
# The science benchmark (docs/evaluation.md, "The science benchmark"): does braintune reproduce
# brain-tuning's published effects on the synthetic brain, on participants the tuning never saw?
#   1. a synthetic brain (16 participants, 20 stories of 180 s);
#   2. pretraining: the tiny encoder learns phonemes from the dataset's annotations (kind pretrain);
#   3. brain-tuning from it on the first half of the participants, one job per seed (3 seeds);
#   4. evaluation of the pretrained and every tuned model on the other half (held out);
#   5. the table: per-ROI scores (mean ± SEM over held-out participants, exact sign-flip test),
#      the data-efficiency sweep, the probes, the ceiling (bench/brain_tuning_table.py).
# usage: bench/brain_tuning_bench.sh [--small] [--check] [--out DIR] [--head H] [--finetune F] [--test-stories N]
#                                    [--tune-steps N] [--lr LR] [--data-seed N]
#   --small     8 participants (4 held out), one seed, 200 pretraining steps: the CI test
#   --check     exit 1 unless each effect has the published direction
#   --head      the tuning's model.head: shared (default) or participant
#   --finetune  the tuning's model.finetune: full (default) or lora (rank 8 on q/k/v/out)
#   --test-stories  how many stories (the last ones) pretraining and tuning hold out and the
#               evaluation scores and probes on (default 1)
#   --tune-steps  the brain-tuning's training.steps (default 1500, a budget: early stopping ends
#               it, at steps 300-650 here; 300 stops it short: docs/evaluation.md)
#   --lr        the brain-tuning's encoder learning rate (default 0.0005)
#   --data-seed the synthetic brain's seed (default 1)
# Environment: BRAINTUNE_BUILD_DIR (default build, relative to the checkout or absolute). Runs 2
# MPI ranks; ~6 minutes on 2 cores with nothing beside it (--small: ~3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BRAINTUNE_BUILD_DIR:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BIN="$BUILD/services"
OUT="$ROOT/.bench/brain_tuning"
PARTICIPANTS=16 HELD_OUT=8 STORIES=20 STORY_SECONDS=180 SEEDS="0 1 2" PRETRAIN_STEPS=300 TUNE_STEPS=1500
CHECK=()
HEAD=shared FINETUNE=full TEST_STORIES=1 LR=0.0005 DATA_SEED=1
while [ $# -gt 0 ]; do
  case "$1" in
    --small) PARTICIPANTS=8 HELD_OUT=4 STORIES=20 STORY_SECONDS=180 SEEDS="0" PRETRAIN_STEPS=200 ;;
    --check) CHECK=(--check) ;;
    --out) OUT=$2; shift ;;
    --head) HEAD=$2; shift ;;
    --finetune) FINETUNE=$2; shift ;;
    --test-stories) TEST_STORIES=$2; shift ;;
    --tune-steps) TUNE_STEPS=$2; shift ;;
    --lr) LR=$2; shift ;;
    --data-seed) DATA_SEED=$2; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "brain_tuning_bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$HEAD/$FINETUNE" in shared/full|shared/lora|participant/full|participant/lora) ;;
  *) echo "brain_tuning_bench: --head is shared or participant, --finetune full or lora" >&2; exit 2 ;;
esac
case "$TEST_STORIES" in [1-9]) ;; *) echo "brain_tuning_bench: --test-stories is 1 to 9" >&2; exit 2 ;; esac
case "$TUNE_STEPS" in [1-9]|[1-9][0-9]|[1-9][0-9][0-9]|[1-9][0-9][0-9][0-9]) ;;
  *) echo "brain_tuning_bench: --tune-steps is 1 to 9999" >&2; exit 2 ;; esac
case "$LR" in 0.[0-9]*|[1-9]e-[0-9]) ;; *) echo "brain_tuning_bench: --lr is a number such as 0.0005 or 5e-4" >&2; exit 2 ;; esac
case "$DATA_SEED" in [0-9]|[1-9][0-9]|[1-9][0-9][0-9]) ;; *) echo "brain_tuning_bench: --data-seed is 0 to 999" >&2; exit 2 ;; esac
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"
step() { printf '==> %s (%ss)\n' "$*" "$SECONDS"; }

step "synthetic brain: $PARTICIPANTS participants, $STORIES stories of $STORY_SECONDS s"
"$BIN/braintune" dataset synth --out dataset.h5 --participants "$PARTICIPANTS" --stories "$STORIES" \
  --story-seconds "$STORY_SECONDS" --seed "$DATA_SEED" >/dev/null 2>&1
tuned=$(seq -f 'sub-%02g' 1 $((PARTICIPANTS - HELD_OUT)) | paste -sd, | sed 's/,/, /g')
test_stories=$(seq -f 'story_%02g' $((STORIES - TEST_STORIES)) $((STORIES - 1)) | paste -sd, | sed 's/,/, /g')
render() {  # template -> file, with the benchmark's values
  sed -e "s/@PRETRAIN_STEPS@/$PRETRAIN_STEPS/" -e "s/@TUNE_STEPS@/$TUNE_STEPS/" -e "s/@TUNED@/$tuned/" \
      -e "s/@HEAD@/$HEAD/" -e "s/@FINETUNE@/$FINETUNE/" -e "s/@SEED@/$2/g" -e "s/@LR@/$LR/" \
      -e "s/^  path: dataset.h5$/  path: dataset.h5\n  test_stories: [$test_stories]/" "$ROOT/bench/brain_tuning/$1"
}

step "pretraining on phonemes ($PRETRAIN_STEPS steps)"
render pretrain.yaml 0 > pretrain.yaml
mpirun -np 2 "$BIN/braintune-train" --spec pretrain.yaml > pretrain.log 2>&1 || { tail -20 pretrain.log; exit 1; }
grep "done:" pretrain.log

models=""
for seed in $SEEDS; do
  step "brain-tuning seed $seed on $tuned ($TUNE_STEPS steps)"
  render tune.yaml "$seed" > "tune-$seed.yaml"
  mpirun -np 2 "$BIN/braintune-train" --spec "tune-$seed.yaml" > "tune-$seed.log" 2>&1 || { tail -20 "tune-$seed.log"; exit 1; }
  grep "done:" "tune-$seed.log"
  models+="    - name: tuned-$seed\n      checkpoint: tuned-$seed/checkpoint.pt\n"
done

step "evaluating on the held-out participants"
render eval.yaml 0 | sed "s|@MODELS@|${models%\\n}|" > eval.yaml
"$BIN/braintune" eval eval.yaml > eval.log 2>&1 || { tail -30 eval.log; exit 1; }

step "table"
/usr/bin/python3 "$ROOT/bench/brain_tuning_table.py" --dir "$OUT" "${CHECK[@]}"
echo "outputs: $OUT (report: eval/report.html, table: table.json); ${SECONDS}s"

#!/usr/bin/env bash
# Ridge with a cross-validated alpha per target: braintune's FitRidgeCV (leave-one-out, and
# contiguous folds) vs scikit-learn's RidgeCV(alpha_per_target=True) (bench/ridge_reference.py,
# Debian's python3-sklearn) on the same synthetic problem, alphas and threads: time, peak RSS,
# held-out accuracy. Default size 5,000 TRs x 2,000 features x 20,000 targets, 2 threads.
# Usage: bench/ridge_bench.sh [--quick] [--n N] [--p P] [--t T] [--test M] [--threads T] [--dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BRAINTUNE_BUILD_DIR:-build}
./scripts/build ridge_bench >/dev/null
/usr/bin/python3 -c "import sklearn, h5py" 2>/dev/null ||
  { echo "ridge_bench.sh: needs python3-sklearn and python3-h5py (apt-get install python3-sklearn python3-h5py)" >&2; exit 1; }
exec "$BIN/bench/ridge_bench" "$@"

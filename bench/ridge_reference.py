"""The reference side of bench/ridge_bench.cc: scikit-learn's RidgeCV(alpha_per_target=True) with
its efficient leave-one-out (cv=None) on the problem the benchmark wrote.

Usage: ridge_reference.py PROBLEM.h5 OUT.h5

Reads x_train [n, p], y_train [n, t], x_test [m, p] and alphas [a] from PROBLEM.h5 (float32 data,
cast to float64 inside RidgeCV as braintune casts inside FitRidgeCV), times fit + predict, writes
the chosen alphas [t] and the held-out predictions [m, t] (float64) to OUT.h5 and prints one JSON
line: seconds (fit + predict), peak_mb (peak RSS of this process) and loaded_mb (peak RSS once
the data were read). Thread counts come from the environment (OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS), which the benchmark sets to what it gives LibTorch.
"""
import json
import resource
import sys
import time

import h5py
from sklearn.linear_model import RidgeCV


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main():
    problem, out = sys.argv[1], sys.argv[2]
    with h5py.File(problem, "r") as f:
        x, y, x_test, alphas = (f[k][...] for k in ("x_train", "y_train", "x_test", "alphas"))
    loaded = peak_mb()
    start = time.perf_counter()
    model = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x, y)
    pred = model.predict(x_test)
    seconds = time.perf_counter() - start
    with h5py.File(out, "w") as f:
        f["alphas"] = model.alpha_
        f["pred"] = pred
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "loaded_mb": loaded}))


if __name__ == "__main__":
    main()

"""The reference side of `ridge_bench --banded`: banded ridge with two bands and a pair of alphas
per target chosen over every pair of the grid by contiguous folds, written straightforwardly in
NumPy (the estimator of src/eval/banded_ridge.h; himalaya's BandedRidgeCV with a grid instead
of its random search over band weights).

Usage: banded_ridge_reference.py PROBLEM.h5 OUT.h5 FOLDS

For every fold of numpy.array_split(arange(n), FOLDS) and every pair (a1, a2) of the problem's
alphas: centre the other rows, solve (Xc'Xc + diag(a1 on band 1, a2 on band 2)) W = Xc'Yc for all
targets at once, add the squared errors of the fold's rows. Per target the pair with the
smallest sum (ties: the pair listed first, band 1's alpha varying slowest) is refitted on all
rows. Writes alphas [2, t] and the held-out predictions [m, t] to OUT.h5 and prints one JSON
line as bench/ridge_reference.py does. float64 throughout.
"""
import json
import resource
import sys
import time

import h5py
import numpy as np


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def solve(x, y, penalty):
    """Weights [p, t] and intercept [t] of ridge with one penalty per column, intercept free."""
    xm, ym = x.mean(0), y.mean(0)
    xc, yc = x - xm, y - ym
    w = np.linalg.solve(xc.T @ xc + np.diag(penalty), xc.T @ yc)
    return w, ym - xm @ w


def main():
    problem, out, folds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with h5py.File(problem, "r") as f:
        x, y, x_test, alphas = (f[k][...] for k in ("x_train", "y_train", "x_test", "alphas"))
        p1 = int(f["band1_columns"][0])
    loaded = peak_mb()
    start = time.perf_counter()
    x, y, x_test = x.astype(np.float64), y.astype(np.float64), x_test.astype(np.float64)
    n, p = x.shape
    pairs = [(a1, a2) for a1 in alphas for a2 in alphas]
    errors = np.zeros((len(pairs), y.shape[1]))
    for rows in np.array_split(np.arange(n), folds):
        train = np.setdiff1d(np.arange(n), rows)
        for i, (a1, a2) in enumerate(pairs):
            penalty = np.concatenate([np.full(p1, a1), np.full(p - p1, a2)])
            w, b = solve(x[train], y[train], penalty)
            errors[i] += ((y[rows] - x[rows] @ w - b) ** 2).sum(0)
    best = errors.argmin(0)  # the first of equal minima
    chosen = np.array([pairs[k] for k in best]).T  # [2, t]
    pred = np.empty((x_test.shape[0], y.shape[1]))
    for k in np.unique(best):
        targets = np.flatnonzero(best == k)
        a1, a2 = pairs[k]
        w, b = solve(x, y[:, targets], np.concatenate([np.full(p1, a1), np.full(p - p1, a2)]))
        pred[:, targets] = x_test @ w + b
    seconds = time.perf_counter() - start
    with h5py.File(out, "w") as f:
        f["alphas"] = chosen
        f["pred"] = pred
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "loaded_mb": loaded}))


if __name__ == "__main__":
    main()

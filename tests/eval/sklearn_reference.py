"""scikit-learn's answers for tests/eval/ridge_test.cc: writes, for a tall (n > p) and a wide
(n < p) problem, the data and Ridge / per-alpha contiguous-fold / RidgeCV(alpha_per_target)
results as numpy.savetxt files into the directory given. Usage: sklearn_reference.py OUT_DIR"""
import os
import sys

import numpy as np
from sklearn.linear_model import Ridge, RidgeCV

out = sys.argv[1]
rng = np.random.default_rng(0)
alphas = np.logspace(1, 4, 15)
for name, (n, p) in {"tall": (120, 30), "wide": (40, 100)}.items():
    t = 7
    x = rng.standard_normal((n, p))
    w = rng.standard_normal((p, t))
    # Noise levels differ per target, so the best alphas differ too.
    y = 0.3 * x @ w + rng.standard_normal((n, t)) * rng.uniform(0.5, 8, t) + rng.uniform(-3, 3, t)
    x_test = rng.standard_normal((20, p))
    fixed = alphas[[0, 3, 6, 9, 12, 14, 7]]
    ridge = Ridge(alpha=fixed).fit(x, y)
    # The per-alpha loop over contiguous folds (never shuffled) that braintune's folds mirror.
    folds = np.array_split(np.arange(n), 5)
    error = np.zeros((len(alphas), t))
    for i, a in enumerate(alphas):
        for f in folds:
            train = np.setdiff1d(np.arange(n), f)
            error[i] += ((Ridge(alpha=a).fit(x[train], y[train]).predict(x[f]) - y[f]) ** 2).sum(0)
    by_folds = alphas[error.argmin(0)]
    loo = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x, y)
    arrays = {
        "x": x, "y": y, "x_test": x_test, "fixed_alphas": fixed,
        "ridge_coef": ridge.coef_.T, "ridge_intercept": ridge.intercept_, "ridge_pred": ridge.predict(x_test),
        "folds_alphas": by_folds,
        "loo_alphas": loo.alpha_, "loo_coef": loo.coef_.T, "loo_intercept": loo.intercept_,
    }
    for key, value in arrays.items():
        np.savetxt(os.path.join(out, f"{name}_{key}.txt"), np.atleast_2d(value), fmt="%.17g")

"""LEACE (Belrose et al. 2023) in NumPy, as the paper's closed form, to check braintune's C++
eraser (src/eval/leace.h):

    W = Sigma_xx^(-1/2), W+ = Sigma_xx^(1/2), P = projection onto colspace(W Sigma_xz),
    r(x) = x - W+ P W (x - mu)

Usage: python3 leace_reference.py --input IN.safetensors --expected EXP.safetensors [--tol 1e-8]
    IN: "x" [n, d], "z" [n, k] (float64); EXP: "erased" [n, d] (braintune's r(x))
    exit 1 when they differ by more than tol, or when r(X) still covaries with Z.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wav2vec2_reference import load_safetensors  # noqa: E402


def leace(x, z):
    mu = x.mean(0)
    xc, zc = x - mu, z - z.mean(0)
    n = x.shape[0]
    sxx = xc.T @ xc / (n - 1)
    sxz = xc.T @ zc / (n - 1)
    vals, vecs = np.linalg.eigh(sxx)
    keep = vals > vals.max() * x.shape[1] * 1e-12
    inv_sqrt = np.where(keep, 1 / np.sqrt(np.where(keep, vals, 1)), 0)
    w = (vecs * inv_sqrt) @ vecs.T
    w_pinv = (vecs * np.sqrt(np.where(keep, vals, 0))) @ vecs.T
    u, s, _ = np.linalg.svd(w @ sxz, full_matrices=False)
    q = u[:, s > s.max() * max(x.shape[1], z.shape[1]) * 1e-12]
    p = q @ q.T
    return x - (w_pinv @ p @ w @ (x - mu).T).T


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--tol", type=float, default=1e-8)
    a = ap.parse_args()
    t = load_safetensors(a.input)
    x, z = t["x"].double().numpy(), t["z"].double().numpy().reshape(t["x"].shape[0], -1)
    got = load_safetensors(a.expected)["erased"].double().numpy()
    want = leace(x, z)
    diff = np.abs(got - want).max()
    cross = np.abs((want - want.mean(0)).T @ (z - z.mean(0))).max() / len(x)
    if diff > a.tol or cross > 1e-8:
        print(f"max |diff| {diff:.3g} (tol {a.tol}), max |cross-covariance| after erasure {cross:.3g}")
        return 1
    print(f"ok: max |diff| {diff:.3g}, cross-covariance after erasure {cross:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

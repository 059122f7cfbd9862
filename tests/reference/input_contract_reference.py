#!/usr/bin/env python3
"""Independent references for braintune's input contract (tests/train/loader_test.cc,
tests/model/input_contract_test.cc), with NumPy, SciPy and h5py from Debian.

  tones OUT.h5 REF_DIR   a dataset (format v1) with a 1 kHz tone (amplitude 0.5, 10 s) recorded
                         at 44.1 kHz (story tone44) and at 22.05 kHz (story tone22), one
                         participant; REF_DIR/<story>.txt holds the story resampled to 16 kHz by
                         scipy.signal.resample_poly, one sample per line
  normalize IN OUT BEGIN END PADDING
                         Hugging Face's Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm on the
                         window in IN (one sample per line) whose samples [BEGIN, END) are audio
                         and the rest padding, written to OUT
"""
import sys
from fractions import Fraction

import numpy as np


def tones(out, ref_dir):
    import h5py
    from scipy.signal import resample_poly

    seconds, tr, n_times = 10.0, 2.0, 5
    with h5py.File(out, "w") as f:
        f.attrs["format"] = "braintune-dataset"
        f.attrs["version"] = 1
        f.attrs["modality"] = "fmri"
        for story, rate in (("tone44", 44100.0), ("tone22", 22050.0)):
            t = np.arange(int(seconds * rate)) / rate
            x = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
            f.create_dataset(f"stimuli/{story}/audio", data=x)
            f[f"stimuli/{story}/audio"].attrs["sample_rate"] = rate
            run = f.create_dataset(f"participants/p/runs/{story}/responses",
                                   data=np.random.default_rng(0).standard_normal((n_times, 3)).astype(np.float32))
            run.attrs["tr"] = tr
            run.attrs["t0"] = 0.0
            ratio = Fraction(16000, int(rate))
            y = resample_poly(x.astype(np.float64), ratio.numerator, ratio.denominator)
            np.savetxt(f"{ref_dir}/{story}.txt", y, fmt="%.9g")
        f["participants/p"].attrs["space"] = "native"
        f["participants/p"].attrs["n_targets"] = 3


def normalize(path_in, path_out, begin, end, padding):
    x = np.loadtxt(path_in, dtype=np.float32).reshape(-1)
    valid = x[begin:end]
    y = np.full_like(x, padding)
    y[begin:end] = (valid - valid.mean()) / np.sqrt(valid.var() + 1e-7)
    np.savetxt(path_out, y, fmt="%.9g")


if __name__ == "__main__":
    if sys.argv[1] == "tones":
        tones(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "normalize":
        normalize(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    else:
        sys.exit(__doc__)

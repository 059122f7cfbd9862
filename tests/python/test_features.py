"""`braintune features` (a job of kind features) as a researcher uses it: the model's features of
every story with their times, and at each participant's response times, in an HDF5 file h5py
opens; computed through the evaluator's feature cache, so an evaluation afterwards computes none."""
import json
import os
import subprocess

import h5py
import numpy as np

from conftest import binary

MODEL = "model: {conv_channels: 16, hidden: 32, layers: 2, heads: 4, ffn: 64}\n"


def run(args, cwd):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run([binary("braintune"), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def test_features_export_and_the_evaluation_reuses_them(tmp_path):
    run(["dataset", "synth", "--out", "brain.h5", "--participants", "2", "--stories", "3", "--story-seconds", "60",
         "--targets", "8"], tmp_path)
    window = "context_seconds: 4, stride_seconds: 0.5, pooling: mean, cache_dir: cache"
    (tmp_path / "features.yaml").write_text(
        "name: feats\nkind: features\ndata: {path: brain.h5, test_stories: [story_02]}\n" + MODEL +
        f"evaluation: {{models: [{{name: untrained}}], layers: [0, 2], {window}, resampled: true}}\n"
        "output: {dir: out}\n")
    r = run(["features", "features.yaml", "--output", "json"], tmp_path)
    path = json.loads(r.stdout)["features"]
    assert path == str(tmp_path / "out" / "features.h5")
    with h5py.File(path) as f:
        assert f.attrs["format"] == "braintune-features" and f.attrs["pooling"] == "mean"
        assert sorted(f["models/untrained"].keys()) == ["layer_0", "layer_2"]
        values = f["models/untrained/layer_2/story_01/values"][()]
        times = f["models/untrained/layer_2/story_01/times"][()]
        assert values.dtype == np.float32 and values.shape == (len(times), 32)
        assert np.allclose(np.diff(times), 0.5) and abs(times[-1] - 60) <= 0.5, "one window per stride, to the end"
        assert np.all(np.isfinite(values)) and values.std() > 0
        assert not np.allclose(values, f["models/untrained/layer_0/story_01/values"][()]), "layers differ"
        resampled = f["models/untrained/layer_2/resampled/sub-02/story_01"][()]
        assert resampled.shape == (30, 32), "one row per response sample (60 s at TR 2 s)"
    # The evaluation of the same model, windows and cache computes no features again.
    (tmp_path / "eval.yaml").write_text(
        "name: ev\nkind: evaluate\ndata: {path: brain.h5, test_stories: [story_02]}\n" + MODEL +
        f"evaluation: {{models: [{{name: untrained}}], layers: [0, 2], {window}, data_fractions: []}}\n"
        "output: {dir: ev}\n")
    run(["eval", "eval.yaml"], tmp_path)
    summary = json.load(open(tmp_path / "ev" / "evaluation.json"))
    assert int(summary["feature_cache_misses"]) == 0 and int(summary["feature_cache_hits"]) > 0, summary


def test_a_features_spec_without_models_names_the_key(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: x\nkind: features\ndata: {path: /d.h5}\n")
    r = subprocess.run([binary("braintune"), "features", str(tmp_path / "bad.yaml")], capture_output=True, text=True)
    assert r.returncode != 0
    assert "evaluation.models" in r.stderr and "kind features" in r.stderr

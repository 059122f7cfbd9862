"""What jobs leave behind, as Python objects: a training job's result.json, an evaluation's
evaluation.h5 and evaluation.json (docs/evaluation.md, "Outputs")."""
import json
import os

import h5py
import numpy as np


def load_result(job_or_path):
    """A training or evaluation job's result.json as a dict: from a finished job (its
    result.output_dir, as the workers wrote it: the path must be reachable from here), its
    output directory, or the file itself."""
    path = job_or_path
    if hasattr(job_or_path, "result"):
        if not job_or_path.result.output_dir:
            raise ValueError(f"job {job_or_path.id} has no result yet (state {job_or_path.state})")
        path = job_or_path.result.output_dir
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "result.json")
    with open(path) as f:
        return json.load(f)


class Evaluation:
    """An evaluation's outputs (evaluation.h5 and, beside it, evaluation.json).

    models: the model names; layers[model]: the layer indices scored; participants: their ids.
    r(model, layer, participant): per-target held-out Pearson r (numpy, float); likewise
    alpha(...) and cv_r2(...); ceiling(participant): per-target noise ceilings (or None).
    summary: evaluation.json as a dict (the EvaluationSummary proto's fields).
    roi_scores(): a tidy table (a pandas DataFrame when pandas is installed, else a list of dicts)
    of model, layer, roi, mean, sem, n: the normalized (or raw) score per ROI and layer.
    best_layer(model, roi="all"): the layer chosen on the training stories, for all targets or
    one ROI. probes(): a tidy table of model, probe, layer, accuracy, chance, test_items.
    participant_split: "held-out" when no scored participant was seen by a tuned model (else
    why all were scored); tuned_participants: those the tuned models saw.
    """

    def __init__(self, path):
        path = os.fspath(path)
        self.directory = path if os.path.isdir(path) else os.path.dirname(path)
        self.h5_path = os.path.join(path, "evaluation.h5") if os.path.isdir(path) else path
        with h5py.File(self.h5_path, "r") as f:
            self.attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            self.participants = [p.decode() if isinstance(p, bytes) else p for p in f["participants"][()]]
            self.models = sorted(f["models"].keys()) if "models" in f else []
            self.layers = {m: sorted(int(k.split("_", 1)[1]) for k in f["models"][m].keys() if k.startswith("layer_"))
                           for m in self.models}
            self.data_fractions = f["data_fractions"][()] if "data_fractions" in f else None
        json_path = os.path.join(self.directory, "evaluation.json")
        self.summary = None
        if os.path.exists(json_path):
            with open(json_path) as f:
                self.summary = json.load(f)

    def _array(self, key):
        with h5py.File(self.h5_path, "r") as f:
            if key not in f:
                raise KeyError(f"{self.h5_path}: no {key}")
            return f[key][()]

    def r(self, model, layer, participant):
        return self._array(f"models/{model}/layer_{layer}/r/{participant}")

    def alpha(self, model, layer, participant):
        return self._array(f"models/{model}/layer_{layer}/alpha/{participant}")

    def cv_r2(self, model, layer, participant):
        return self._array(f"models/{model}/layer_{layer}/cv_r2/{participant}")

    def ceiling(self, participant):
        try:
            return self._array(f"ceiling/{participant}")
        except KeyError:
            return None

    @property
    def participant_split(self):
        return (self.summary or {}).get("participant_split", "")

    @property
    def tuned_participants(self):
        return list((self.summary or {}).get("tuned_participants", []))

    def best_layer(self, model, roi="all"):
        """The layer the evaluation chose for `model` (on training stories), over all targets or
        for one ROI."""
        for m in (self.summary or {}).get("models", []):
            if m["name"] == model:
                if roi == "all" and roi not in m.get("best_layer_by_roi", {}):
                    return int(m.get("best_layer", 0))
                return int(m["best_layer_by_roi"][roi])
        raise KeyError(f"no model {model} in {self.directory}/evaluation.json")

    def probes(self):
        rows = [{"model": m["name"], "probe": p["probe"], "layer": int(p.get("layer", 0)),
                 "accuracy": float(p.get("accuracy", np.nan)), "chance": float(p.get("chance", np.nan)),
                 "test_items": int(p.get("test_items", 0))}
                for m in (self.summary or {}).get("models", []) for p in m.get("probes", [])]
        return _table(rows, ["model", "probe", "layer", "accuracy", "chance", "test_items"])

    def roi_scores(self):
        rows = []
        for m in (self.summary or {}).get("models", []):
            for layer in m.get("layers", []):
                for roi in layer.get("rois", []):
                    s = roi.get("score", {})
                    rows.append({"model": m["name"], "layer": int(layer.get("layer", 0)), "roi": roi["roi"],
                                 "mean": float(s.get("mean", np.nan)), "sem": float(s.get("sem", np.nan)),
                                 "n": int(s.get("n", 0))})
        return _table(rows, ["model", "layer", "roi", "mean", "sem", "n"])

    def __repr__(self):
        return (f"Evaluation({self.directory}: models {self.models}, {len(self.participants)} participants, "
                f"score {self.attrs.get('score', '?')})")


def _table(rows, columns):
    """A pandas DataFrame of `rows` when pandas is installed, else the list of dicts."""
    try:
        import pandas as pd
        return pd.DataFrame(rows, columns=columns)
    except ImportError:
        return rows


def load_evaluation(path):
    """An evaluation job's outputs: its output directory, or its evaluation.h5."""
    return Evaluation(path)

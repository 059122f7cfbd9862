"""The BIDS importers on miniature trees with each dataset's exact layout, written here with the
field's own writers (nibabel for GIFTI): import, validate with braintune, train a few steps."""
import json
import os
import subprocess
import wave

import numpy as np
import pytest

from braintune.importers import narratives
from conftest import binary

RATE = 8000
TASKS = {"pieman": 27.0, "tunnel": 24.0}  # story -> seconds of audio


def write_wav(path, seconds, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.float64)
    with wave.open(path, "wb") as w:
        w.setnchannels(2)  # stereo, as some stimuli are: averaged to mono
        w.setsampwidth(2)
        w.setframerate(rate)
        pcm = (np.repeat(samples[:, None], 2, axis=1) * 32767).astype("<i2")
        w.writeframes(pcm.tobytes())


def write_gifti(path, volumes):
    import nibabel as nib
    arrays = [nib.gifti.GiftiDataArray(v.astype(np.float32), intent="NIFTI_INTENT_TIME_SERIES") for v in volumes]
    nib.save(nib.gifti.GiftiImage(darrays=arrays), path)


def narratives_tree(root, subjects=("sub-001", "sub-002"), vertices=12, onset=3.0):
    """The Narratives layout: stimuli, Gentle alignments, BIDS events, AFNI-cleaned fsaverage6 GIFTIs."""
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, "stimuli"))
    for task, seconds in TASKS.items():
        write_wav(os.path.join(root, "stimuli", f"{task}_audio.wav"), seconds)
        words, t = [], 0.5
        while t < seconds - 1:
            words.append({"case": "success", "word": "so", "alignedWord": "so", "start": t, "end": t + 0.3,
                          "phones": [{"phone": "s_B", "duration": 0.1}, {"phone": "ow_E", "duration": 0.2}]})
            t += 0.6
        words.append({"case": "not-found-in-audio", "word": "um"})  # Gentle could not place it
        os.makedirs(os.path.join(root, "stimuli", "gentle", task))
        with open(os.path.join(root, "stimuli", "gentle", task, "align.json"), "w") as f:
            json.dump({"transcript": "so " * len(words), "words": words}, f)
    for subject in subjects:
        func = os.path.join(root, subject, "func")
        deriv = os.path.join(root, "derivatives", "afni-nosmooth", subject, "func")
        os.makedirs(func)
        os.makedirs(deriv)
        for task, seconds in TASKS.items():
            key = f"{subject}_task-{task}"
            with open(os.path.join(func, f"{key}_events.tsv"), "w") as f:
                f.write(f"onset\tduration\ttrial_type\tstim_file\n{onset}\t{seconds}\tstory\t{task}_audio.wav\n")
            n = int((seconds + onset) / narratives.TR) + 4  # the scan runs on after the story
            for hemi in "LR":
                write_gifti(os.path.join(deriv, f"{key}_space-fsaverage6_hemi-{hemi}_desc-clean.func.gii"),
                            rng.standard_normal((n, vertices)))


def test_narratives_imports_validates_and_trains(tmp_path):
    root = str(tmp_path / "ds002345")
    narratives_tree(root)
    out = str(tmp_path / "narratives.h5")
    # Through the CLI, as a researcher runs it (it runs this package's importer with Debian's python3).
    cli = subprocess.run([binary("braintune"), "dataset", "import-narratives", root, "--out", out],
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "2 participants, 2 stories, 4 runs" in cli.stdout
    assert "[2/2] tunnel" in cli.stderr, "progress per story"

    import braintune
    d = braintune.open_dataset(out)
    assert sorted(d.stories) == ["pieman", "tunnel"] and sorted(d.participants) == ["sub-001", "sub-002"]
    assert d.participants["sub-001"].space == "fsaverage6" and d.participants["sub-001"].n_targets == 24
    assert abs(d.stories["pieman"].seconds - 27.0) < 1e-3 and d.stories["pieman"].sample_rate == RATE
    with open(os.path.join(root, "stimuli", "gentle", "pieman", "align.json")) as f:
        aligned = [w for w in json.load(f)["words"] if w["case"] == "success"]
    assert len(aligned) > 10
    assert d.stories["pieman"].words == len(aligned), "the word Gentle could not place is left out"
    assert d.stories["pieman"].phonemes == 2 * len(aligned)
    import h5py
    with h5py.File(out) as f:
        run = f["participants/sub-001/runs/pieman/responses"]
        assert run.attrs["t0"] == -3.0 and run.attrs["tr"] == 1.5
        assert run.attrs["t0"] + run.shape[0] * 1.5 <= 27.0 + 1.5, "volumes after the story are dropped"
        assert [t.decode() for t in f["stimuli/pieman/phonemes/text"][:2]] == ["S", "OW"]

    valid = subprocess.run([binary("braintune"), "dataset", "validate", out], capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    spec = tmp_path / "job.yaml"
    spec.write_text("name: narratives\ndata: {path: narratives.h5, test_stories: [tunnel], context_trs: 4}\n"
                    "model: {conv_channels: 16, hidden: 32, layers: 1, heads: 4, ffn: 64}\n"
                    "training: {steps: 4, batch_size: 4, log_every: 5}\n")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    train = subprocess.run([binary("braintune-train"), "--spec", str(spec), "--output-dir", str(tmp_path / "out")],
                           capture_output=True, text=True, env=env, timeout=300)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    assert os.path.exists(tmp_path / "out" / "result.json")


def test_narratives_names_each_missing_or_malformed_piece(tmp_path, capsys):
    root = str(tmp_path / "ds002345")
    narratives_tree(root, subjects=("sub-001",))
    deriv = os.path.join(root, "derivatives", "afni-nosmooth", "sub-001", "func")
    right = os.path.join(deriv, "sub-001_task-pieman_space-fsaverage6_hemi-R_desc-clean.func.gii")
    os.rename(right, right + ".away")
    assert narratives.main([root, "--out", str(tmp_path / "x.h5")]) == 1
    assert f"{right}: missing" in capsys.readouterr().err
    os.rename(right + ".away", right)

    events = os.path.join(root, "sub-001", "func", "sub-001_task-tunnel_events.tsv")
    with open(events, "w") as f:
        f.write("onset\tduration\nsoon\t20\n")
    assert narratives.main([root, "--out", str(tmp_path / "x.h5")]) == 1
    assert f"{events}: onset 'soon' is not a number" in capsys.readouterr().err

    align = os.path.join(root, "stimuli", "gentle", "pieman", "align.json")
    with open(align, "w") as f:
        f.write('{"words": [{"case": "success", "start": 1.0, "end": 1.2, "phones": [{"phone": "s_B"}]}]}')
    assert narratives.main([root, "--out", str(tmp_path / "x.h5"), "--tasks", "pieman"]) == 1
    assert f"{align}: words[0].phones[0]: needs 'phone' and a numeric 'duration'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.h5"), "nothing is written on error"

"""The BIDS importers on miniature trees with each dataset's exact layout, written here with the
field's own writers (nibabel for GIFTI): import, validate with braintune, train a few steps."""
import glob
import json
import os
import subprocess
import wave

import numpy as np

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


def validate_and_train(tmp_path, dataset, data_keys):
    """`braintune dataset validate` accepts the imported file and braintune-train trains on it."""
    valid = subprocess.run([binary("braintune"), "dataset", "validate", dataset], capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    spec = tmp_path / "job.yaml"
    spec.write_text(f"name: imported\ndata: {{path: {os.path.basename(dataset)}, {data_keys}}}\n"
                    "model: {conv_channels: 16, hidden: 32, layers: 1, heads: 4, ffn: 64}\n"
                    "training: {steps: 3, batch_size: 4, log_every: 5}\n")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    train = subprocess.run([binary("braintune-train"), "--spec", str(spec), "--output-dir", str(tmp_path / "out")],
                           capture_output=True, text=True, env=env, timeout=300)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    assert os.path.exists(tmp_path / "out" / "result.json")


def story_locked(task, n, vertices):
    """What every participant's cortex does during a task, volume by volume of story time."""
    return np.random.default_rng(len(task)).standard_normal((n, vertices)) * 3


def narratives_tree(root, subjects=("sub-001", "sub-002", "sub-003"), vertices=12, onset=3.0):
    """The Narratives layout: stimuli, Gentle alignments, BIDS events (music, then the story, in one
    sound file), AFNI-cleaned fsaverage6 GIFTIs, code/scan_exclude.json. sub-001 heard pieman twice
    (run-1, run-2); sub-002's sound started one TR later in its scans; sub-003's pieman is excluded."""
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, "stimuli"))
    os.makedirs(os.path.join(root, "code"))
    with open(os.path.join(root, "code", "scan_exclude.json"), "w") as f:
        json.dump({"pieman": {"sub-003": ["sub-003_task-pieman"]}, "tunnel": {}}, f)
    for task, seconds in TASKS.items():
        write_wav(os.path.join(root, "stimuli", f"{task}_audio.wav"), seconds)
        words, t = [], 2.5
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
        start = onset + (narratives.TR if subject == "sub-002" else 0.0)
        for task, seconds in TASKS.items():
            for run in (["_run-1", "_run-2"] if subject == "sub-001" and task == "pieman" else [""]):
                key = f"{subject}_task-{task}{run}"
                with open(os.path.join(func, f"{key}_events.tsv"), "w") as f:
                    f.write("onset\tduration\ttrial_type\tstim_file\n"
                            f"{start}\t2.0\tmusic\t{task}_audio.wav\n{start + 2}\t{seconds - 2}\tstory\t{task}_audio.wav\n")
                lead = int(round(start / narratives.TR))  # volumes before the sound
                n = int((seconds + start) / narratives.TR) + 4  # the scan runs on after the story
                volumes = np.concatenate([rng.standard_normal((lead, 2 * vertices)),
                                          story_locked(task, n - lead, 2 * vertices)])
                volumes += 0.3 * rng.standard_normal(volumes.shape)
                for hemi, half in (("L", volumes[:, :vertices]), ("R", volumes[:, vertices:])):
                    write_gifti(os.path.join(deriv, f"{key}_space-fsaverage6_hemi-{hemi}_desc-clean.func.gii"), half)
    if "sub-002" in subjects:  # a task whose runs play one of several sound files (as milkyway's)
        write_wav(os.path.join(root, "stimuli", "milkywayvodka_audio.wav"), 15.0)
        key = "sub-002_task-milkyway"
        with open(os.path.join(root, "sub-002", "func", f"{key}_events.tsv"), "w") as f:
            f.write("onset\tduration\ttrial_type\tstim_file\n3.0\t15.0\tstory\tmilkywayvodka_audio.wav\n")
        deriv = os.path.join(root, "derivatives", "afni-nosmooth", "sub-002", "func")
        for hemi in "LR":
            write_gifti(os.path.join(deriv, f"{key}_space-fsaverage6_hemi-{hemi}_desc-clean.func.gii"),
                        rng.standard_normal((16, vertices)))


def test_narratives_imports_validates_and_trains(tmp_path):
    root = str(tmp_path / "ds002345")
    narratives_tree(root)
    out = str(tmp_path / "narratives.h5")
    # Through the CLI, as a researcher runs it (it runs this package's importer with Debian's python3).
    cli = subprocess.run([binary("braintune"), "dataset", "import-narratives", root, "--out", out],
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "3 participants, 3 stories, 6 runs, 1 with repeats" in cli.stdout
    assert "[3/3] tunnel" in cli.stderr, "progress per story"

    import braintune
    d = braintune.open_dataset(out)
    assert sorted(d.stories) == ["milkywayvodka", "pieman", "tunnel"], "a story is the sound file a run plays"
    assert sorted(d.participants) == ["sub-001", "sub-002", "sub-003"]
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
        assert run.shape[0] == 21, "volumes up to one TR after the story: (27 + 1.5 + 3) / 1.5"
        assert [t.decode() for t in f["stimuli/pieman/phonemes/text"][:2]] == ["S", "OW"]
        # One grid of story time: sub-002's scans started a TR earlier relative to the sound, so
        # its first volume is dropped and the story-locked signal lines up with sub-001's.
        other = f["participants/sub-002/runs/pieman/responses"]
        assert other.shape == run.shape and other.attrs["t0"] == -3.0
        locked = story_locked("pieman", run.shape[0] - 2, 24)
        for pid in ("sub-001", "sub-002"):
            got = f[f"participants/{pid}/runs/pieman/responses"][2:]
            assert np.corrcoef(got.ravel(), locked.ravel())[0, 1] > 0.95, pid
        # sub-001 heard pieman twice: both presentations are its repeats, the first is its run.
        repeats = f["participants/sub-001/repeats/pieman"]
        assert repeats.shape == (2,) + run.shape
        assert np.array_equal(repeats[0], run[:])
        assert not np.array_equal(repeats[1], repeats[0])
        assert np.corrcoef(repeats[1][2:].ravel(), locked.ravel())[0, 1] > 0.95, "run-2 on the same grid"
        assert "pieman" not in f["participants/sub-003/runs"], "code/scan_exclude.json is followed"
        assert "tunnel" in f["participants/sub-003/runs"]

    validate_and_train(tmp_path, out, "test_stories: [tunnel], context_trs: 4")


def test_narratives_names_each_missing_or_malformed_piece(tmp_path, capsys):
    root = str(tmp_path / "ds002345")
    narratives_tree(root, subjects=("sub-001",))
    deriv = os.path.join(root, "derivatives", "afni-nosmooth", "sub-001", "func")
    right = os.path.join(deriv, "sub-001_task-pieman_run-2_space-fsaverage6_hemi-R_desc-clean.func.gii")
    os.rename(right, right + ".away")
    assert narratives.main([root, "--out", str(tmp_path / "x.h5")]) == 1
    assert f"{right}: missing" in capsys.readouterr().err
    os.rename(right + ".away", right)

    # A scan that ended early is left out rather than cutting every participant's run.
    import h5py
    tunnel = os.path.join(deriv, "sub-001_task-tunnel_space-fsaverage6_hemi-{}_desc-clean.func.gii")
    for hemi in "LR":
        write_gifti(tunnel.format(hemi), np.ones((5, 12)))
    assert narratives.main([root, "--out", str(tmp_path / "short.h5")]) == 0
    assert "sub-001_task-tunnel: 5 volumes cover less than 90% of tunnel (19); left out" in capsys.readouterr().err
    with h5py.File(tmp_path / "short.h5") as f:
        assert "tunnel" not in f["participants/sub-001/runs"] and "pieman" in f["participants/sub-001/runs"]

    events = os.path.join(root, "sub-001", "func", "sub-001_task-tunnel_events.tsv")
    with open(events, "w") as f:
        f.write("onset\tduration\nnan\t20\n")
    assert narratives.main([root, "--out", str(tmp_path / "x.h5")]) == 1
    assert f"{events}: onset is nan" in capsys.readouterr().err
    with open(events, "wb") as f:
        f.write(b"onset\tduration\n\xff\xfe3\t20\n")
    assert narratives.main([root, "--out", str(tmp_path / "x.h5")]) == 1
    assert f"{events}: cannot read as a UTF-8 tab-separated table" in capsys.readouterr().err
    with open(events, "w") as f:
        f.write("onset\tduration\nsoon\t20\n")
    assert narratives.main([root, "--out", str(tmp_path / "x.h5")]) == 1
    assert f"{events}: onset 'soon' is not a number" in capsys.readouterr().err

    align = os.path.join(root, "stimuli", "gentle", "pieman", "align.json")
    with open(align, "w") as f:
        f.write('{"words": [{"case": "success", "start": 1.0, "end": 1.2, "phones": [{"phone": "s_B"}]}]}')
    assert narratives.main([root, "--out", str(tmp_path / "x.h5"), "--tasks", "pieman"]) == 1
    assert f"{align}: words[0].phones[0]: needs 'phone' and a numeric 'duration'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.h5") and not os.path.exists(tmp_path / "x.h5.tmp"), "nothing is written"


def test_narratives_volumes_inside_the_task_brain_mask(tmp_path, capsys):
    import nibabel as nib
    root = str(tmp_path / "ds002345")
    narratives_tree(root, subjects=("sub-001", "sub-002"))
    tpl = os.path.join(root, "derivatives", "afni-nosmooth", "tpl-MNI152NLin2009cAsym")
    os.makedirs(tpl)
    mask = np.zeros((3, 3, 2), dtype=np.uint8)
    mask[1, :, :] = 1
    mask[0, 0, 0] = 1  # 7 voxels
    affine = np.diag([2.5, 2.5, 2.5, 1.0])
    for task in list(TASKS) + ["milkyway"]:
        nib.save(nib.Nifti1Image(mask, affine), os.path.join(tpl, f"tpl-MNI152NLin2009cAsym_res-{task}_desc-brain_mask.nii.gz"))
    series = {}
    for gii in glob.glob(os.path.join(root, "derivatives", "afni-nosmooth", "sub-*", "func", "*hemi-L*.func.gii")):
        n = len(nib.load(gii).darrays)
        bold = np.random.default_rng(n).standard_normal((3, 3, 2, n)).astype(np.float32)
        path = gii.replace("_space-fsaverage6_hemi-L_desc-clean.func.gii",
                           "_space-MNI152NLin2009cAsym_res-native_desc-clean_bold.nii.gz")
        nib.save(nib.Nifti1Image(bold, affine), path)
        series[os.path.basename(path).split("_space")[0]] = bold
    out = str(tmp_path / "volume.h5")
    assert narratives.main([root, "--out", out, "--space", "volume"]) == 0, capsys.readouterr().err
    import h5py
    with h5py.File(out) as f:
        p = f["participants/sub-002"]
        assert p.attrs["n_targets"] == 7 and p.attrs["space"].startswith("MNI152NLin2009cAsym_res-")
        run = p["runs/tunnel/responses"]
        # sub-002's sound started one TR later: its volume k + 1 is the task grid's volume k.
        expected = series["sub-002_task-tunnel"][mask > 0].T[1:1 + run.shape[0]]
        assert np.allclose(run[:], expected)

    # Another task on another grid: one participant cannot have two sets of targets.
    mask[2, 2, 1] = 1
    other = os.path.join(tpl, "tpl-MNI152NLin2009cAsym_res-tunnel_desc-brain_mask.nii.gz")
    nib.save(nib.Nifti1Image(mask, affine), other)
    assert narratives.main([root, "--out", out + "2", "--space", "volume"]) == 1
    assert f"{other}: another grid or mask than" in capsys.readouterr().err
    assert not os.path.exists(out + "2")


# MEG-MASC: sub-<s>/ses-<n>/meg/*_meg.con (here .fif, which MNE writes) with BIDS events whose
# trial_type is a Python dict as text, and stimuli/audio/<story>_<i>.wav.
MEG_SOUNDS = {"lw1_0": 4.0, "lw1_1": 3.0}


def meg_event(kind, sound, start, **extra):
    d = {"story": "lw1", "story_uid": 0, "sound_id": int(sound[-1]), "kind": kind, "start": start,
         "sound": f"stimuli/audio/{sound.upper() if sound.endswith('1') else sound}.0.wav"}
    d.update(extra)
    return repr(d)


def meg_masc_tree(root, sessions=(("01", "0", 2.0), ("01", "1", 3.5), ("02", "0", 1.25))):
    """Each recording: 6 magnetometers at 1000 Hz; channel 0 carries a 4 Hz response locked to
    lw1_0's onset (which differs per recording), the rest is noise."""
    import mne
    os.makedirs(os.path.join(root, "stimuli", "audio"))
    for sound, seconds in MEG_SOUNDS.items():
        write_wav(os.path.join(root, "stimuli", "audio", f"{sound}.wav"), seconds)
    rng = np.random.default_rng(1)
    for subject, session, onset in sessions:
        meg = os.path.join(root, f"sub-{subject}", f"ses-{session}", "meg")
        os.makedirs(meg)
        sfreq, seconds = 1000.0, 12.0
        t = np.arange(int(sfreq * seconds)) / sfreq
        data = 2e-14 * rng.standard_normal((6, t.size))
        locked = (t >= onset) & (t < onset + 4.0)
        data[0, locked] += 1e-12 * np.sin(2 * np.pi * 4 * (t[locked] - onset))
        info = mne.create_info([f"MEG {i:03d}" for i in range(6)], sfreq, ch_types="mag")
        stem = os.path.join(meg, f"sub-{subject}_ses-{session}_task-0")
        mne.io.RawArray(data, info, verbose="error").save(stem + "_meg.fif", verbose="error")
        second = onset + 5.0
        rows = [(onset, 0.0, meg_event("sound", "lw1_0", 0.0)),
                (onset + 0.5, 0.3, meg_event("word", "lw1_0", 0.5, word="Tara")),
                (onset + 0.5, 0.1, meg_event("phoneme", "lw1_0", 0.5, phoneme="t_B")),
                (onset + 0.6, 0.2, meg_event("phoneme", "lw1_0", 0.6, phoneme="eh_E")),
                (second, 0.0, meg_event("sound", "lw1_1", 0.0)),
                (second + 1.0, 0.4, meg_event("word", "lw1_1", 1.0, word="stopped"))]
        with open(stem + "_events.tsv", "w") as f:
            f.write("onset\tduration\ttrial_type\tvalue\tsample\n")
            for i, (o, d, tt) in enumerate(rows):
                f.write(f"{o}\t{d}\t{tt}\t{i}\t{int(o * sfreq)}\n")


def test_meg_masc_imports_validates_and_trains(tmp_path):
    root = str(tmp_path / "meg-masc")
    meg_masc_tree(root)
    out = str(tmp_path / "meg.h5")
    cli = subprocess.run([binary("braintune"), "dataset", "import-meg-masc", root, "--out", out],
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "2 participants, 2 stories, 4 runs, 2 with repeats" in cli.stdout
    assert "[3/3] sub-02 ses-0" in cli.stderr, "progress per recording"
    import h5py
    with h5py.File(out) as f:
        assert f.attrs["modality"] == "meg"
        assert [w.decode() for w in f["stimuli/lw1_0/words/text"]] == ["Tara"]
        assert list(f["stimuli/lw1_0/phonemes/onset"]) == [0.5, 0.6]
        assert np.allclose(f["stimuli/lw1_0/phonemes/offset"], [0.6, 0.8])
        assert np.allclose(f["stimuli/lw1_0/words/offset"], [0.8]) and np.allclose(f["stimuli/lw1_1/words/onset"], [1.0])
        assert [p.decode() for p in f["stimuli/lw1_0/phonemes/text"]] == ["T", "EH"]
        assert "lw1_1" in f["stimuli"], "LW1_1.0.wav in the events names stimuli/audio/lw1_1.wav"
        t = np.arange(400) / 100.0
        expected = np.sin(2 * np.pi * 4 * t)
        for pid in ("sub-01", "sub-02"):
            run = f[f"participants/{pid}/runs/lw1_0/responses"]
            assert run.shape == (400, 6) and run.attrs["sample_rate"] == 100.0 and run.attrs["t0"] == 0.0
            assert f[f"participants/{pid}"].attrs["space"] == "KIT-6"
            # The response is cut from each recording at its own sound onset, band-passed, in fT.
            assert np.corrcoef(run[50:350, 0], expected[50:350])[0, 1] > 0.95, pid
            assert 500 < np.abs(run[50:350, 0]).max() < 1100, "1 pT is 1000 fT"
        repeats = f["participants/sub-01/repeats/lw1_0"]
        assert repeats.shape == (2, 400, 6) and np.array_equal(repeats[0], f["participants/sub-01/runs/lw1_0/responses"][:])
        assert np.corrcoef(repeats[1, 50:350, 0], expected[50:350])[0, 1] > 0.95, "session 1 at its own onset"
    validate_and_train(tmp_path, out, "test_stories: [lw1_1]")


def test_meg_masc_names_each_missing_or_malformed_piece(tmp_path, capsys):
    from braintune.importers import meg_masc
    root = str(tmp_path / "meg-masc")
    meg_masc_tree(root, sessions=(("01", "0", 2.0),))
    out = str(tmp_path / "x.h5")
    assert meg_masc.main([root, "--out", out, "--h-freq", "45"]) == 1  # its stop band reaches 56 Hz
    assert "--h-freq + max(25%, 2 Hz) <= --rate / 2" in capsys.readouterr().err

    events = os.path.join(root, "sub-01", "ses-0", "meg", "sub-01_ses-0_task-0_events.tsv")
    with open(events) as f:
        good = f.read()
    with open(events, "w") as f:
        f.write(good.replace("'kind': 'word'", "'kind': 'word', 'x': __import__('os')", 1))
    assert meg_masc.main([root, "--out", out]) == 1
    assert f"{events}, line 3: field 'trial_type': not a dict literal" in capsys.readouterr().err

    with open(events, "w") as f:
        f.write(good.replace("stimuli/audio/lw1_0.0.wav", "stimuli/audio/lw1_9.0.wav"))
    assert meg_masc.main([root, "--out", out]) == 1
    assert f"{events}: plays lw1_9.wav, which is not in" in capsys.readouterr().err

    os.remove(events)
    assert meg_masc.main([root, "--out", out]) == 1
    assert f"{events}: missing" in capsys.readouterr().err
    assert not os.path.exists(out) and not os.path.exists(out + ".tmp"), "nothing is written on error"

"""Imports the Narratives collection (Nastase et al. 2021, OpenNeuro ds002345) into one braintune
dataset file (docs/dataset-format.md), with the field's readers: nibabel for the GIFTI surface
time series, the standard library for the BIDS tables and the Gentle alignments.

    python3 -m braintune.importers.narratives DIR --out narratives.h5 [--tasks pieman,tunnel]
        [--subjects sub-001,sub-002] [--derivatives afni-nosmooth] [--limit-vertices N]

What it reads, per task (story) and subject (BIDS names, as the dataset ships them):
  stimuli/<task>_audio.wav                      the story's sound (mono or stereo, PCM)
  stimuli/gentle/<task>/align.json              Gentle's forced alignment: words with start/end
                                                and their phones with durations
  sub-*/func/sub-*_task-<task>[_run-N]_events.tsv   the story's onset in the scan (seconds)
  derivatives/<afni-nosmooth|afni-smooth>/sub-*/func/
      sub-*_task-<task>[_run-N]_space-fsaverage6_hemi-{L,R}_desc-clean.func.gii
                                                the cleaned surface time series, TR 1.5 s
  code/scan_exclude.json (optional)             scans the authors advise excluding: skipped
Every participant is in the shared fsaverage6 space: its targets are the left hemisphere's
vertices then the right's. A run's samples are timed from the story's onset: t0 = -onset (the
scan started `onset` seconds before the sound), and the volumes after the sound ended are dropped.
Each missing or malformed piece is an error naming the file and the field.
"""
import argparse
import csv
import glob
import json
import os
import re
import sys
import wave

import numpy as np

TR = 1.5  # seconds, every Narratives scan
SPACE = "fsaverage6"


class ImportError_(Exception):
    """A problem with the input tree, naming the file and what is wrong."""


def fail(path, what):
    raise ImportError_(f"{path}: {what}")


def read_wav(path):
    """Mono float32 samples in [-1, 1] and the sample rate of a PCM WAV file."""
    try:
        with wave.open(path, "rb") as w:
            rate, channels, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            raw = w.readframes(n)
    except (OSError, wave.Error, EOFError) as e:
        fail(path, f"not a readable PCM WAV file ({e})")
    if width not in (1, 2, 4):
        fail(path, f"{8 * width}-bit samples; 8, 16 or 32-bit PCM expected")
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
    samples = np.frombuffer(raw, dtype=dtype).astype(np.float64)
    if width == 1:
        samples = samples - 128.0
    samples /= float(2 ** (8 * width - 1))
    samples = samples.reshape(-1, channels).mean(axis=1)
    if samples.size == 0:
        fail(path, "no samples")
    return samples.astype(np.float32), float(rate)


def read_gentle(path):
    """Words (onset, offset, text) and phones (onset, offset, ARPAbet label) that Gentle aligned."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(path, f"cannot read the alignment ({e})")
    if not isinstance(doc.get("words"), list):
        fail(path, "field 'words': missing or not a list")
    words, phones = [], []
    for i, w in enumerate(doc["words"]):
        if w.get("case") != "success" or "start" not in w or "end" not in w:
            continue  # words Gentle could not place carry no times
        try:
            start, end, text = float(w["start"]), float(w["end"]), str(w.get("word", w.get("alignedWord", "")))
        except (TypeError, ValueError):
            fail(path, f"words[{i}]: start/end are not numbers")
        words.append((start, end, text))
        t = start
        for j, p in enumerate(w.get("phones", [])):
            try:
                duration, label = float(p["duration"]), str(p["phone"])
            except (KeyError, TypeError, ValueError):
                fail(path, f"words[{i}].phones[{j}]: needs 'phone' and a numeric 'duration'")
            # Gentle's labels carry the position in the word: "hh_B", "ah_I", "l_E", "a_S".
            phones.append((t, t + duration, label.split("_")[0].upper()))
            t += duration
    words.sort()
    phones.sort()
    return words, phones


def story_onset(path):
    """The story's onset (seconds from the first volume) in a run's events.tsv."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError as e:
        fail(path, f"cannot read ({e})")
    if not rows or "onset" not in rows[0]:
        fail(path, "no 'onset' column")
    try:
        return float(rows[0]["onset"])
    except ValueError:
        fail(path, f"onset '{rows[0]['onset']}' is not a number")


def read_gifti(path):
    """[n_volumes, n_vertices] float32 of a .func.gii time series (one data array per volume)."""
    import nibabel as nib
    try:
        img = nib.load(path)
    except Exception as e:  # nibabel raises many kinds for a broken file
        fail(path, f"not a readable GIFTI file ({e})")
    arrays = getattr(img, "darrays", None)
    if not arrays:
        fail(path, "no data arrays")
    data = np.stack([np.asarray(a.data, dtype=np.float32).reshape(-1) for a in arrays])
    if not np.all(np.isfinite(data)):
        fail(path, "NaN or Inf in the time series")
    return data


def excluded_scans(root):
    path = os.path.join(root, "code", "scan_exclude.json")
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        doc = json.load(f)
    # {"bold": {"task": ["sub-..._task-..._bold.nii.gz", ...]}}: the scans' BIDS names
    names = set()
    for scans in doc.get("bold", doc).values():
        for scan in scans if isinstance(scans, list) else []:
            names.add(re.sub(r"_bold\.nii(\.gz)?$", "", os.path.basename(scan)))
    return names


def runs_of(root, derivatives, task, subjects):
    """(subject, run key, L path, R path, events path) of every scan of `task`."""
    pattern = os.path.join(root, "derivatives", derivatives, "sub-*", "func",
                           f"sub-*_task-{task}_*space-{SPACE}_hemi-L_desc-clean.func.gii")
    found = []
    for left in sorted(glob.glob(pattern)):
        name = os.path.basename(left)
        subject = name.split("_")[0]
        if subjects and subject not in subjects:
            continue
        key = name.split(f"_space-{SPACE}")[0]  # sub-001_task-pieman[_run-1]
        right = left.replace("_hemi-L_", "_hemi-R_")
        if not os.path.exists(right):
            fail(right, "missing (the left hemisphere's file is there)")
        events = os.path.join(root, subject, "func", f"{key}_events.tsv")
        if not os.path.exists(events):
            fail(events, "missing: the run's events give the story's onset")
        found.append((subject, key, left, right, events))
    return found


def import_narratives(root, out, tasks=None, subjects=None, derivatives="afni-nosmooth", limit_vertices=0,
                      progress=True):
    """Writes `out`; returns (participants, stories, runs) imported."""
    import h5py
    root = os.path.abspath(root)
    if not os.path.isdir(os.path.join(root, "stimuli")):
        fail(root, "no stimuli/ directory: is this the Narratives (ds002345) tree?")
    if tasks is None:
        tasks = sorted(os.path.basename(p)[: -len("_audio.wav")]
                       for p in glob.glob(os.path.join(root, "stimuli", "*_audio.wav")))
    if not tasks:
        fail(os.path.join(root, "stimuli"), "no <task>_audio.wav files")
    exclude = excluded_scans(root)
    bar = _progress(len(tasks), progress)
    stories, runs = {}, {}  # task -> story; subject -> {task: (responses, t0)}
    for task in tasks:
        audio_path = os.path.join(root, "stimuli", f"{task}_audio.wav")
        if not os.path.exists(audio_path):
            fail(audio_path, "missing")
        audio, rate = read_wav(audio_path)
        align = os.path.join(root, "stimuli", "gentle", task, "align.json")
        words, phones = read_gentle(align) if os.path.exists(align) else ([], [])
        stories[task] = (audio, rate, words, phones)
        seconds = audio.size / rate
        for subject, key, left, right, events in runs_of(root, derivatives, task, subjects):
            if key in exclude or f"{key}_bold" in exclude:
                continue
            l, r = read_gifti(left), read_gifti(right)
            if l.shape[0] != r.shape[0]:
                fail(right, f"{r.shape[0]} volumes, the left hemisphere has {l.shape[0]}")
            data = np.concatenate([l, r], axis=1)
            if limit_vertices:
                data = data[:, :limit_vertices]
            onset = story_onset(events)
            t0 = -onset
            # Volumes past the end of the sound (plus one TR) are dropped, as the format requires.
            keep = int(np.floor((seconds + TR - t0) / TR + 1e-9))
            data = data[:max(1, min(keep, data.shape[0]))]
            if subject in runs and task in runs[subject]:
                continue  # a second run of a story: the first is kept
            runs.setdefault(subject, {})[task] = (data, t0)
        bar(task)
    if not runs:
        fail(os.path.join(root, "derivatives", derivatives), f"no {SPACE} runs of the tasks {', '.join(tasks)}")
    n_targets = {d.shape[1] for by_task in runs.values() for d, _ in by_task.values()}
    if len(n_targets) != 1:
        fail(os.path.join(root, "derivatives", derivatives), f"runs with different vertex counts {sorted(n_targets)}")
    text = h5py.string_dtype()
    tmp = out + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "braintune-dataset"
        f.attrs["version"] = 1
        f.attrs["modality"] = "fmri"
        f.attrs["name"] = "narratives"
        f.attrs["source"] = f"Narratives (OpenNeuro ds002345), {derivatives}, {SPACE}"
        for task, (audio, rate, words, phones) in stories.items():
            g = f.create_group(f"stimuli/{task}")
            g.create_dataset("audio", data=audio)
            g["audio"].attrs["sample_rate"] = rate
            for name, items in (("words", words), ("phonemes", phones)):
                if items:
                    g[f"{name}/onset"] = np.array([i[0] for i in items], dtype=np.float64)
                    g[f"{name}/offset"] = np.array([i[1] for i in items], dtype=np.float64)
                    g.create_dataset(f"{name}/text", data=[i[2] for i in items], dtype=text)
        for subject, by_task in sorted(runs.items()):
            p = f.create_group(f"participants/{subject}")
            p.attrs["space"] = SPACE if not limit_vertices else f"{SPACE}-first-{limit_vertices}"
            p.attrs["n_targets"] = next(iter(n_targets))
            for task, (data, t0) in sorted(by_task.items()):
                d = p.create_dataset(f"runs/{task}/responses", data=data.astype(np.float32))
                d.attrs["tr"] = TR
                d.attrs["t0"] = t0
    os.replace(tmp, out)
    return len(runs), len(stories), sum(len(v) for v in runs.values())


def _progress(total, enabled):
    done = [0]

    def step(name):
        done[0] += 1
        if not enabled:
            return
        if sys.stderr.isatty():  # one line, redrawn
            print(f"\rimport-narratives: [{done[0]}/{total}] {name}\033[K", end="\n" if done[0] == total else "",
                  file=sys.stderr, flush=True)
        else:
            print(f"import-narratives: [{done[0]}/{total}] {name}", file=sys.stderr, flush=True)
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(prog="braintune dataset import-narratives",
                                     description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("dir", help="the Narratives tree (OpenNeuro ds002345, with derivatives/)")
    parser.add_argument("--out", required=True, help="the braintune dataset file to write")
    parser.add_argument("--tasks", default="", help="comma-separated stories (default: every stimuli/*_audio.wav)")
    parser.add_argument("--subjects", default="", help="comma-separated sub-IDs (default: all)")
    parser.add_argument("--derivatives", default="afni-nosmooth", choices=["afni-nosmooth", "afni-smooth"])
    parser.add_argument("--limit-vertices", type=int, default=0,
                        help="keep the first N vertices only (for a quick look; default: all)")
    args = parser.parse_args(argv)
    try:
        n = import_narratives(args.dir, args.out, tasks=[t for t in args.tasks.split(",") if t] or None,
                              subjects={s for s in args.subjects.split(",") if s} or None,
                              derivatives=args.derivatives, limit_vertices=args.limit_vertices)
    except ImportError_ as e:
        print(f"import-narratives: {e}", file=sys.stderr)
        return 1
    print(f"import-narratives: wrote {args.out}: {n[0]} participants, {n[1]} stories, {n[2]} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

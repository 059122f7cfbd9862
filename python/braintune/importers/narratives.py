"""Imports the Narratives collection (Nastase et al. 2021, OpenNeuro ds002345) into one braintune
dataset file (docs/dataset-format.md), with the field's readers: nibabel for the GIFTI surface and
NIfTI volume time series, the standard library for the BIDS tables and the Gentle alignments.

    python3 -m braintune.importers.narratives DIR --out narratives.h5 [--tasks pieman,tunnel]
        [--subjects sub-001,sub-002] [--derivatives afni-nosmooth] [--space fsaverage6|volume]
        [--limit-targets N]

What it reads, per task (story) and subject (BIDS names, as the dataset ships them):
  stimuli/<task>_audio.wav                      the story's sound (mono or stereo, PCM)
  stimuli/gentle/<task>/align.json              Gentle's forced alignment: words with start/end
                                                and their phones with durations
  sub-*/func/sub-*_task-<task>[_run-N]_events.tsv   when the sound file starts in the scan: the
                                                earliest row whose stim_file is <task>_audio.wav
                                                (pieman's file starts with music, then the story)
  derivatives/<afni-nosmooth|afni-smooth>/sub-*/func/
      sub-*_task-<task>[_run-N]_space-fsaverage6_hemi-{L,R}_desc-clean.func.gii     (--space fsaverage6)
      sub-*_task-<task>[_run-N]_space-MNI152NLin2009cAsym_res-native_desc-clean_bold.nii.gz
                                                                                 (--space volume)
  derivatives/<...>/tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-<task>_desc-brain_mask.nii.gz
                                                the task's brain mask (--space volume): its voxels
                                                are the targets
  code/scan_exclude.json (optional)             {task: {subject: [scan names]}}: the scans the
                                                authors advise excluding, skipped

Surface participants share fsaverage6: the left hemisphere's vertices, then the right's. Volume
participants share the task's MNI152NLin2009cAsym grid; tasks on different grids go into separate
files. Timing: every run of a task is put on one grid of story time, that of the run whose sound
started earliest (t0 = -that onset); a run whose sound started k TRs later loses its first k
volumes (a remainder under half a TR is reported when above 0.15 s). All runs of a task are cut to
one length, ending no later than one TR after the sound. A participant's second presentation of a
story (pieman's run-2) becomes a repeat (`repeats/<task>`, for the noise ceiling); the first is
the run. Each missing or malformed piece is an error naming the file and the field.
"""
import argparse
import csv
import glob
import json
import os
import sys

import numpy as np

from braintune.importers.common import (ImportError_, csv_list, dataset_file, fail, progress, read_wav, warn,
                                        write_stimulus)

PROGRAM = "import-narratives"
TR = 1.5  # seconds, every Narratives scan
SURFACE = "fsaverage6"
VOLUME = "MNI152NLin2009cAsym"


def read_gentle(path):
    """Words (onset, offset, text) and phones (onset, offset, ARPAbet label) that Gentle aligned."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(path, f"cannot read the alignment ({e})")
    if not isinstance(doc, dict) or not isinstance(doc.get("words"), list):
        fail(path, "field 'words': missing or not a list")
    words, phones = [], []
    for i, w in enumerate(doc["words"]):
        if not isinstance(w, dict) or w.get("case") != "success" or "start" not in w or "end" not in w:
            continue  # words Gentle could not place carry no times
        try:
            start, end, text = float(w["start"]), float(w["end"]), str(w.get("word", w.get("alignedWord", "")))
        except (TypeError, ValueError):
            fail(path, f"words[{i}]: start/end are not numbers")
        words.append((start, end, text))
        t = start
        for j, p in enumerate(w.get("phones") or []):
            try:
                duration, label = float(p["duration"]), str(p["phone"])
            except (KeyError, TypeError, ValueError):
                fail(path, f"words[{i}].phones[{j}]: needs 'phone' and a numeric 'duration'")
            # Gentle's labels carry the position in the word: "hh_B", "ah_I", "l_E", "a_S".
            phones.append((t, t + duration, label.split("_")[0].upper()))
            t += duration
    return words, phones


def sound_onset(path, task):
    """When the task's sound file starts (seconds from the first volume), from a run's events.tsv:
    the earliest row that plays `<task>_audio.wav` (every row, for files without stim_file)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError as e:
        fail(path, f"cannot read ({e})")
    if not rows or "onset" not in rows[0]:
        fail(path, "no 'onset' column")
    if "stim_file" in rows[0]:
        playing = [r for r in rows if os.path.basename(r.get("stim_file") or "") == f"{task}_audio.wav"]
        if not playing:
            fail(path, f"no row with stim_file {task}_audio.wav")
        rows = playing
    onsets = []
    for r in rows:
        try:
            onsets.append(float(r["onset"]))
        except (TypeError, ValueError):
            fail(path, f"onset '{r['onset']}' is not a number")
    return min(onsets)


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
    return np.stack([np.asarray(a.data, dtype=np.float32).reshape(-1) for a in arrays])


def read_mask(path):
    """(boolean [x, y, z] array, affine) of a NIfTI brain mask."""
    import nibabel as nib
    if not os.path.exists(path):
        fail(path, "missing: the task's brain mask selects the voxels of the volume time series")
    try:
        img = nib.load(path)
        mask = np.asarray(img.dataobj) > 0
    except Exception as e:
        fail(path, f"not a readable NIfTI file ({e})")
    if mask.ndim != 3 or not mask.any():
        fail(path, f"expected a 3-D mask with at least one voxel, got shape {mask.shape}")
    return mask, img.affine


def read_nifti(path, mask, mask_path):
    """[n_volumes, n_voxels in mask] float32 of a 4-D NIfTI time series."""
    import nibabel as nib
    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as e:
        fail(path, f"not a readable NIfTI file ({e})")
    if data.ndim != 4 or data.shape[:3] != mask.shape:
        fail(path, f"shape {data.shape}: a 4-D series on the grid of {mask_path} {mask.shape} expected")
    return data[mask].T.copy()


def read_scan(scan, space, grid, limit_targets):
    """[n_volumes, n_targets] float32 of one run: both hemispheres, or the voxels in the mask."""
    if space == SURFACE:
        left, right = read_gifti(scan.files[0]), read_gifti(scan.files[1])
        if left.shape[0] != right.shape[0]:
            fail(scan.files[1], f"{right.shape[0]} volumes, the left hemisphere has {left.shape[0]}")
        data = np.concatenate([left, right], axis=1)
    else:
        data = read_nifti(scan.files[0], grid[0], grid[2])
    if not np.all(np.isfinite(data)):
        fail(scan.files[0], "NaN or Inf in the time series")
    return data[:, :limit_targets] if limit_targets else data


def excluded(root):
    """The scan names code/scan_exclude.json lists ({task: {subject: [names]}}), matched as the
    authors do: a scan is excluded when a listed name is part of its name."""
    path = os.path.join(root, "code", "scan_exclude.json")
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(path, f"cannot read ({e})")
    names = []

    def walk(node):
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str) and node:
            names.append(os.path.basename(node).split("_bold")[0])
    walk(doc)
    return names


class Scan:
    """One run of a task: where its pieces are, read when needed."""

    def __init__(self, subject, key, files, events):
        self.subject, self.key, self.files, self.events = subject, key, files, events


def scans_of(root, derivatives, space, task, subjects):
    func_dir = os.path.join(root, "derivatives", derivatives, "sub-*", "func")
    if space == SURFACE:
        suffix = f"_space-{SURFACE}_hemi-L_desc-clean.func.gii"
    else:
        suffix = f"_space-{VOLUME}_res-native_desc-clean_bold.nii.gz"
    found = []
    for first in sorted(glob.glob(os.path.join(func_dir, f"sub-*_task-{task}*{suffix}"))):
        name = os.path.basename(first)
        subject = name.split("_")[0]
        if subjects and subject not in subjects:
            continue
        key = name[: -len(suffix)]  # sub-001_task-pieman[_run-1]
        if key.split("_")[1] != f"task-{task}":
            continue  # the glob also matches longer task names (pieman -> piemanpni)
        files = [first]
        if space == SURFACE:
            files.append(first.replace("_hemi-L_", "_hemi-R_"))
            if not os.path.exists(files[1]):
                fail(files[1], "missing (the left hemisphere's file is there)")
        events = os.path.join(root, subject, "func", f"{key}_events.tsv")
        if not os.path.exists(events):
            fail(events, "missing: the run's events give the story's onset")
        found.append(Scan(subject, key, files, events))
    return found


def import_narratives(root, out, tasks=None, subjects=None, derivatives="afni-nosmooth", space=SURFACE,
                      limit_targets=0, show_progress=True):
    """Writes `out`; returns (participants, stories, runs, repeats) imported."""
    root = os.path.abspath(root)
    if not os.path.isdir(os.path.join(root, "stimuli")):
        fail(root, "no stimuli/ directory: is this the Narratives (ds002345) tree?")
    if tasks is None:
        tasks = sorted(os.path.basename(p)[: -len("_audio.wav")]
                       for p in glob.glob(os.path.join(root, "stimuli", "*_audio.wav")))
    if not tasks:
        fail(os.path.join(root, "stimuli"), "no <task>_audio.wav files")
    skip = excluded(root)
    deriv = os.path.join(root, "derivatives", derivatives)
    grid = None  # volume: (mask, affine, mask path) shared by the tasks
    space_name = SURFACE
    n_targets = None
    counts = {"participants": set(), "runs": 0, "repeats": 0}
    step = progress(PROGRAM, len(tasks), show_progress)
    with dataset_file(out, "narratives", "fmri", f"Narratives (OpenNeuro ds002345), {derivatives}, {space}") as f:
        for task in tasks:
            audio_path = os.path.join(root, "stimuli", f"{task}_audio.wav")
            if not os.path.exists(audio_path):
                fail(audio_path, "missing")
            audio, rate = read_wav(audio_path)
            align = os.path.join(root, "stimuli", "gentle", task, "align.json")
            words, phones = read_gentle(align) if os.path.exists(align) else ([], [])
            write_stimulus(f, task, audio, rate, words, phones)
            if space != SURFACE:
                mask_path = os.path.join(deriv, f"tpl-{VOLUME}", f"tpl-{VOLUME}_res-{task}_desc-brain_mask.nii.gz")
                mask, affine = read_mask(mask_path)
                if grid is None:
                    grid = (mask, affine, mask_path)
                    space_name = f"{VOLUME}_res-{task}"
                elif grid[0].shape != mask.shape or not np.allclose(grid[1], affine) or (grid[0] != mask).any():
                    fail(mask_path, f"another grid or mask than {grid[2]}: a participant has one set of targets,"
                                    f" so import these tasks into separate files (--tasks)")
            scans = [s for s in scans_of(root, derivatives, space, task, subjects)
                     if not any(name in s.key for name in skip)]
            if not scans:
                step(task)
                continue
            # One grid of story time for the task: that of the run whose sound started earliest.
            onsets = {s.key: sound_onset(s.events, task) for s in scans}
            first = min(onsets.values())
            seconds = audio.size / rate
            keep = int(np.floor((seconds + TR + first) / TR + 1e-9))  # volumes up to one TR after the sound
            n = keep  # every run of the task is cut to the shortest
            written = []
            # One participant at a time (their presentations of the task: the run and its repeats).
            for subject in sorted({s.subject for s in scans}):
                runs = []
                for s in [s for s in scans if s.subject == subject]:
                    data = read_scan(s, space, grid, limit_targets)
                    if n_targets is None:
                        n_targets = data.shape[1]
                    elif data.shape[1] != n_targets:
                        fail(s.files[0], f"{data.shape[1]} targets, earlier runs have {n_targets}")
                    shift = (onsets[s.key] - first) / TR
                    k = int(round(shift))
                    if abs(shift - k) * TR > 0.15:
                        warn(PROGRAM, f"{s.key}: its sound started {abs(shift - k) * TR:.2f} s off the task's TR"
                                      f" grid; aligned to the nearest volume")
                    data = data[k:keep + k]
                    if data.shape[0] < 1:
                        fail(s.files[0], f"no volumes during the story (the sound starts at {onsets[s.key]} s)")
                    runs.append(data)
                m = min(r.shape[0] for r in runs)
                n = min(n, m)
                p = f.require_group(f"participants/{subject}")
                d = p.create_dataset(f"runs/{task}/responses", data=runs[0][:m], maxshape=(None, None),
                                     chunks=(min(m, 64), min(n_targets, 4096)))
                d.attrs["tr"] = TR
                d.attrs["t0"] = -first
                written.append(d)
                counts["participants"].add(subject)
                counts["runs"] += 1
                if len(runs) > 1:
                    written.append(p.create_dataset(f"repeats/{task}", data=np.stack([r[:m] for r in runs]),
                                                    maxshape=(None, None, None),
                                                    chunks=(1, min(m, 64), min(n_targets, 4096))))
                    counts["repeats"] += 1
            for d in written:
                shape = list(d.shape)
                shape[-2] = n
                d.resize(tuple(shape))
            step(task)
        if not counts["participants"]:
            fail(deriv, f"no {space} runs of the tasks {', '.join(tasks)}")
        for subject in counts["participants"]:
            p = f[f"participants/{subject}"]
            p.attrs["space"] = space_name if not limit_targets else f"{space_name}-first-{limit_targets}"
            p.attrs["n_targets"] = n_targets
    return len(counts["participants"]), len(tasks), counts["runs"], counts["repeats"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog=f"braintune dataset {PROGRAM}",
                                     description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("dir", help="the Narratives tree (OpenNeuro ds002345, with derivatives/)")
    parser.add_argument("--out", required=True, help="the braintune dataset file to write")
    parser.add_argument("--tasks", default="", help="comma-separated stories (default: every stimuli/*_audio.wav)")
    parser.add_argument("--subjects", default="", help="comma-separated sub-IDs (default: all)")
    parser.add_argument("--derivatives", default="afni-nosmooth", choices=["afni-nosmooth", "afni-smooth"])
    parser.add_argument("--space", default=SURFACE, choices=[SURFACE, "volume"],
                        help=f"{SURFACE} surfaces (default) or the {VOLUME} volumes inside the task's brain mask")
    parser.add_argument("--limit-targets", type=int, default=0,
                        help="keep the first N vertices or voxels only (for a quick look; default: all)")
    args = parser.parse_args(argv)
    try:
        n = import_narratives(args.dir, args.out, tasks=csv_list(args.tasks),
                              subjects=set(csv_list(args.subjects) or []) or None, derivatives=args.derivatives,
                              space=args.space, limit_targets=args.limit_targets)
    except ImportError_ as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 1
    print(f"{PROGRAM}: wrote {args.out}: {n[0]} participants, {n[1]} stories, {n[2]} runs, {n[3]} with repeats")
    return 0


if __name__ == "__main__":
    sys.exit(main())

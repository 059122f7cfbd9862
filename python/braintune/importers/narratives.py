"""Imports the Narratives collection (Nastase et al. 2021, OpenNeuro ds002345) into one braintune
dataset file (docs/dataset-format.md), with the field's readers: nibabel for the GIFTI surface and
NIfTI volume time series, the standard library for the BIDS tables and the Gentle alignments.

    python3 -m braintune.importers.narratives DIR --out narratives.h5 [--tasks pieman,tunnel]
        [--subjects sub-001,sub-002] [--derivatives afni-nosmooth] [--space fsaverage6|volume]
        [--limit-targets N]

What it reads (BIDS names, as the dataset ships them):
  derivatives/<afni-nosmooth|afni-smooth>/sub-*/func/
      sub-*_task-<task>[_run-N]_space-fsaverage6_hemi-{L,R}_desc-clean.func.gii     (--space fsaverage6)
      sub-*_task-<task>[_run-N]_space-MNI152NLin2009cAsym_res-native_desc-clean_bold.nii.gz
                                                                                 (--space volume)
  derivatives/<...>/tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-<task>_desc-brain_mask.nii.gz
                                                the task's brain mask (--space volume): its voxels
                                                are the targets
  sub-*/func/sub-*_task-<task>[_run-N]_events.tsv   which sound file the run plays (the stim_file of
                                                its 'story' row: <story>_audio.wav; milkyway's runs
                                                play one of three) and when it starts: the earliest
                                                row playing that file (pieman's plays music first)
  stimuli/<story>_audio.wav                     the story's sound (mono or stereo, PCM)
  stimuli/gentle/<story>/align.json             Gentle's forced alignment: words with start/end
                                                and their phones with durations
  code/scan_exclude.json (optional)             {task: {subject: [scan names]}}: the scans the
                                                authors advise excluding (a name and its runs)

Surface participants share fsaverage6: the left hemisphere's vertices, then the right's. Volume
participants share the task's MNI152NLin2009cAsym grid; tasks on different grids go into separate
files. Timing: every run of a story is put on one grid of story time, that of the run whose sound
started earliest (t0 = -that onset); a run whose sound started k TRs later loses its first k
volumes (a remainder above 0.15 s is reported). All runs of a story are cut to one length, ending
no later than one TR after the sound; a run covering less than 90% of that is left out (reported)
rather than cutting everyone's. A participant's second presentation of a story (pieman's run-2)
becomes a repeat (`repeats/<story>`, for the noise ceiling); the first is the run. Each missing or
malformed piece is an error naming the file and the field.
"""
import argparse
import glob
import os
import re
import sys

import numpy as np

from braintune.importers.common import (ImportError_, csv_list, dataset_file, fail, number, progress, read_json,
                                        read_tsv, read_wav, run, timed, warn, write_stimulus)

PROGRAM = "import-narratives"
TR = 1.5  # seconds, every Narratives scan
SURFACE = "fsaverage6"
VOLUME = "MNI152NLin2009cAsym"
MAX_VOXELS = 1 << 24  # a brain mask's grid; MNI at 1 mm is 7 M voxels


def read_gentle(path):
    """Words (onset, offset, text) and phones (onset, offset, ARPAbet label) that Gentle aligned."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("words"), list):
        fail(path, "field 'words': missing or not a list")
    words, phones = [], []
    for i, w in enumerate(doc["words"]):
        if not isinstance(w, dict) or w.get("case") != "success" or "start" not in w or "end" not in w:
            continue  # words Gentle could not place carry no times
        start = number(w["start"], path, f"words[{i}].start")
        end = number(w["end"], path, f"words[{i}].end")
        words.append(timed(f"{path}: words[{i}]", start, end, str(w.get("word", w.get("alignedWord", "")))[:100]))
        t = start
        phones_of = w.get("phones") or []
        if not isinstance(phones_of, list):
            fail(path, f"words[{i}].phones: not a list")
        for j, p in enumerate(phones_of):
            if not isinstance(p, dict) or "phone" not in p or "duration" not in p:
                fail(path, f"words[{i}].phones[{j}]: needs 'phone' and a numeric 'duration'")
            duration = number(p["duration"], path, f"words[{i}].phones[{j}].duration")
            # Gentle's labels carry the position in the word: "hh_B", "ah_I", "l_E", "a_S".
            label = str(p["phone"])[:20].split("_")[0].upper()
            phones.append(timed(f"{path}: words[{i}].phones[{j}]", t, t + duration, label))
            t += duration
    return words, phones


def sound_of(path, task):
    """(story, onset): the sound file a run plays and when it starts (seconds from the first
    volume), from its events.tsv. The story is the stim_file of the row whose trial_type is
    'story' (else of the first row) without '_audio.wav'; it starts at the earliest row that
    plays that file (pieman's file plays music, then the story). Without a stim_file column:
    the BIDS task, at the earliest row."""
    rows = read_tsv(path)
    if not rows or "onset" not in rows[0]:
        fail(path, "no 'onset' column")
    story = task
    if "stim_file" in rows[0]:
        main_row = next((r for r in rows if r.get("trial_type") == "story"), rows[0])
        stim = os.path.basename(main_row.get("stim_file") or "")
        if not stim.endswith("_audio.wav") or not re.fullmatch(r"[A-Za-z0-9_-]+", stim[: -len("_audio.wav")]):
            fail(path, f"stim_file '{stim[:80]}' is not <story>_audio.wav")
        story = stim[: -len("_audio.wav")]
        rows = [r for r in rows if os.path.basename(r.get("stim_file") or "") == stim]
    return story, min(number(r["onset"], path, "onset") for r in rows)


def read_gifti(path):
    """[n_volumes, n_vertices] float32 of a .func.gii time series (one data array per volume)."""
    import nibabel as nib
    try:
        img = nib.load(path)
    except Exception as e:  # nibabel raises many kinds for a broken file
        fail(path, f"not a readable GIFTI file ({str(e)[:120]})")
    arrays = getattr(img, "darrays", None)
    if not arrays:
        fail(path, "no data arrays")
    volumes = [np.asarray(a.data, dtype=np.float32).reshape(-1) for a in arrays]
    if len({v.size for v in volumes}) != 1 or volumes[0].size == 0:
        fail(path, f"data arrays of {sorted({v.size for v in volumes})} vertices: one non-zero size expected")
    return np.stack(volumes)


def read_mask(path):
    """(boolean [x, y, z] array, affine) of a NIfTI brain mask."""
    import nibabel as nib
    if not os.path.exists(path):
        fail(path, "missing: the task's brain mask selects the voxels of the volume time series")
    try:
        img = nib.load(path)
        if len(img.shape) != 3 or np.prod(img.shape) > MAX_VOXELS:
            fail(path, f"shape {img.shape}: a 3-D mask of at most {MAX_VOXELS} voxels expected")
        mask = np.asarray(img.dataobj) > 0
    except ImportError_:
        raise
    except Exception as e:
        fail(path, f"not a readable NIfTI file ({str(e)[:120]})")
    if not mask.any():
        fail(path, "no voxel in the mask")
    return mask, img.affine


def read_nifti(path, mask, mask_path):
    """[n_volumes, n_voxels in mask] float32 of a 4-D NIfTI time series."""
    import nibabel as nib
    try:
        img = nib.load(path)
        shape = img.shape
        if len(shape) != 4 or shape[:3] != mask.shape:
            fail(path, f"shape {shape}: a 4-D series on the grid of {mask_path} {mask.shape} expected")
        data = np.asarray(img.dataobj, dtype=np.float32)
    except ImportError_:
        raise
    except Exception as e:
        fail(path, f"not a readable NIfTI file ({str(e)[:120]})")
    return data[mask].T.copy()


def read_scan(scan, space, grid, limit_targets):
    """[n_volumes, n_targets] float32 of one run: both hemispheres, or the voxels in the mask."""
    if space == SURFACE:
        parts = [read_gifti(scan.files[0]), read_gifti(scan.files[1])]
        if parts[0].shape[0] != parts[1].shape[0]:
            fail(scan.files[1], f"{parts[1].shape[0]} volumes, the left hemisphere has {parts[0].shape[0]}")
    else:
        parts = [read_nifti(scan.files[0], grid[0], grid[2])]
    for path, part in zip(scan.files, parts):
        if not np.all(np.isfinite(part)):
            fail(path, "NaN or Inf in the time series")
    scan.shape = tuple(p.shape[1] for p in parts)  # vertices per hemisphere, or voxels
    data = np.concatenate(parts, axis=1)
    return data[:, :limit_targets] if limit_targets else data


def excluded(root):
    """The scan names code/scan_exclude.json lists ({task: {subject: [names]}})."""
    path = os.path.join(root, "code", "scan_exclude.json")
    if not os.path.exists(path):
        return []
    names = []

    def walk(node, depth):
        if depth > 8:
            fail(path, "nested deeper than {task: {subject: [names]}}")
        if isinstance(node, dict):
            for v in node.values():
                walk(v, depth + 1)
        elif isinstance(node, list):
            for v in node:
                walk(v, depth + 1)
        elif isinstance(node, str) and os.path.basename(node):
            names.append(re.sub(r"_bold(\.nii(\.gz)?)?$", "", os.path.basename(node)))
    walk(read_json(path), 0)
    return names


def is_excluded(key, names):
    """A listed name excludes the scan it names and that scan's runs (name + "_run-N")."""
    return any(key == n or key.startswith(n + "_") for n in names)


class Scan:
    """One run: where its pieces are, the story it plays and when its sound starts."""

    def __init__(self, subject, task, key, files, events):
        self.subject, self.task, self.key, self.files, self.events = subject, task, key, files, events
        self.story, self.onset, self.shape = None, None, None


def all_scans(root, derivatives, space, subjects):
    func_dir = os.path.join(root, "derivatives", derivatives, "sub-*", "func")
    if space == SURFACE:
        suffix = f"_space-{SURFACE}_hemi-L_desc-clean.func.gii"
    else:
        suffix = f"_space-{VOLUME}_res-native_desc-clean_bold.nii.gz"
    found = []
    for first in sorted(glob.glob(os.path.join(func_dir, f"sub-*_task-*{suffix}"))):
        key = os.path.basename(first)[: -len(suffix)]  # sub-001_task-pieman[_run-1]
        m = re.fullmatch(r"(sub-[A-Za-z0-9]+)_task-([A-Za-z0-9]+)(_run-[0-9]+)?", key)
        if not m or (subjects and m.group(1) not in subjects):
            continue
        files = [first]
        if space == SURFACE:
            files.append(first.replace("_hemi-L_", "_hemi-R_"))
            if not os.path.exists(files[1]):
                fail(files[1], "missing (the left hemisphere's file is there)")
        events = os.path.join(root, m.group(1), "func", f"{key}_events.tsv")
        if not os.path.exists(events):
            fail(events, "missing: the run's events give the story's onset")
        found.append(Scan(m.group(1), m.group(2), key, files, events))
    return found


def import_narratives(root, out, tasks=None, subjects=None, derivatives="afni-nosmooth", space=SURFACE,
                      limit_targets=0, show_progress=True):
    """Writes `out`; returns (participants, stories, runs, repeats) imported."""
    root = os.path.abspath(root)
    if not os.path.isdir(os.path.join(root, "stimuli")):
        fail(root, "no stimuli/ directory: is this the Narratives (ds002345) tree?")
    if limit_targets < 0:
        fail("--limit-targets", f"{limit_targets} is negative")
    skip = excluded(root)
    deriv = os.path.join(root, "derivatives", derivatives)
    # Every run's story from its events: a BIDS task may play several sound files (milkyway's
    # original, vodka and synonyms versions), each a story.
    scans = [s for s in all_scans(root, derivatives, space, subjects) if not is_excluded(s.key, skip)
             and (tasks is None or any(t.startswith(s.task) for t in tasks))]  # milkyway plays milkywayoriginal
    for s in scans:
        s.story, s.onset = sound_of(s.events, s.task)
    stories = sorted({s.story for s in scans if tasks is None or s.story in tasks})
    if tasks:
        for t in sorted(set(tasks) - set(stories)):
            warn(PROGRAM, f"no {space} runs play {t}_audio.wav")
    if not stories:
        fail(deriv, f"no {space} runs" + (f" of {', '.join(tasks)}" if tasks else ""))
    grid = None  # volume: (mask, affine, mask path) shared by the tasks
    space_name = SURFACE
    shape = None  # the targets' layout: vertices per hemisphere, or voxels
    counts = {"participants": set(), "runs": 0, "repeats": 0}
    step = progress(PROGRAM, len(stories), show_progress)
    with dataset_file(out, "narratives", "fmri", f"Narratives (OpenNeuro ds002345), {derivatives}, {space}") as f:
        for story in stories:
            audio_path = os.path.join(root, "stimuli", f"{story}_audio.wav")
            if not os.path.exists(audio_path):
                fail(audio_path, "missing (the runs' events play it)")
            audio, rate = read_wav(audio_path)
            align = os.path.join(root, "stimuli", "gentle", story, "align.json")
            words, phones = read_gentle(align) if os.path.exists(align) else ([], [])
            write_stimulus(f, story, audio, rate, words, phones)
            runs_of = [s for s in scans if s.story == story]
            if space != SURFACE:
                for task in sorted({s.task for s in runs_of}):
                    mask_path = os.path.join(deriv, f"tpl-{VOLUME}", f"tpl-{VOLUME}_res-{task}_desc-brain_mask.nii.gz")
                    mask, affine = read_mask(mask_path)
                    if grid is None:
                        grid = (mask, affine, mask_path)
                        space_name = f"{VOLUME}_res-{task}"
                    elif grid[0].shape != mask.shape or not np.allclose(grid[1], affine) or (grid[0] != mask).any():
                        fail(mask_path, f"another grid or mask than {grid[2]}: a participant has one set of targets,"
                                        f" so import these tasks into separate files (--tasks)")
            # One grid of story time: that of the run whose sound started earliest.
            first = min(s.onset for s in runs_of)
            keep = int(np.floor((audio.size / rate + TR + first) / TR + 1e-9))  # up to one TR after the sound
            if keep < 1:
                fail(min(runs_of, key=lambda s: s.onset).events,
                     f"the sound starts at {first} s: the story ends before the scan starts")
            n = keep  # every run of the story is cut to the shortest
            written = []
            # One participant at a time (their presentations of the story: the run and its repeats).
            for subject in sorted({s.subject for s in runs_of}):
                runs = []
                for s in [s for s in runs_of if s.subject == subject]:
                    data = read_scan(s, space, grid, limit_targets)
                    if shape is None:
                        shape = s.shape
                    elif s.shape != shape:
                        fail(s.files[-1], f"{s.shape} vertices or voxels, earlier runs have {shape}")
                    shift = (s.onset - first) / TR
                    k = int(round(shift))
                    if abs(shift - k) * TR > 0.15:
                        warn(PROGRAM, f"{s.key}: its sound started {abs(shift - k) * TR:.2f} s off the story's TR"
                                      f" grid; aligned to the nearest volume")
                    data = data[k:keep + k]
                    if data.shape[0] < 0.9 * keep:  # a scan that ended early would cut everyone's run
                        warn(PROGRAM, f"{s.key}: {data.shape[0]} volumes cover less than 90% of {story}"
                                      f" ({keep}); left out")
                        continue
                    runs.append(data)
                if not runs:
                    continue
                m = min(r.shape[0] for r in runs)
                n = min(n, m)
                p = f.require_group(f"participants/{subject}")
                d = p.create_dataset(f"runs/{story}/responses", data=runs[0][:m], maxshape=(None, None),
                                     chunks=(min(m, 64), min(runs[0].shape[1], 4096)))
                d.attrs["tr"] = TR
                d.attrs["t0"] = -first
                written.append(d)
                counts["participants"].add(subject)
                counts["runs"] += 1
                if len(runs) > 1:
                    written.append(p.create_dataset(f"repeats/{story}", data=np.stack([r[:m] for r in runs]),
                                                    maxshape=(None, None, None),
                                                    chunks=(1, min(m, 64), min(runs[0].shape[1], 4096))))
                    counts["repeats"] += 1
            for d in written:
                resized = list(d.shape)
                resized[-2] = n
                d.resize(tuple(resized))
            step(story)
        if not counts["participants"]:
            fail(deriv, f"no usable {space} runs")
        for subject in counts["participants"]:
            p = f[f"participants/{subject}"]
            p.attrs["space"] = space_name if not limit_targets else f"{space_name}-first-{limit_targets}"
            p.attrs["n_targets"] = min(sum(shape), limit_targets) if limit_targets else sum(shape)
    return len(counts["participants"]), len(stories), counts["runs"], counts["repeats"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog=f"braintune dataset {PROGRAM}",
                                     description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("dir", help="the Narratives tree (OpenNeuro ds002345, with derivatives/)")
    parser.add_argument("--out", required=True, help="the braintune dataset file to write")
    parser.add_argument("--tasks", default="", help="comma-separated stories, as their sound files are named"
                                                    " (default: every story a run plays)")
    parser.add_argument("--subjects", default="", help="comma-separated sub-IDs (default: all)")
    parser.add_argument("--derivatives", default="afni-nosmooth", choices=["afni-nosmooth", "afni-smooth"])
    parser.add_argument("--space", default=SURFACE, choices=[SURFACE, "volume"],
                        help=f"{SURFACE} surfaces (default) or the {VOLUME} volumes inside the task's brain mask")
    parser.add_argument("--limit-targets", type=int, default=0,
                        help="keep the first N vertices or voxels only (for a quick look; default: all)")
    args = parser.parse_args(argv)
    return run(PROGRAM, import_narratives, args.out, root=args.dir, tasks=csv_list(args.tasks),
               subjects=set(csv_list(args.subjects) or []) or None, derivatives=args.derivatives,
               space=args.space, limit_targets=args.limit_targets)


if __name__ == "__main__":
    sys.exit(main())

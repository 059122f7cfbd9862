"""Imports MEG-MASC (Gwilliams et al. 2023: 27 participants, KIT MEG, four stories heard twice)
into one braintune dataset file (docs/dataset-format.md), reading the recordings with MNE.

    python3 -m braintune.importers.meg_masc DIR --out meg-masc.h5 [--subjects 01,02]
        [--sessions 0,1] [--rate 100] [--l-freq 0.5] [--h-freq 30]

What it reads (BIDS MEG, as the dataset ships it):
  sub-<s>/ses-<n>/meg/sub-<s>_ses-<n>_task-<t>_meg.con    the KIT recording (or _meg.fif)
  sub-<s>/ses-<n>/meg/sub-<s>_ses-<n>_task-<t>_events.tsv onset and duration (seconds in the
      recording) and trial_type, a Python dict as text: {'kind': 'sound'|'word'|'phoneme',
      'sound': 'stimuli/audio/lw1_0.0.wav', 'start': seconds into that sound file, 'word': ...,
      'phoneme': 'dh_B', ...}
  stimuli/audio/<story>_<i>.wav                           the sound files (lower-case names)

Each sound file is a braintune story (lw1_0 ... the_black_willow_11): its words and phonemes come
from the events' `start` and `duration` (the first recording that plays it), and a recording's
response to it is continuous from the sound's onset (t0 = 0) to its end, at --rate Hz. The MEG
channels are band-passed (--l-freq, --h-freq, MNE's FIR filter) at the recording's rate and then
sampled at the response rate (alias-free, since --h-freq must be below half of --rate), in fT.
Participants share the sensor array's space (KIT-<channels>). A participant's second session is
the repeat of the first (`repeats/<story>`, for the noise ceiling); the first session heard is the
run. Each missing or malformed piece is an error naming the file and the field (for an event, its
row).
"""
import argparse
import ast
import glob
import os
import re
import sys

import numpy as np

from braintune.importers.common import (csv_list, dataset_file, fail, number, progress, read_tsv,
                                        read_wav, run, timed, warn, write_stimulus)

PROGRAM = "import-meg-masc"
MAX_TRIAL_TYPE = 4096  # characters of one event's description; a longer one is refused unparsed
FEMTO = 1e15


def story_of(sound, where):
    """lw1_0 for 'stimuli/audio/LW1_0.0.wav' (the events give the index as a float)."""
    stem = os.path.basename(str(sound)).lower()
    if stem.endswith(".wav"):
        stem = stem[:-4]
    m = re.fullmatch(r"([a-z0-9_]+?)_(\d+)(\.0+)?", stem)
    if not m:
        fail(where, f"field 'sound': '{os.path.basename(str(sound))[:80]}' is not <story>_<index>.wav")
    return f"{m.group(1)}_{int(m.group(2))}"


def read_events(path):
    """(sounds, words, phonemes): sounds as (when the sound file starts in the recording, story);
    words and phonemes as (story, start in the sound, end, text)."""
    rows = read_tsv(path)
    if not rows or not {"onset", "duration", "trial_type"} <= set(rows[0]):
        fail(path, "needs the columns onset, duration and trial_type")
    sounds, words, phonemes = [], [], []
    for i, row in enumerate(rows, start=2):  # the header is line 1
        where = f"{path}, line {i}"
        text = row.get("trial_type") or ""
        if len(text) > MAX_TRIAL_TYPE:
            fail(where, f"field 'trial_type': longer than {MAX_TRIAL_TYPE} characters")
        try:
            event = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            fail(where, "field 'trial_type': not a dict literal such as {'kind': 'word', ...}")
        if not isinstance(event, dict) or event.get("kind") not in ("sound", "word", "phoneme"):
            continue
        onset, duration = number(row["onset"], where, "onset"), number(row["duration"], where, "duration")
        if onset < 0 or duration < 0:
            fail(where, "fields 'onset' and 'duration' must not be negative")
        if "sound" not in event:
            fail(where, "field 'trial_type': no 'sound'")
        story = story_of(event["sound"], where)
        start = number(event.get("start", 0.0), where, "trial_type's 'start'")
        if event["kind"] == "sound":
            sounds.append((onset - start, story))  # 'start' is the time within the sound file
            continue
        label = str(event.get(event["kind"], ""))[:100]
        if event["kind"] == "phoneme":  # 'dh_B': the ARPAbet label and the position in the word
            label = label.split("_")[0].upper()
        item = (story,) + timed(where, start, start + duration, label)
        (words if event["kind"] == "word" else phonemes).append(item)
    return sounds, words, phonemes


def read_recording(path, l_freq, h_freq):
    """(data [channels, samples] in fT, sampling rate, channel names) of a recording's MEG channels,
    band-passed."""
    import mne
    mne.set_log_level("ERROR")
    try:
        if path.endswith(".con"):
            raw = mne.io.read_raw_kit(path, preload=True)
        else:
            raw = mne.io.read_raw_fif(path, preload=True)
        raw.pick_types(meg=True, ref_meg=False, eeg=False, stim=False, misc=False)
    except Exception as e:  # MNE raises many kinds for a broken file
        fail(path, f"not a readable MEG recording ({type(e).__name__}: {str(e)[:200]})")
    if not raw.ch_names:
        fail(path, "no MEG channels")
    sfreq = float(raw.info["sfreq"])
    if h_freq >= sfreq / 2:
        fail(path, f"--h-freq {h_freq} Hz is not below half the recording's rate ({sfreq} Hz)")
    raw.filter(l_freq, h_freq)
    data = raw.get_data() * FEMTO
    if not np.all(np.isfinite(data)):
        fail(path, "NaN or Inf in the MEG channels")
    return data, sfreq, list(raw.ch_names)


def recordings(root, subjects, sessions):
    """(subject, session, recording path, events path) in order."""
    found = []
    for path in sorted(glob.glob(os.path.join(root, "sub-*", "ses-*", "meg", "sub-*_ses-*_task-*_meg.*"))):
        if not path.endswith((".con", ".fif")):
            continue
        m = re.fullmatch(r"sub-([^_]+)_ses-([^_]+)_task-([^_]+)_meg\.(con|fif)", os.path.basename(path))
        if not m:
            continue
        subject, session = m.group(1), m.group(2)
        if (subjects and subject not in subjects) or (sessions and session not in sessions):
            continue
        events = path[: -len("_meg.con")] + "_events.tsv"
        if not os.path.exists(events):
            fail(events, "missing: the events give the sounds' onsets in the recording")
        found.append((subject, session, path, events))
    return found


def import_meg_masc(root, out, subjects=None, sessions=None, rate=100.0, l_freq=0.5, h_freq=30.0,
                    show_progress=True):
    """Writes `out`; returns (participants, stories, runs, repeats) imported."""
    root = os.path.abspath(root)
    audio_dir = os.path.join(root, "stimuli", "audio")
    if not os.path.isdir(audio_dir):
        fail(root, "no stimuli/audio/ directory: is this the MEG-MASC tree?")
    # MNE's low-pass stop band ends max(25%, 2 Hz) above --h-freq: it must end below the new
    # Nyquist frequency, or what lies between aliases into the responses.
    if not rate > 0 or not 0 <= l_freq < h_freq or h_freq + max(0.25 * h_freq, 2.0) > rate / 2:
        fail("options", f"need 0 <= --l-freq < --h-freq and --h-freq + max(25%, 2 Hz) <= --rate / 2 (the filter's"
                        f" stop band below the Nyquist frequency), got {l_freq}, {h_freq}, {rate}")
    found = recordings(root, subjects, sessions)
    if not found:
        fail(root, "no sub-*/ses-*/meg/*_meg.con or *_meg.fif recordings" + (" of the chosen subjects/sessions"
                                                                              if subjects or sessions else ""))
    stimuli = {}  # story -> (audio samples, audio rate)
    length = {}  # story -> the shortest response to it: every participant's is cut to it
    written = []  # HDF5 datasets of responses, with their story
    channels = None
    participants = set()
    counts = {"runs": 0, "repeats": 0}
    step = progress(PROGRAM, len(found), show_progress)
    source = f"MEG-MASC (Gwilliams et al. 2023), {l_freq}-{h_freq} Hz band-pass, {rate} Hz"
    with dataset_file(out, "meg-masc", "meg", source) as f:
        # One participant's recordings at a time (both sessions: the run and its repeat), so that
        # memory holds one participant, not the dataset.
        for subject in sorted({r[0] for r in found}):
            heard = {}  # story -> [array [n, channels]], by session
            for _, session, path, events in [r for r in found if r[0] == subject]:
                sounds, words, phonemes = read_events(events)
                if not sounds:
                    fail(events, "no events of kind 'sound'")
                data, sfreq, names = read_recording(path, l_freq, h_freq)
                if channels is None:
                    channels = names
                elif names != channels:
                    fail(path, f"{len(names)} MEG channels differing from the first recording's {len(channels)}")
                played = set()
                for onset, story in sounds:
                    if story in played:
                        warn(PROGRAM, f"{events}: {story} is played twice; the first is kept")
                        continue
                    played.add(story)
                    if story not in stimuli:
                        wav = os.path.join(audio_dir, f"{story}.wav")
                        if not os.path.exists(wav):
                            fail(events, f"plays {story}.wav, which is not in {audio_dir}")
                        audio, audio_rate = read_wav(wav)
                        write_stimulus(f, story, audio, audio_rate,
                                       [(s, e, t) for st, s, e, t in words if st == story],
                                       [(s, e, t) for st, s, e, t in phonemes if st == story])
                        stimuli[story] = (audio.size, audio_rate)
                    n_audio, audio_rate = stimuli[story]
                    n = int(np.floor(n_audio / audio_rate * rate + 1e-9))
                    index = np.rint((onset + np.arange(n) / rate) * sfreq).astype(np.int64)
                    if index[:1].size and index[0] < 0:
                        warn(PROGRAM, f"{events}: {story} starts before the recording; left out")
                        continue
                    index = index[index < data.shape[1]]
                    if index.size < 0.9 * n:  # a recording that ended early would cut everyone's response
                        warn(PROGRAM, f"{path}: {index.size / rate:.1f} s of the {n / rate:.1f} s of {story}"
                                      f" recorded; left out")
                        continue
                    heard.setdefault(story, []).append(data[:, index].T.astype(np.float32))
                del data
                step(f"sub-{subject} ses-{session}")
            if not heard:
                continue
            p = f.create_group(f"participants/sub-{subject}")
            p.attrs["space"] = f"KIT-{len(channels)}"
            p.attrs["n_targets"] = len(channels)
            p.attrs["channels"] = ",".join(channels)
            participants.add(subject)
            for story, sessions_heard in sorted(heard.items()):
                n = min(r.shape[0] for r in sessions_heard)
                length[story] = min(length.get(story, n), n)
                d = p.create_dataset(f"runs/{story}/responses", data=sessions_heard[0][:n], maxshape=(None, None),
                                     chunks=(min(n, 1024), len(channels)))
                d.attrs["sample_rate"] = float(rate)
                d.attrs["t0"] = 0.0
                written.append((d, story))
                counts["runs"] += 1
                if len(sessions_heard) > 1:
                    r = p.create_dataset(f"repeats/{story}", data=np.stack([s[:n] for s in sessions_heard]),
                                         maxshape=(None, None, None),
                                         chunks=(1, min(n, 1024), len(channels)))
                    written.append((r, story))
                    counts["repeats"] += 1
        if not participants:
            fail(root, "no recording played a sound")
        for d, story in written:  # every participant's response to a story gets the same length
            shape = list(d.shape)
            shape[-2] = length[story]
            d.resize(tuple(shape))
    return len(participants), len(stimuli), counts["runs"], counts["repeats"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog=f"braintune dataset {PROGRAM}",
                                     description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("dir", help="the MEG-MASC tree (BIDS, with stimuli/audio/)")
    parser.add_argument("--out", required=True, help="the braintune dataset file to write")
    parser.add_argument("--subjects", default="", help="comma-separated subject labels, e.g. 01,02 (default: all)")
    parser.add_argument("--sessions", default="", help="comma-separated sessions, e.g. 0 (default: all)")
    parser.add_argument("--rate", type=float, default=100.0, help="response samples per second (default 100)")
    parser.add_argument("--l-freq", type=float, default=0.5, help="band-pass low edge in Hz (default 0.5)")
    parser.add_argument("--h-freq", type=float, default=30.0, help="band-pass high edge in Hz (default 30)")
    args = parser.parse_args(argv)
    return run(PROGRAM, import_meg_masc, args.out, root=args.dir,
               subjects=set(csv_list(args.subjects) or []) or None,
               sessions=set(csv_list(args.sessions) or []) or None, rate=args.rate, l_freq=args.l_freq,
               h_freq=args.h_freq)


if __name__ == "__main__":
    sys.exit(main())

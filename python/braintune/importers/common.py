"""What every importer shares: errors that name the file and the field, the WAV reader, the
progress line, and the writing of a braintune dataset file (docs/dataset-format.md) through a
temporary name, so that a failed import leaves nothing behind."""
import contextlib
import json
import os
import sys
import wave

import numpy as np


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
    if rate <= 0:
        fail(path, f"sample rate {rate}")
    return samples.astype(np.float32), float(rate)


@contextlib.contextmanager
def dataset_file(out, name, modality, source):
    """An open h5py file with the format's root attributes, renamed to `out` only on success."""
    import h5py
    tmp = out + ".tmp"
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "braintune-dataset"
            f.attrs["version"] = 1
            f.attrs["modality"] = modality
            f.attrs["name"] = name
            f.attrs["source"] = source
            yield f
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_stimulus(f, story, audio, rate, words, phones):
    """/stimuli/<story>: the audio, and words and phonemes as (onset, offset, text) lists."""
    import h5py
    g = f.create_group(f"stimuli/{story}")
    g.create_dataset("audio", data=np.asarray(audio, dtype=np.float32))
    g["audio"].attrs["sample_rate"] = float(rate)
    for name, items in (("words", words), ("phonemes", phones)):
        if items:
            items = sorted(items)
            g[f"{name}/onset"] = np.array([i[0] for i in items], dtype=np.float64)
            g[f"{name}/offset"] = np.array([i[1] for i in items], dtype=np.float64)
            g.create_dataset(f"{name}/text", data=[i[2] for i in items], dtype=h5py.string_dtype())


def progress(program, total, enabled=True):
    """A function to call after each of `total` items: one redrawn line on a terminal, a line each
    otherwise (logs)."""
    done = [0]

    def step(name):
        done[0] += 1
        if not enabled:
            return
        if sys.stderr.isatty():
            print(f"\r{program}: [{done[0]}/{total}] {name}\033[K", end="\n" if done[0] == total else "",
                  file=sys.stderr, flush=True)
        else:
            print(f"{program}: [{done[0]}/{total}] {name}", file=sys.stderr, flush=True)
    return step


def warn(program, message):
    print(f"{program}: warning: {message}", file=sys.stderr, flush=True)


def number(value, where, field):
    """A finite float, or an error naming `where` and `field`."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        fail(where, f"{field} '{str(value)[:40]}' is not a number")
    if not np.isfinite(x):
        fail(where, f"{field} is {x}")
    return x


def timed(where, start, end, text):
    """(start, end, text) of a word or phoneme, checked: finite, not negative, start <= end."""
    if start < 0 or end < start:
        fail(where, f"times {start}..{end}: must be 0 <= start <= end")
    return (start, end, text)


def read_tsv(path):
    """The rows of a BIDS .tsv file as dicts; errors name the file."""
    import csv
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter="\t"))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        fail(path, f"cannot read as a UTF-8 tab-separated table ({str(e)[:120]})")


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        fail(path, f"cannot read as JSON ({str(e)[:120]})")


def csv_list(text):
    """The items of a comma-separated option, or None for all."""
    items = [t for t in (text or "").split(",") if t]
    return items or None


def run(program, importer, out, **options):
    """A command-line importer's end: runs `importer(out=out, **options)` (which returns
    participants, stories, runs and runs with repeats), prints what it wrote or the error;
    returns the exit status."""
    try:
        n = importer(out=out, **options)
    except ImportError_ as e:
        print(f"{program}: {e}", file=sys.stderr)
        return 1
    print(f"{program}: wrote {out}: {n[0]} participants, {n[1]} stories, {n[2]} runs, {n[3]} with repeats")
    return 0

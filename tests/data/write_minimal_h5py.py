#!/usr/bin/env python3
"""Writes a small valid braintune dataset (format v1) with h5py; see docs/dataset-format.md.

One fMRI participant who heard one 20 s story, with every optional group filled in once.
Only the groups marked "required" are needed for a valid file.

usage: write_minimal_h5py.py OUT.h5
"""
import sys

import h5py
import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(0)
audio_rate = 16000.0  # Hz
seconds = 20.0        # story length
tr = 2.0              # seconds per fMRI volume
n_times = 10          # volumes: t0 + n_times * tr must not exceed the audio length + one tr
n_targets = 5         # voxels or vertices
text = h5py.string_dtype()  # variable-length UTF-8 strings

with h5py.File(out, "w") as f:
    # required: what the file is
    f.attrs["format"] = "braintune-dataset"
    f.attrs["version"] = 1
    f.attrs["modality"] = "fmri"
    f.attrs["name"] = "minimal"  # optional; defaults to the file name without extension

    # required: each story's audio, mono float32
    story = f.create_group("stimuli/story_a")
    audio = 0.1 * rng.standard_normal(int(seconds * audio_rate))
    story.create_dataset("audio", data=audio.astype(np.float32))
    story["audio"].attrs["sample_rate"] = audio_rate

    # optional: word and phoneme timings, seconds from the start of the audio, sorted by onset
    words = story.create_group("words")
    words["onset"] = np.array([0.5, 1.2])
    words["offset"] = np.array([1.0, 1.8])
    words.create_dataset("text", data=["hello", "world"], dtype=text)
    phonemes = story.create_group("phonemes")
    phonemes["onset"] = np.array([0.5, 0.6, 0.75, 0.85, 1.2, 1.35, 1.5, 1.65])
    phonemes["offset"] = np.array([0.6, 0.75, 0.85, 1.0, 1.35, 1.5, 1.65, 1.8])
    phonemes.create_dataset("text", data=["HH", "AH", "L", "OW", "W", "ER", "L", "D"], dtype=text)

    # optional: a stimulus feature, float32 [n_frames, dim], with its frame times in seconds
    frames = np.arange(0.0, seconds, 0.1)
    envelope = np.abs(audio[: len(frames) * 1600].reshape(len(frames), 1600)).mean(axis=1)
    story["features/envelope"] = envelope.reshape(-1, 1).astype(np.float32)
    story["features/envelope_times"] = frames

    # required: participants, each with the runs (stories) they heard
    p = f.create_group("participants/sub-01")
    p.attrs["space"] = "native"  # participants in one space share targets
    p.attrs["n_targets"] = n_targets
    responses = rng.standard_normal((n_times, n_targets)).astype(np.float32)
    run = p.create_dataset("runs/story_a/responses", data=responses)
    run.attrs["tr"] = tr   # for MEG: run.attrs["sample_rate"] = 1000.0 instead
    run.attrs["t0"] = 0.0  # sample i covers [t0 + i * tr, t0 + (i + 1) * tr) of the story

    # optional: separate presentations of a story (>= 2), same timing as its run
    p["repeats/story_a"] = rng.standard_normal((2, n_times, n_targets)).astype(np.float32)
    # optional: noise ceiling per target, and ROIs as target indices in [0, n_targets)
    p["noise_ceiling"] = np.full(n_targets, 0.6, dtype=np.float32)
    p["rois/auditory"] = np.array([0, 1, 2], dtype=np.int32)

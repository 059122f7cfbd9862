"""A braintune dataset file (docs/dataset-format.md) summarised from Python, with h5py."""
import os
from dataclasses import dataclass, field

import h5py


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class Story:
    name: str
    seconds: float                # audio duration
    sample_rate: float            # of the audio
    words: int                    # 0: no word timings
    phonemes: int                 # 0: no phoneme timings
    features: list = field(default_factory=list)
    heard_by: list = field(default_factory=list)       # participants with a run of it
    repeated_by: list = field(default_factory=list)    # participants with repeats of it


@dataclass
class Participant:
    id: str
    space: str
    n_targets: int
    stories: list                  # the runs' stories
    rois: dict                     # name -> number of targets
    noise_ceiling: bool


@dataclass
class Dataset:
    """What `open_dataset` reads: the file's metadata, not its arrays (open it with h5py for those)."""
    path: str
    name: str
    modality: str
    version: int
    stories: dict                  # name -> Story
    participants: dict             # id -> Participant

    def __repr__(self):
        hours = sum(s.seconds for s in self.stories.values()) / 3600
        lines = [f"{self.name} ({self.modality}, {self.path}): {len(self.participants)} participants, "
                 f"{len(self.stories)} stories, {hours:.2f} h of audio"]
        for s in self.stories.values():
            lines.append(f"  {s.name}: {s.seconds:.1f} s at {s.sample_rate:g} Hz, {s.words} words, "
                         f"{s.phonemes} phonemes, heard by {len(s.heard_by)}"
                         + (f", repeated by {len(s.repeated_by)}" if s.repeated_by else ""))
        return "\n".join(lines)


def open_dataset(path):
    """Summarises a braintune HDF5 file: stories (duration, words, phonemes, features, who heard
    them), participants (space, targets, runs, ROIs). Raises ValueError naming the path inside
    the file when it is not a braintune dataset (`braintune dataset validate` lists every problem)."""
    path = os.fspath(path)
    with h5py.File(path, "r") as f:
        if _text(f.attrs.get("format", "")) != "braintune-dataset":
            raise ValueError(f"{path}: /: attribute format is not 'braintune-dataset'")
        stories = {}
        for name, g in sorted(f.get("stimuli", {}).items()):
            if "audio" not in g:
                raise ValueError(f"{path}: /stimuli/{name}/audio: missing")
            rate = float(g["audio"].attrs.get("sample_rate", 0))
            stories[name] = Story(
                name=name, seconds=g["audio"].shape[0] / rate if rate > 0 else 0.0, sample_rate=rate,
                words=g["words/onset"].shape[0] if "words/onset" in g else 0,
                phonemes=g["phonemes/onset"].shape[0] if "phonemes/onset" in g else 0,
                features=sorted(k for k in g.get("features", {}).keys() if not k.endswith("_times")))
        participants = {}
        for pid, g in sorted(f.get("participants", {}).items()):
            runs = sorted(g.get("runs", {}).keys())
            for story in runs:
                if story in stories:
                    stories[story].heard_by.append(pid)
            for story in g.get("repeats", {}).keys():
                if story in stories:
                    stories[story].repeated_by.append(pid)
            participants[pid] = Participant(
                id=pid, space=_text(g.attrs.get("space", "")), n_targets=int(g.attrs.get("n_targets", 0)),
                stories=runs, rois={k: int(v.shape[0]) for k, v in g.get("rois", {}).items()},
                noise_ceiling="noise_ceiling" in g)
        return Dataset(path=path, name=_text(f.attrs.get("name", os.path.splitext(os.path.basename(path))[0])),
                       modality=_text(f.attrs.get("modality", "")), version=int(f.attrs.get("version", 0)),
                       stories=stories, participants=participants)

"""iLIDS-VID reader (torchreid layout), plus the split-file and sequence helpers PRID2011 shares.

Layout: ``ilids-vid/i-LIDS-VID/sequences/cam{1,2}/personNNN/*.png`` with ``ilids-vid/splits.json``, or
only ``ilids-vid/train-test people splits/train_test_splits_ilidsvid.mat`` from which ``splits.json`` is
built once. A split file is a list of 10 dicts ``{"train": [...], "test": [...]}`` of person folder names
(person numbers are accepted too). Query = the test persons' cam1 sequences, gallery = their cam2 ones,
train = both sequences of the train persons. camid is 1 for cam1 and 2 for cam2; tid is the person folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.io

from reid_runtime.data.tracklet import DatasetSplits, Tracklet
from reid_runtime.errors import DatasetLayoutError
from reid_runtime.io import write_json_atomic

NUM_SPLITS = 10
DATA_DIR = "i-LIDS-VID"
ROOT_DIR = "ilids-vid"
SPLITS_JSON = "splits.json"
SPLITS_MAT = Path("train-test people splits") / "train_test_splits_ilidsvid.mat"

_TRAILING_NUMBER = re.compile(r"(\d+)$")


def _trailing_number(name: str) -> int | None:
    match = _TRAILING_NUMBER.search(name)
    return None if match is None else int(match[1])


def find_ilidsvid_dir(root: str | Path) -> Path:
    """The folder holding ``i-LIDS-VID/``: ``root`` itself (``ilids-vid/``) or ``root/ilids-vid``."""
    root = Path(root).expanduser().resolve()
    for candidate in (root, root / ROOT_DIR):
        if (candidate / DATA_DIR).is_dir():
            return candidate
    raise DatasetLayoutError(
        f"{root}: no {DATA_DIR}/ folder; expected {ROOT_DIR}/{DATA_DIR}/sequences/cam1|cam2/personNNN/*.png, "
        f"with root being {ROOT_DIR}/ or its parent"
    )


def sequence_frames(folder: Path, suffix: str = ".png") -> tuple[str, ...]:
    """Frame paths of one sequence folder sorted by the frame number that ends each file stem."""
    numbered = []
    for path in folder.iterdir():
        if path.suffix != suffix:
            continue
        number = _trailing_number(path.stem)
        if number is None:
            raise DatasetLayoutError(f"{path}: no frame number at the end of the name; expected e.g. 00317{suffix}")
        numbered.append((number, str(path)))
    if not numbered:
        raise DatasetLayoutError(f"{folder}: no {suffix} frames; expected a non-empty sequence folder")
    return tuple(path for _, path in sorted(numbered))


def sequence_tracklet(camera_dir: Path, person: str, camid: int) -> Tracklet:
    """The one sequence of ``person`` under ``camera_dir``; pid is the number ending the folder name."""
    folder = camera_dir / person
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: missing; expected the sequence of {person} seen by {camera_dir.name}")
    pid = _trailing_number(person)
    if pid is None:
        raise DatasetLayoutError(f"{folder}: no person number ending the folder name; expected e.g. person001")
    return Tracklet(frames=sequence_frames(folder), pid=pid, camid=camid, tid=person)


def read_json_splits(path: Path) -> list:
    """The parsed split file; layout errors for a missing or malformed file."""
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: missing; expected a split file (list of {NUM_SPLITS} train/test dicts)")
    try:
        splits = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetLayoutError(f"{path}: not valid JSON ({exc}); expected a list of train/test dicts") from exc
    if not isinstance(splits, list):
        raise DatasetLayoutError(f"{path}: top level is {type(splits).__name__}; expected a list of train/test dicts")
    return splits


def select_split(
    splits: list, source: Path, split_id: int, person_name: Callable[[int], str]
) -> tuple[list[str], list[str]]:
    """(train, test) person folder names of split ``split_id``; integer entries go through ``person_name``."""
    if not 0 <= split_id < len(splits):
        raise DatasetLayoutError(
            f"{source}: holds {len(splits)} splits, no split {split_id}; expected {NUM_SPLITS} splits"
        )
    split = splits[split_id]
    if not isinstance(split, dict) or not all(isinstance(split.get(k), list) for k in ("train", "test")):
        raise DatasetLayoutError(f"{source}: split {split_id} is not a dict with 'train' and 'test' lists")
    chosen = []
    for part in ("train", "test"):
        names = []
        for entry in split[part]:
            if isinstance(entry, str):
                names.append(entry)
            elif isinstance(entry, int) and not isinstance(entry, bool):
                names.append(person_name(entry))
            else:
                raise DatasetLayoutError(
                    f"{source}: split {split_id} {part} entry {entry!r}; expected a person folder name or number"
                )
        if len(set(names)) != len(names):
            raise DatasetLayoutError(f"{source}: split {split_id} lists a {part} person twice")
        chosen.append(names)
    train, test = chosen
    if not test:
        raise DatasetLayoutError(f"{source}: split {split_id} has no test persons")
    shared = set(train) & set(test)
    if shared:
        raise DatasetLayoutError(f"{source}: split {split_id} has {sorted(shared)[:3]} in both train and test")
    return train, test


def person_tracklets(
    camera_dirs: tuple[Path, Path], train: list[str], test: list[str]
) -> tuple[list[Tracklet], list[Tracklet], list[Tracklet]]:
    """(train, query, gallery): both sequences of each train person, test persons' first camera / second camera."""
    first, second = camera_dirs
    train_tracklets = [sequence_tracklet(d, p, camid) for p in train for camid, d in ((1, first), (2, second))]
    query = [sequence_tracklet(first, p, 1) for p in test]
    gallery = [sequence_tracklet(second, p, 2) for p in test]
    return train_tracklets, query, gallery


def _splits_from_mat(mat_path: Path, cam1_dir: Path) -> list[dict[str, list[str]]]:
    """torchreid's conversion: ``ls_set`` rows are 1-based indices into the sorted cam1 person folders,
    first half test, second half train."""
    try:
        ls_set = np.asarray(scipy.io.loadmat(str(mat_path))["ls_set"])
    except KeyError:
        raise DatasetLayoutError(f"{mat_path}: no variable 'ls_set'; expected the iLIDS-VID split file") from None
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, ... on damaged files
        raise DatasetLayoutError(f"{mat_path}: not a readable MATLAB file ({exc})") from exc
    persons = sorted(p.name for p in cam1_dir.iterdir() if p.is_dir())
    if ls_set.ndim != 2 or ls_set.shape[1] % 2 or ls_set.min() < 1 or ls_set.max() > len(persons):
        raise DatasetLayoutError(
            f"{mat_path}: ls_set of shape {ls_set.shape}, values {ls_set.min()}..{ls_set.max()}; expected "
            f"(splits, even number of persons) of 1-based indices into the {len(persons)} folders of {cam1_dir}"
        )
    half = ls_set.shape[1] // 2
    return [
        {"train": sorted(persons[i - 1] for i in row[half:]), "test": sorted(persons[i - 1] for i in row[:half])}
        for row in ls_set.astype(int).tolist()
    ]


def read_ilidsvid(root: str | Path, *, split_id: int = 0) -> DatasetSplits:
    """Read split ``split_id`` of iLIDS-VID; ``root`` is ``ilids-vid/`` or the folder containing it.

    Without ``splits.json`` the splits are built from the release's ``ls_set`` and saved as ``splits.json``
    (kept in memory only when the folder is read-only).
    """
    base = find_ilidsvid_dir(root)
    sequences = base / DATA_DIR / "sequences"
    camera_dirs = (sequences / "cam1", sequences / "cam2")
    for camera_dir in camera_dirs:
        if not camera_dir.is_dir():
            raise DatasetLayoutError(f"{camera_dir}: missing; expected one personNNN/ folder per person")
    splits_path = base / SPLITS_JSON
    notes = []
    if splits_path.exists():
        splits = read_json_splits(splits_path)
    else:
        mat_path = base / SPLITS_MAT
        if not mat_path.is_file():
            raise DatasetLayoutError(
                f"{splits_path}: missing, and so is {mat_path}; expected one of them (the release's split file)"
            )
        splits = _splits_from_mat(mat_path, camera_dirs[0])
        try:
            write_json_atomic(splits_path, splits)
            notes.append(f"built {splits_path.name} from {mat_path.name}")
        except OSError as exc:
            notes.append(f"built the splits from {mat_path.name} in memory; could not write {splits_path} ({exc})")
    train_names, test_names = select_split(splits, splits_path, split_id, lambda n: f"person{n:03d}")
    train, query, gallery = person_tracklets(camera_dirs, train_names, test_names)
    notes.append(
        f"split {split_id}: {len(train_names)} train / {len(test_names)} test persons; query cam1, gallery cam2"
    )
    return DatasetSplits(name="ilidsvid", root=base, train=train, query=query, gallery=gallery, notes=notes)

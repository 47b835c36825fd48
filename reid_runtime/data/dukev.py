"""DukeMTMC-VideoReID reader: ``{train,query,gallery}/<pid>/<tracklet>/*.jpg`` folders of the release.

The standard gallery is ``gallery/`` as released (2636 tracklets); it already holds a copy of every query
tracklet, which the same-identity-same-camera exclusion of evaluation removes again.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from reid_runtime.data.tracklet import DatasetSplits, Tracklet
from reid_runtime.errors import DatasetLayoutError

SPLITS: tuple[str, ...] = ("train", "query", "gallery")
RELEASE_DIR = "DukeMTMC-VideoReID"
NUM_CAMERAS = 8

# 0001_C6_F0099_X30823.jpg, or the older 0001C6F0099X30823.jpg: pid, camera, frame number in the tracklet.
_FRAME_NAME = re.compile(r"(\d{4})_?C(\d)_?F(\d+)(?:[_A-Za-z].*)?\.jpg")


def find_dukev_dir(root: str | Path) -> Path:
    """The folder holding ``train/``, ``query/`` and ``gallery/``: ``root`` itself or ``root/DukeMTMC-VideoReID``."""
    root = Path(root).expanduser().resolve()
    for candidate in (root, root / RELEASE_DIR):
        if all((candidate / split).is_dir() for split in SPLITS):
            return candidate
    missing = [split for split in SPLITS if not (root / split).is_dir()]
    raise DatasetLayoutError(
        f"{root}: no {', '.join(f'{s}/' for s in missing)} folder; expected train/, query/ and gallery/ of the "
        f"DukeMTMC-VideoReID release here or under {RELEASE_DIR}/"
    )


def _subfolders(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return [entry for entry in entries if entry.is_dir()]


def _read_tracklet(folder: Path, pid: int) -> Tracklet:
    """Frames ordered by their F number (some tracklets start at F0002); the camera from the file names."""
    frames: list[tuple[int, str]] = []
    cameras: set[int] = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.endswith(".jpg"):
                continue
            match = _FRAME_NAME.fullmatch(entry.name)
            if match is None:
                raise DatasetLayoutError(
                    f"{entry.path}: not a DukeMTMC-VideoReID frame name; expected <pid4>_C<c>_F<ffff>_X<n>.jpg "
                    "such as 0001_C6_F0099_X30823.jpg"
                )
            if int(match[1]) != pid:
                raise DatasetLayoutError(f"{entry.path}: pid {match[1]} in the name; expected {pid:04d}, its folder")
            cameras.add(int(match[2]))
            frames.append((int(match[3]), entry.path))
    if not frames:
        raise DatasetLayoutError(f"{folder}: empty tracklet folder; expected its .jpg frames")
    if len(cameras) != 1 or not 1 <= min(cameras) <= NUM_CAMERAS:
        raise DatasetLayoutError(
            f"{folder}: frames from cameras {sorted(cameras)}; expected one camera in 1..{NUM_CAMERAS}"
        )
    frames.sort()
    return Tracklet(frames=tuple(path for _, path in frames), pid=pid, camid=cameras.pop(), tid=folder.name)


def _read_split(split_dir: Path) -> list[Tracklet]:
    """Tracklets of one split, in numeric pid order then tracklet folder name order."""
    pid_dirs = []
    for entry in _subfolders(split_dir):
        if not entry.name.isdigit():
            raise DatasetLayoutError(f"{entry.path}: folder name is not a pid; expected 4-digit identity folders")
        pid_dirs.append((int(entry.name), Path(entry.path)))
    if not pid_dirs:
        raise DatasetLayoutError(f"{split_dir}: no identity folders; expected <pid>/<tracklet>/*.jpg")
    tracklets = []
    for pid, pid_dir in sorted(pid_dirs):
        tracklet_dirs = sorted(entry.name for entry in _subfolders(pid_dir))
        if not tracklet_dirs:
            raise DatasetLayoutError(f"{pid_dir}: no tracklet folders; expected <tracklet>/*.jpg")
        tracklets += [_read_tracklet(pid_dir / name, pid) for name in tracklet_dirs]
    return tracklets


def read_dukev(root: str | Path) -> DatasetSplits:
    """Read DukeMTMC-VideoReID from ``root`` (the release folder, or its parent as in torchreid)."""
    data_dir = find_dukev_dir(root)
    train, query, gallery = (_read_split(data_dir / split) for split in SPLITS)
    gallery_keys = {t.key for t in gallery}
    notes = ["protocol standard: gallery = gallery/ as released, which also holds the query tracklets"]
    missing = sum(t.key not in gallery_keys for t in query)
    if missing:
        notes.append(f"{missing} of {len(query)} query tracklets have no copy in gallery/ (the release has all)")
    return DatasetSplits(name="dukev", root=data_dir, train=train, query=query, gallery=gallery, notes=notes)

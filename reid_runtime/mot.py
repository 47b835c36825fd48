"""MOTChallenge sequences as tracklets: read ``gt/gt.txt`` or ``det/det.txt`` and crop every track's boxes.

Layout: ``<seq>/img1/000001.jpg`` ... (``seqinfo.ini`` may rename the folder and extension), annotation lines
``frame,id,x,y,w,h,conf,...`` with 1-based pixel boxes. Which rows count:

- ``gt``: when a 7th column exists (MOT16/17/20: the "consider" flag; MOT15: a confidence of 1) only rows where it
  is 1; in the 9-column MOT16/17/20 layout also only class 1 (pedestrian). MOT15's 10-column layout carries world
  coordinates from column 8 on, so no class filter applies there.
- ``det``: rows with a track id >= 0 (public detections have id -1; pass a tracker's output in this format).

Boxes are clipped to the image; a box with nothing left inside is dropped. Tracks with fewer than ``min_frames``
remaining boxes are skipped.
"""

from __future__ import annotations

import configparser
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from reid_runtime.data.frames import load_frame
from reid_runtime.errors import DatasetLayoutError

SOURCES = ("gt", "det")
_PREFETCH = 4  # frames decoded ahead of the cropping


@dataclass(frozen=True)
class Box:
    """A clipped box in 0-based pixel coordinates: ``image[top:bottom, left:right]``."""

    frame: int
    left: int
    top: int
    right: int
    bottom: int


@dataclass
class MotSequence:
    name: str
    root: Path
    image_dir: Path
    image_ext: str
    image_size: tuple[int, int]            # (height, width)
    tracks: dict[int, list[Box]] = field(default_factory=dict)  # track id -> boxes in frame order
    skipped_tracks: int = 0

    def frame_path(self, frame: int) -> Path:
        return self.image_dir / f"{frame:06d}{self.image_ext}"


def read_mot_sequence(root: str | Path, source: str = "gt", min_frames: int = 4) -> MotSequence:
    """Parse a sequence folder; tracks with fewer than ``min_frames`` usable boxes are left out."""
    root = Path(root).expanduser()
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if min_frames < 1:
        raise ValueError(f"min_frames must be >= 1, got {min_frames}")
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: MOT sequence folder not found")
    name, image_dir, ext, size = _sequence_info(root)
    annotation = root / source / f"{source}.txt"
    if not annotation.is_file():
        raise DatasetLayoutError(f"{annotation}: missing; expected a MOTChallenge {source}.txt in {root}")
    boxes: dict[int, dict[int, Box]] = {}
    for frame, track, x, y, w, h in _rows(annotation, source):
        box = _clip(frame, x, y, w, h, size)
        if box is not None:
            boxes.setdefault(track, {}).setdefault(frame, box)
    if not boxes:
        hint = ""
        if source == "det":
            hint = " (public detections have no track ids: run a tracker and pass its output as det.txt)"
        raise DatasetLayoutError(f"{annotation}: no usable track boxes{hint}")
    tracks = {t: [b[f] for f in sorted(b)] for t, b in sorted(boxes.items()) if len(b) >= min_frames}
    return MotSequence(name, root, image_dir, ext, size, tracks, skipped_tracks=len(boxes) - len(tracks))


def iter_track_crops(seq: MotSequence, track_ids: Iterable[int],
                     size: tuple[int, int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(track_id, crops)`` with crops uint8 ``(T, H, W, 3)`` resized to ``size``, each track once its last
    frame is read. Every frame image is decoded once, in order, so only the open tracks' crops are held."""
    wanted = {t: seq.tracks[t] for t in track_ids}
    by_frame: dict[int, list[tuple[int, Box]]] = {}
    for track, boxes in wanted.items():
        for box in boxes:
            by_frame.setdefault(box.frame, []).append((track, box))
    last = {track: boxes[-1].frame for track, boxes in wanted.items()}
    crops: dict[int, list[np.ndarray]] = {track: [] for track in wanted}
    height, width = size
    frames = sorted(by_frame)
    with ThreadPoolExecutor(2, thread_name_prefix="reid-mot") as pool:
        queue: deque[Future] = deque()
        ahead = iter(frames)
        for frame in frames:
            while len(queue) < _PREFETCH and (nxt := next(ahead, None)) is not None:
                queue.append(pool.submit(load_frame, seq.frame_path(nxt)))
            image = queue.popleft().result()
            ending = []
            for track, box in by_frame[frame]:
                crop = Image.fromarray(image[box.top:box.bottom, box.left:box.right])
                crops[track].append(np.asarray(crop.resize((width, height), Image.Resampling.BILINEAR)))
                if last[track] == frame:
                    ending.append(track)
            for track in ending:
                yield track, np.stack(crops.pop(track))


def _sequence_info(root: Path) -> tuple[str, Path, str, tuple[int, int]]:
    """(name, image folder, extension, (height, width)) from ``seqinfo.ini`` when present, else the defaults."""
    name, image_dir, ext, size = root.name, root / "img1", ".jpg", None
    ini = root / "seqinfo.ini"
    if ini.is_file():
        parser = configparser.ConfigParser()
        parser.read(ini)
        section = parser["Sequence"] if parser.has_section("Sequence") else {}
        name = section.get("name", name)
        image_dir = root / section.get("imDir", "img1")
        ext = section.get("imExt", ext)
        if "imHeight" in section and "imWidth" in section:
            size = (int(section["imHeight"]), int(section["imWidth"]))
    if not image_dir.is_dir():
        raise DatasetLayoutError(f"{image_dir}: missing; expected the frames of MOT sequence {name} there")
    if size is None:
        first = next(iter(sorted(image_dir.glob(f"*{ext}"))), None)
        if first is None:
            raise DatasetLayoutError(f"{image_dir}: no *{ext} frames")
        with Image.open(first) as image:
            size = (image.height, image.width)
    return name, image_dir, ext, size


def _rows(path: Path, source: str) -> Iterator[tuple[int, int, float, float, float, float]]:
    with path.open() as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                values = [float(v) for v in line.split(",")]
            except ValueError:
                raise DatasetLayoutError(f"{path}:{number}: expected comma-separated numbers, got {line!r}") from None
            if len(values) < 6:
                raise DatasetLayoutError(f"{path}:{number}: expected at least frame,id,x,y,w,h, got {line!r}")
            frame, track = int(values[0]), int(values[1])
            if track < 0:
                continue
            if source == "gt" and len(values) >= 7 and values[6] != 1:
                continue
            if source == "gt" and len(values) == 9 and values[7] != 1:
                continue
            yield frame, track, values[2], values[3], values[4], values[5]


def _clip(frame: int, x: float, y: float, w: float, h: float, size: tuple[int, int]) -> Box | None:
    height, width = size
    left, top = max(round(x - 1), 0), max(round(y - 1), 0)
    right, bottom = min(round(x - 1 + w), width), min(round(y - 1 + h), height)
    if right - left < 1 or bottom - top < 1:
        return None
    return Box(frame, left, top, right, bottom)

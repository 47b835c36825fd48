"""MOTChallenge sequences as tracklets: read ``gt/gt.txt`` or ``det/det.txt`` and crop every track's boxes.

Layout: ``<seq>/img1/000001.jpg`` ... (``seqinfo.ini`` may rename the folder and extension), annotation lines
``frame,id,x,y,w,h,conf,...`` with 1-based pixel boxes. Which rows count:

- ``gt``: when a 7th column exists (MOT16/17/20: the "consider" flag; MOT15: a confidence of 1) only rows where it
  is 1; in the 9-column MOT16/17/20 layout also only class 1 (pedestrian). MOT15's 10-column layout carries world
  coordinates from column 8 on, so no class filter applies there.
- ``det``: rows with a track id >= 0 (public detections have id -1; pass a tracker's output in this format).

Boxes are clipped to the image; a box with nothing left inside (zero width or height included) is dropped. Tracks
with fewer than ``min_frames`` remaining boxes are skipped.

An annotation file is untrusted input, checked line by line: a line that is not 6 to 10 comma-separated numbers, has
another number of columns than the file's first line, holds ``nan`` or ``inf``, a frame number that is not a positive
integer, a track id that is not an integer, or a negative width or height stops the reading with a
``DatasetLayoutError`` naming the file and the line (``<file>:<line>: ...``; exit 2 in the CLI). Nothing is
skipped silently: a damaged file usually means a wrong file, and guessing its boxes would embed the wrong people.
A damaged ``seqinfo.ini`` and a frame image that is not the size ``seqinfo.ini`` declares are errors too.
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

from reid_runtime.data.frames import FrameReadError, frame_size, load_frame
from reid_runtime.errors import DatasetLayoutError

SOURCES = ("gt", "det")
MIN_COLUMNS, MAX_COLUMNS = 6, 10  # frame,id,x,y,w,h[,conf[,x,y,z | class,visibility]]
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
                     size: tuple[int, int]) -> Iterator[tuple[int, np.ndarray | FrameReadError]]:
    """Yield ``(track_id, crops)`` with crops uint8 ``(T, H, W, 3)`` resized to ``size``, each track once its last
    frame is read. Every frame image is decoded once, in order, so only the open tracks' crops are held.

    A frame image that cannot be read (or is not the size the sequence declares) fails every track with a box in it:
    such a track is yielded as ``(track_id, FrameReadError)`` naming that frame, and the other tracks go on.
    """
    wanted = {t: seq.tracks[t] for t in track_ids}
    by_frame: dict[int, list[tuple[int, Box]]] = {}
    for track, boxes in wanted.items():
        for box in boxes:
            by_frame.setdefault(box.frame, []).append((track, box))
    last = {track: boxes[-1].frame for track, boxes in wanted.items()}
    crops: dict[int, list[np.ndarray]] = {track: [] for track in wanted}
    failed: dict[int, FrameReadError] = {}
    height, width = size
    frames = sorted(by_frame)
    with ThreadPoolExecutor(2, thread_name_prefix="reid-mot") as pool:
        queue: deque[Future] = deque()
        ahead = iter(frames)
        for frame in frames:
            while len(queue) < _PREFETCH and (nxt := next(ahead, None)) is not None:
                queue.append(pool.submit(load_frame, seq.frame_path(nxt)))
            image, error = _read(queue.popleft(), seq, frame)
            ending = []
            for track, box in by_frame[frame]:
                if error is not None and track not in failed:
                    failed[track] = error
                    crops[track].clear()  # a failed track holds no crops while it waits for its last frame
                if track not in failed:
                    crop = Image.fromarray(image[box.top:box.bottom, box.left:box.right])
                    crops[track].append(np.asarray(crop.resize((width, height), Image.Resampling.BILINEAR)))
                if last[track] == frame:
                    ending.append(track)
            for track in ending:
                held = crops.pop(track)
                yield (track, failed.pop(track)) if track in failed else (track, np.stack(held))


def _read(future: Future, seq: MotSequence, frame: int) -> tuple[np.ndarray | None, FrameReadError | None]:
    """The decoded frame image, or the error that names it."""
    try:
        image = future.result()
    except FrameReadError as exc:
        return None, exc
    if image.shape[:2] != seq.image_size:
        return None, FrameReadError.of(seq.frame_path(frame), f"is {image.shape[0]}x{image.shape[1]} (HxW) but "
                                       f"the sequence declares {seq.image_size[0]}x{seq.image_size[1]} frames "
                                       "(seqinfo.ini imHeight x imWidth, or its first frame)")
    return image, None


def _sequence_info(root: Path) -> tuple[str, Path, str, tuple[int, int]]:
    """(name, image folder, extension, (height, width)) from ``seqinfo.ini`` when present, else the defaults."""
    name, image_dir, ext, size = root.name, root / "img1", ".jpg", None
    ini = root / "seqinfo.ini"
    if ini.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(ini, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as err:
            reason = " ".join(str(err).split())
            raise DatasetLayoutError(f"{ini}: not a readable seqinfo.ini ({reason}); expected a [Sequence] "
                                     "section of key=value lines") from None
        section = parser["Sequence"] if parser.has_section("Sequence") else {}
        name = section.get("name", name)
        image_dir = root / section.get("imDir", "img1")
        ext = section.get("imExt", ext)
        if Path(section.get("imDir", "img1")).is_absolute() or ".." in Path(section.get("imDir", "img1")).parts:
            raise DatasetLayoutError(f"{ini}: imDir={section['imDir']!r}; expected a folder inside {root}")
        if "imHeight" in section and "imWidth" in section:
            try:
                size = (int(section["imHeight"]), int(section["imWidth"]))
            except ValueError:
                size = (0, 0)
            if min(size) < 1:
                raise DatasetLayoutError(f"{ini}: imHeight={section['imHeight']!r}, imWidth={section['imWidth']!r}; "
                                         "expected positive integers (pixels)")
    if not image_dir.is_dir():
        raise DatasetLayoutError(f"{image_dir}: missing; expected the frames of MOT sequence {name} there")
    if size is None:
        first = next(iter(sorted(image_dir.glob(f"*{ext}"))), None)
        if first is None:
            raise DatasetLayoutError(f"{image_dir}: no *{ext} frames")
        size = frame_size(first)
    return name, image_dir, ext, size


def _rows(path: Path, source: str) -> Iterator[tuple[int, int, float, float, float, float]]:
    """The rows of an annotation file as (frame, track, x, y, w, h), filtered as the module docstring says; any
    malformed line raises ``DatasetLayoutError`` naming ``path`` and the line number."""
    columns = None
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            where = f"{path}:{number}"
            shown = line if len(line) <= 80 else line[:77] + "..."
            fields = line.split(",")
            if not MIN_COLUMNS <= len(fields) <= MAX_COLUMNS:
                raise DatasetLayoutError(f"{where}: expected {MIN_COLUMNS} to {MAX_COLUMNS} comma-separated columns "
                                         f"(frame,id,x,y,w,h,...), got {len(fields)}: {shown!r}")
            if columns is None:
                columns = len(fields)
            elif len(fields) != columns:
                raise DatasetLayoutError(f"{where}: expected {columns} columns like the file's first line, got "
                                         f"{len(fields)}: {shown!r}")
            try:
                values = [float(v) for v in fields]
            except ValueError:
                raise DatasetLayoutError(f"{where}: expected comma-separated numbers, got {shown!r}") from None
            if not all(np.isfinite(values)):
                raise DatasetLayoutError(f"{where}: expected finite numbers, got nan or inf in {shown!r}")
            if values[0] < 1 or values[0] != int(values[0]):
                raise DatasetLayoutError(f"{where}: the frame number must be a positive integer, got {fields[0]!r}")
            if values[1] != int(values[1]):
                raise DatasetLayoutError(f"{where}: the track id must be an integer, got {fields[1]!r}")
            if values[4] < 0 or values[5] < 0:
                raise DatasetLayoutError(f"{where}: the box width and height must not be negative, got "
                                         f"w={fields[4].strip()} h={fields[5].strip()}")
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

"""Per-frame labels of ID-irrelevant events: ``frame_events.csv`` in a dataset root.

``reid data synth`` writes it for every layout; the attention probe (:mod:`reid_runtime.services.probe`) reads it, and
so can a user who labels their own data the same way. One row per (frame image, event), with the header
``image,event,detail,x0,y0,x1,y1``:

- ``image``: the frame's path relative to the dataset root, ``/``-separated;
- ``event``: the kind, a lower-case identifier (the generator writes ``occlusion``, ``cut``, ``second_person``,
  ``wrong_target``, ``replacement``, ``missing``);
- ``detail``: free text without commas, or empty (the generator names the occluding object of an occlusion);
- ``x0, y0, x1, y1``: the box the event covers in normalised image coordinates (0..1, x to the right, y down, in the
  image as stored), ``x0 < x1`` and ``y0 < y1``.

Clean frames have no row; a frame with several events has several rows.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reid_runtime.errors import ReidError

EVENTS_FILE = "frame_events.csv"
COLUMNS: tuple[str, ...] = ("image", "event", "detail", "x0", "y0", "x1", "y1")
EVENT_KINDS: tuple[str, ...] = ("occlusion", "cut", "second_person", "wrong_target", "replacement", "missing")
_KIND = re.compile(r"[a-z][a-z0-9_]*")
DIGITS = 4  # decimals of the written coordinates


class FrameEventsError(ReidError, ValueError):
    """A frame events file that does not follow the format; the message names the file and the line."""


@dataclass(frozen=True)
class EventBox:
    """One event in one frame: its kind, the normalised box ``(x0, y0, x1, y1)`` it covers, and a detail."""

    event: str
    box: tuple[float, float, float, float]
    detail: str = ""

    def band_cover(self, top: float, bottom: float) -> float:
        """The fraction of the full-width horizontal band of rows ``top..bottom`` (normalised) that the box covers."""
        x0, y0, x1, y1 = self.box
        overlap = max(0.0, min(y1, bottom) - max(y0, top)) * max(0.0, min(x1, 1.0) - max(x0, 0.0))
        return overlap / (bottom - top) if bottom > top else 0.0


def _problem(event: str, box: tuple[float, ...], detail: str) -> str | None:
    """What is wrong with one event, or None."""
    if not _KIND.fullmatch(event):
        return f"event {event!r} is not a lower-case identifier (e.g. occlusion, second_person)"
    if "," in detail or "\n" in detail or "\r" in detail:
        return f"detail {detail!r} holds a comma or a line break"
    if len(box) != 4 or not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in box):
        return f"box {box} must be 4 finite coordinates in 0..1"
    x0, y0, x1, y1 = box
    if not (x0 < x1 and y0 < y1):
        return f"box {box} is empty: expected x0 < x1 and y0 < y1"
    return None


def _image_problem(image: str) -> str | None:
    path = PurePosixPath(image)
    if not image or image != image.strip() or "\\" in image or path.is_absolute() or ".." in path.parts:
        return f"image {image!r} must be a path relative to the dataset root, '/'-separated, without '..'"
    return None


def write_frame_events(path: str | os.PathLike[str], rows: Iterable[tuple[str, EventBox]]) -> int:
    """Write ``(relative image path, EventBox)`` rows as a frame events file; returns the row count."""
    lines = [",".join(COLUMNS)]
    for image, item in rows:
        box = tuple(round(float(v), DIGITS) for v in item.box)
        problem = _image_problem(image) or _problem(item.event, box, item.detail)
        if problem:
            raise ValueError(f"{path}: cannot write the event of {image}: {problem}")
        lines.append(",".join([image, item.event, item.detail, *(f"{v:.{DIGITS}f}" for v in box)]))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def read_frame_events(path: str | os.PathLike[str]) -> dict[str, tuple[EventBox, ...]]:
    """The events of a frame events file by image path (relative to the dataset root), in file order.

    Raises :class:`FrameEventsError` (one line: the file, the line and what is wrong) on a file that does not follow
    the format.
    """
    path = Path(path)
    if not path.is_file():
        raise FrameEventsError(f"{path}: missing; expected a {EVENTS_FILE} of per-frame event labels "
                               "(reid data synth writes one; format in docs/datasets.md)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FrameEventsError(f"{path}: cannot read it as UTF-8 text ({exc.__class__.__name__})") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != COLUMNS:
        raise FrameEventsError(f"{path}:1: expected the header {','.join(COLUMNS)}, got {','.join(header or [])!r}")
    events: dict[str, list[EventBox]] = {}
    for fields in reader:
        where = f"{path}:{reader.line_num}"
        if not fields:
            continue
        if len(fields) != len(COLUMNS):
            raise FrameEventsError(f"{where}: expected {len(COLUMNS)} fields ({','.join(COLUMNS)}), got {len(fields)}")
        image, event, detail = fields[0], fields[1].strip(), fields[2].strip()
        try:
            box = tuple(float(v) for v in fields[3:])
        except ValueError:
            raise FrameEventsError(f"{where}: the box {','.join(fields[3:])!r} is not 4 numbers") from None
        problem = _image_problem(image) or _problem(event, box, detail)
        if problem:
            raise FrameEventsError(f"{where}: {problem}")
        events.setdefault(image, []).append(EventBox(event, box, detail))  # type: ignore[arg-type]
    return {image: tuple(items) for image, items in events.items()}

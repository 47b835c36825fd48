"""The one tracklet record and the split container every reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reid_runtime.data.attribute_schema import AttributeSchema


@dataclass(frozen=True)
class Tracklet:
    """A tracklet: frame paths in temporal order plus its labels.

    ``pid`` is the dataset's raw identity (MARS: 0 = distractor, -1 = junk); training code relabels it.
    ``camid`` is the camera number as the dataset names it (1-based: MARS C1..C6, Duke C1..C8,
    iLIDS-VID cam1/cam2 -> 1/2, PRID2011 cam_a/cam_b -> 1/2). ``tid`` is the dataset's tracklet id as a
    string (MARS: the 4 digits after ``T``; Duke: the tracklet folder name, not always an integer).
    ``attributes`` holds the attribute values in the dataset's CSV column order, or ``None`` when the
    tracklet has no annotation.
    """

    frames: tuple[str, ...]
    pid: int
    camid: int
    tid: str
    attributes: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def key(self) -> tuple[int, int, str]:
        """(pid, camid, tid): unique within a split of every supported dataset."""
        return (self.pid, self.camid, self.tid)


@dataclass
class DatasetSplits:
    """What a reader returns: train / query / gallery tracklets under one named gallery protocol."""

    name: str
    root: Path
    train: list[Tracklet]
    query: list[Tracklet]
    gallery: list[Tracklet]
    protocol: str = "standard"
    attribute_schema: AttributeSchema | None = None
    notes: list[str] = field(default_factory=list)

"""Write a synthetic dataset in the DukeMTMC-VideoReID layout: train/, query/, gallery/ and duke_attributes.csv."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from reid_runtime.data.attribute_schema import DUKE_ATTRIBUTES
from reid_runtime.data.frame_events import EVENTS_FILE, write_frame_events
from reid_runtime.data.synth.attributes_csv import write_attribute_csv
from reid_runtime.data.synth.camera import Camera
from reid_runtime.data.synth.config import MAX_FRAMES, SynthConfig, make_rng
from reid_runtime.data.synth.identities import Identity, assign_pids, draw_person, tracklet_length
from reid_runtime.data.synth.tracklet_job import TrackletJob, render_job

_QUERY_KEY, _VIDEO_KEY, _CONTINUATION_KEY = 20, 21, 22
FRAME_STEP = 12  # frames were sampled every 12 video frames
_MAX_VIDEO_FRAME = 99999  # X is written with 5 digits


@dataclass(frozen=True)
class _Entry:
    """One Duke tracklet: split folder, pid, tracklet folder name, first F index and first video frame X."""

    split: str
    pid: int
    folder: str
    camera: int
    first_frame: int
    first_video_frame: int
    job: TrackletJob
    attributes: tuple[int, ...]
    query: bool = False

    def path(self, root: Path, split: str | None = None) -> Path:
        return root / (split or self.split) / f"{self.pid:04d}" / self.folder

    @property
    def names(self) -> list[str]:
        return [f"{self.pid:04d}_C{self.camera}_F{self.first_frame + i:04d}"
                f"_X{self.first_video_frame + FRAME_STEP * i:05d}.jpg" for i in range(self.job.n_frames)]


def _video_start(config: SynthConfig, pid: int, number: int) -> int:
    """First video frame of a tracklet, leaving room for the tracklet and a continuation after it."""
    rng = make_rng(config.seed, _VIDEO_KEY, pid, number)
    return int(rng.integers(1, _MAX_VIDEO_FRAME - FRAME_STEP * (2 * MAX_FRAMES + 40)))


def write_dukev(config: SynthConfig, root: Path, cameras: dict[int, Camera]) -> dict:
    """Generate every tracklet under ``root`` in the DukeMTMC-VideoReID layout; returns the counts for the summary."""
    n_distractors = max(1, config.ids // 2)
    train_pids, test_pids, distractor_pids = assign_pids(config, extra=n_distractors)
    split_of = {**{p: "train" for p in train_pids}, **{p: "gallery" for p in test_pids + distractor_pids}}
    identities: dict[int, Identity] = {}
    for pid in train_pids + test_pids:
        identities[pid] = draw_person(config, pid, repeat_rates=(0.25,))
    for pid in distractor_pids:
        identities[pid] = draw_person(config, pid, single_tracklet=True)

    # tracklet folders are numbered across the whole dataset, in pid order
    entries: list[_Entry] = []
    number = 0
    for pid in sorted(identities):
        identity = identities[pid]
        query = None
        if pid in test_pids:
            query = int(make_rng(config.seed, _QUERY_KEY, pid).integers(len(identity.tracklets)))
        for i, (camera, n) in enumerate(identity.tracklets):
            number += 1
            entries.append(_Entry(split_of[pid], pid, f"{number:04d}", camera, 1,
                                  _video_start(config, pid, number),
                                  TrackletJob((pid, number), camera, n, "person", identity.look),
                                  identity.attributes, query=i == query))

    # real quirks: a tracklet continued under a non-integer folder ("0005-2"), and one starting at F0002
    first = next(e for e in entries if e.pid == train_pids[0])
    rng = make_rng(config.seed, _CONTINUATION_KEY)
    n = tracklet_length(rng, config)
    x = first.first_video_frame + FRAME_STEP * (first.job.n_frames + int(rng.integers(2, 40)))
    entries.append(_Entry("train", first.pid, f"{first.folder}-2", first.camera, 1, x,
                          TrackletJob((first.pid, int(first.folder), 2), first.camera, n, "person", first.job.look),
                          first.attributes))
    late = next(i for i, e in enumerate(entries) if e.pid == train_pids[-1])
    entries[late] = replace(entries[late], first_frame=2)
    entries.sort(key=lambda e: (e.split, e.pid, e.folder))

    csv_rows, event_rows = [], []
    for entry in entries:
        folder = entry.path(root)
        paths = [folder / name for name in entry.names]
        rendered = render_job(entry.job, cameras, config, paths)
        event_rows += rendered.rows(root, paths)
        if entry.query:
            query = entry.path(root, "query")
            shutil.copytree(folder, query)
            event_rows += rendered.rows(root, [query / name for name in entry.names])
        if entry.folder.isdigit():
            csv_rows.append((entry.pid, entry.camera, int(entry.folder), rendered.events.labels() + entry.attributes))
    write_attribute_csv(root / "duke_attributes.csv", DUKE_ATTRIBUTES, csv_rows)
    write_frame_events(root / EVENTS_FILE, event_rows)

    train = [e for e in entries if e.split == "train"]
    gallery = [e for e in entries if e.split == "gallery"]
    return {
        "train_ids": len(train_pids), "train_tracklets": len(train),
        "train_frames": sum(e.job.n_frames for e in train),
        "query_tracklets": sum(e.query for e in gallery), "gallery_tracklets": len(gallery),
        "gallery_ids": len(test_pids) + len(distractor_pids), "gallery_distractor_ids": len(distractor_pids),
        "gallery_frames": sum(e.job.n_frames for e in gallery), "attribute_rows": len(csv_rows),
        "frame_event_rows": len(event_rows),
    }

"""Write a synthetic dataset in the MARS layout: bbox_train/, bbox_test/, info/ (name lists, .mat tables) and
mars_attributes.csv."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid_runtime.data.attribute_schema import MARS_ATTRIBUTES
from reid_runtime.data.frame_events import EVENTS_FILE, write_frame_events
from reid_runtime.data.synth.attributes_csv import write_attribute_csv
from reid_runtime.data.synth.camera import Camera
from reid_runtime.data.synth.config import SynthConfig, make_rng
from reid_runtime.data.synth.identities import Identity, assign_pids, draw_person, tracklet_length
from reid_runtime.data.synth.output import save_mat, save_text_lines
from reid_runtime.data.synth.tracklet_job import TrackletJob, render_job

_QUERY_KEY, _DISTRACTOR_KEY, _JUNK_KEY = 10, 11, 12
# every QUERY_ONLY_EVERY-th test identity has one tracklet per camera, all of them queries: in the "test - query"
# gallery those queries keep no match (the real MARS has 140 such queries out of 1980)
QUERY_ONLY_EVERY = 12


@dataclass(frozen=True)
class _Entry:
    """One MARS tracklet: folder ("00-1", "0000", "0042"), labels, number T and the job that renders it."""

    folder: str
    pid: int
    camera: int
    number: int
    job: TrackletJob
    attributes: tuple[int, ...] | None = None
    query: bool = False

    @property
    def names(self) -> list[str]:
        return [f"{self.folder}C{self.camera}T{self.number:04d}F{f:03d}.jpg" for f in range(1, self.job.n_frames + 1)]


def _folder(pid: int) -> str:
    return "00-1" if pid == -1 else f"{pid:04d}"


def _person_entries(identity: Identity, queries: Collection[int] = ()) -> list[_Entry]:
    """T numbers the tracklets of one person across all cameras, in camera order."""
    return [_Entry(_folder(identity.pid), identity.pid, camera, t,
                   TrackletJob((identity.pid, t), camera, n, "person", identity.look), identity.attributes,
                   query=(t - 1) in queries)
            for t, (camera, n) in enumerate(identity.tracklets, start=1)]


def _choose_queries(config: SynthConfig, identity: Identity) -> set[int]:
    """One query per (pid, camera): indices into ``identity.tracklets``."""
    rng = make_rng(config.seed, _QUERY_KEY, identity.pid)
    queries = set()
    for camera in identity.cameras:
        candidates = [i for i, (c, _) in enumerate(identity.tracklets) if c == camera]
        queries.add(candidates[int(rng.integers(len(candidates)))])
    return queries


def _unlabelled_entries(config: SynthConfig, pid: int, count: int, key: int, role: str) -> list[_Entry]:
    """Distractor (pid 0) or junk (pid -1) tracklets of random passers-by, numbered in camera order."""
    drawn = []
    for j in range(count):
        rng = make_rng(config.seed, key, j)
        drawn.append((int(rng.integers(1, config.num_cameras + 1)), tracklet_length(rng, config)))
    drawn.sort(key=lambda item: item[0])
    return [_Entry(_folder(pid), pid, camera, t, TrackletJob((pid, t), camera, n, role))
            for t, (camera, n) in enumerate(drawn, start=1)]


def _file_order(entry: _Entry) -> tuple[str, int, int]:
    """Pid folder ("00-1" < "0000" < "0001" as strings), then file name (camera, then T)."""
    return (entry.folder, entry.camera, entry.number)


def _table(entries: list[_Entry]) -> tuple[list[str], np.ndarray]:
    """Name list and [start, end, pid, camid] rows (1-based, inclusive) of entries already in file order."""
    names: list[str] = []
    rows = []
    for entry in entries:
        start = len(names) + 1
        names.extend(entry.names)
        rows.append((start, len(names), entry.pid, entry.camera))
    return names, np.asarray(rows, dtype=np.int32).reshape(-1, 4)


def write_mars(config: SynthConfig, root: Path, cameras: dict[int, Camera]) -> dict:
    """Generate every tracklet under ``root`` in the MARS layout; returns the counts for the summary."""
    train_pids, test_pids, _ = assign_pids(config)
    train = [e for pid in train_pids for e in _person_entries(draw_person(config, pid))]
    test: list[_Entry] = []
    for i, pid in enumerate(test_pids):
        query_only = i % QUERY_ONLY_EVERY == 0
        identity = draw_person(config, pid, one_per_camera=query_only, two_cameras_with_repeats=not query_only)
        test.extend(_person_entries(identity, _choose_queries(config, identity)))
    test += _unlabelled_entries(config, 0, config.ids, _DISTRACTOR_KEY, "distractor")
    test += _unlabelled_entries(config, -1, max(2, config.ids // 4), _JUNK_KEY, "junk")
    train.sort(key=_file_order)
    test.sort(key=_file_order)

    csv_rows, event_rows = [], []
    occluded = 0
    for split, entries in (("bbox_train", train), ("bbox_test", test)):
        for entry in entries:
            folder = root / split / entry.folder
            paths = [folder / name for name in entry.names]
            rendered = render_job(entry.job, cameras, config, paths)
            event_rows += rendered.rows(root, paths)
            events = rendered.events
            occluded += events.occlusion is not None
            if entry.attributes is not None:
                csv_rows.append((entry.pid, entry.camera, entry.number, events.labels() + entry.attributes))

    info = root / "info"
    info.mkdir()
    train_names, train_table = _table(train)
    test_names, test_table = _table(test)
    query_rows = [i + 1 for i, e in enumerate(test) if e.query]
    if len(test) > np.iinfo(np.uint16).max:
        raise ValueError(f"{len(test)} test tracklets do not fit the uint16 query_IDX of MARS; use fewer ids")
    save_text_lines(info / "train_name.txt", train_names, "\r\n")
    save_text_lines(info / "test_name.txt", test_names, "\r\n")
    save_mat(info / "tracks_train_info.mat", {"track_train_info": train_table})
    save_mat(info / "tracks_test_info.mat", {"track_test_info": test_table})
    save_mat(info / "query_IDX.mat", {"query_IDX": np.asarray([query_rows], dtype=np.uint16)})
    write_attribute_csv(root / "mars_attributes.csv", MARS_ATTRIBUTES, csv_rows)
    write_frame_events(root / EVENTS_FILE, event_rows)

    queries = [e for e in test if e.query]
    matched = {(e.pid, e.camera) for e in test if not e.query and e.pid > 0}
    unmatched = sum(not any(pid == q.pid and cam != q.camera for pid, cam in matched) for q in queries)
    return {
        "train_ids": len(train_pids), "train_tracklets": len(train), "train_frames": len(train_names),
        "test_ids": len(test_pids), "test_tracklets": len(test), "test_frames": len(test_names),
        "distractor_tracklets": sum(e.pid == 0 for e in test), "junk_tracklets": sum(e.pid == -1 for e in test),
        "query_tracklets": len(queries), "queries_without_match_outside_query": unmatched,
        "attribute_rows": len(csv_rows), "occluded_tracklets": occluded, "frame_event_rows": len(event_rows),
    }

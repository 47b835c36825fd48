"""The synthetic DukeMTMC-VideoReID folder has the real layout, its query/gallery rules and its quirks."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from reid_runtime.data.attribute_schema import DUKE_ATTRIBUTES, KEY_COLUMNS

NAME = re.compile(r"^(\d{4})_C([1-8])_F(\d{4})_X(\d{5})\.jpg$")


def _tracklets(root: Path, split: str) -> dict[tuple[str, str], list[tuple[int, int, int]]]:
    """(pid folder, tracklet folder) -> [(camera, F, X)] in file-name order, checking every name on the way."""
    out = {}
    for pid_dir in sorted((root / split).iterdir()):
        assert re.fullmatch(r"\d{4}", pid_dir.name), pid_dir
        for tracklet_dir in sorted(pid_dir.iterdir()):
            assert re.fullmatch(r"\d{4}(-\d+)?", tracklet_dir.name), tracklet_dir
            frames = []
            for frame in sorted(tracklet_dir.iterdir()):
                match = NAME.match(frame.name)
                assert match and match.group(1) == pid_dir.name, frame
                frames.append((int(match.group(2)), int(match.group(3)), int(match.group(4))))
            assert frames, tracklet_dir
            out[(pid_dir.name, tracklet_dir.name)] = frames
    return out


def test_file_names_frame_order_and_quirks(tiny_dukev: Path) -> None:
    assert {p.name for p in tiny_dukev.iterdir()} >= {"train", "query", "gallery", "duke_attributes.csv"}
    tracklets = {**_tracklets(tiny_dukev, "train"), **_tracklets(tiny_dukev, "gallery")}
    first_frames = []
    for frames in tracklets.values():
        cameras, f, x = zip(*frames)
        assert len(set(cameras)) == 1
        assert list(f) == list(range(f[0], f[0] + len(f)))
        assert all(b > a for a, b in zip(x, x[1:]))  # X: frame index in the camera's video, increasing
        first_frames.append(f[0])
    assert sorted(first_frames) == [1] * (len(first_frames) - 1) + [2]  # exactly one tracklet starts at F0002
    assert any(not tid.isdigit() for _, tid in tracklets)  # e.g. "0005-2"


def test_query_and_gallery(tiny_dukev: Path) -> None:
    train = _tracklets(tiny_dukev, "train")
    query = _tracklets(tiny_dukev, "query")
    gallery = _tracklets(tiny_dukev, "gallery")
    train_pids = {pid for pid, _ in train}
    query_pids = [pid for pid, _ in query]
    assert len(train_pids) == 6 and len(query_pids) == len(set(query_pids)) == 6  # one query per test id
    assert not train_pids & {pid for pid, _ in gallery}
    for key in query:  # each query tracklet also sits in gallery/, same files, same bytes
        assert key in gallery
        for q in sorted((tiny_dukev / "query" / key[0] / key[1]).iterdir()):
            assert q.read_bytes() == (tiny_dukev / "gallery" / key[0] / key[1] / q.name).read_bytes()
        camera = query[key][0][0]
        assert any(pid == key[0] and frames[0][0] != camera for (pid, _), frames in gallery.items())
    per_pid = defaultdict(int)
    for pid, _ in gallery:
        per_pid[pid] += 1
    distractors = set(per_pid) - set(query_pids)
    assert distractors and all(per_pid[pid] == 1 for pid in distractors)


def test_attribute_csv(tiny_dukev: Path) -> None:
    with open(tiny_dukev / "duke_attributes.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == KEY_COLUMNS + DUKE_ATTRIBUTES.columns
    values = np.asarray(rows[1:], dtype=int)
    expected = set()
    for split in ("train", "gallery"):
        for (pid, tid), frames in _tracklets(tiny_dukev, split).items():
            if tid.isdigit():
                expected.add((int(pid), frames[0][0], int(tid)))
    assert {tuple(r) for r in values[:, :3]} == expected and len(values) == len(expected)
    attributes = values[:, 3:]
    assert (attributes >= 0).all() and (attributes < np.asarray(DUKE_ATTRIBUTES.num_classes)).all()

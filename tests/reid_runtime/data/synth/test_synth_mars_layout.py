"""The synthetic MARS folder has the real MARS layout: folders, file names, CRLF name lists, .mat tables, CSV."""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import scipy.io

from reid_runtime.data.attribute_schema import KEY_COLUMNS, MARS_ATTRIBUTES

NAME = re.compile(r"^(\d{4}|00-1)C([1-6])T(\d{4})F(\d{3})\.jpg$")


def _names(path: Path) -> list[str]:
    raw = path.read_bytes()
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")[:-1]
    assert not any(b"\n" in line or b"\r" in line for line in lines)
    return [line.decode("ascii") for line in lines]


def _table(root: Path, split: str) -> np.ndarray:
    variable = f"track_{split}_info"
    path = root / "info" / f"tracks_{split}_info.mat"
    assert [name for name, _, _ in scipy.io.whosmat(path)] == [variable]
    return scipy.io.loadmat(path)[variable]


def _queries(root: Path) -> np.ndarray:
    path = root / "info" / "query_IDX.mat"
    assert [name for name, _, _ in scipy.io.whosmat(path)] == ["query_IDX"]
    return scipy.io.loadmat(path)["query_IDX"]


def test_folders_and_file_names(tiny_mars: Path) -> None:
    train = {p.name for p in (tiny_mars / "bbox_train").iterdir()}
    test = {p.name for p in (tiny_mars / "bbox_test").iterdir()}
    assert {"0000", "00-1"} <= test
    assert not train & {"0000", "00-1"}
    assert not train & test
    assert all(re.fullmatch(r"\d{4}", name) for name in train | test - {"00-1"})
    real = sorted(int(n) for n in train | test - {"0000", "00-1"})
    assert len(real) == 12 and real[-1] > len(real)  # 6 + 6 ids, numbered with gaps
    for split in ("bbox_train", "bbox_test"):
        for frame in (tiny_mars / split).glob("*/*"):
            match = NAME.match(frame.name)
            assert match, frame
            assert match.group(1) == frame.parent.name


def test_name_lists_match_files_on_disk(tiny_mars: Path) -> None:
    for split, folder in (("train", "bbox_train"), ("test", "bbox_test")):
        names = _names(tiny_mars / "info" / f"{split}_name.txt")
        assert names == sorted(names)  # sorted by pid folder, then file name
        assert sorted(p.name for p in (tiny_mars / folder).glob("*/*.jpg")) == names
    test_names = _names(tiny_mars / "info" / "test_name.txt")
    assert test_names[0].startswith("00-1")
    first_distractor = next(i for i, n in enumerate(test_names) if not n.startswith("00-1"))
    assert test_names[first_distractor].startswith("0000")


def test_track_tables_index_the_name_lists(tiny_mars: Path) -> None:
    for split in ("train", "test"):
        table = _table(tiny_mars, split)
        names = _names(tiny_mars / "info" / f"{split}_name.txt")
        assert table.dtype == np.int32 and table.ndim == 2 and table.shape[1] == 4
        assert table[0, 0] == 1 and table[-1, 1] == len(names)
        assert np.array_equal(table[1:, 0], table[:-1, 1] + 1)  # contiguous, 1-based, inclusive
        seen = set()
        for start, end, pid, camid in table:
            frames = names[start - 1:end]
            parsed = [NAME.match(n).groups() for n in frames]
            assert {p[0] for p in parsed} == {"00-1" if pid == -1 else f"{pid:04d}"}
            assert {int(p[1]) for p in parsed} == {camid}
            assert len({p[2] for p in parsed}) == 1
            assert [int(p[3]) for p in parsed] == list(range(1, len(frames) + 1))
            key = (pid, parsed[0][2])
            assert key not in seen  # T numbers a person's tracklets across all cameras
            seen.add(key)
    test = _table(tiny_mars, "test")
    assert {-1, 0} <= set(test[:, 2])
    assert not set(_table(tiny_mars, "train")[:, 2]) & set(test[:, 2])


def test_mat_dtypes_match_the_real_files(tiny_mars: Path, shared_data: Path) -> None:
    real = shared_data / "mars-info"
    for file, variable in (("tracks_train_info", "track_train_info"), ("tracks_test_info", "track_test_info"),
                           ("query_IDX", "query_IDX")):
        ours = scipy.io.loadmat(tiny_mars / "info" / f"{file}.mat")
        theirs = scipy.io.loadmat(real / f"{file}.mat")
        assert ours["__version__"] == theirs["__version__"] == "1.0"
        assert ours[variable].dtype == theirs[variable].dtype
        assert ours[variable].ndim == theirs[variable].ndim == 2
        axis = 0 if variable == "query_IDX" else 1  # 1 x Q, N x 4
        assert ours[variable].shape[axis] == theirs[variable].shape[axis]


def test_queries_follow_the_mars_rules(tiny_mars: Path) -> None:
    test = _table(tiny_mars, "test")
    query_idx = _queries(tiny_mars)
    assert query_idx.dtype == np.uint16 and query_idx.shape[0] == 1
    rows = query_idx[0].astype(int)
    assert rows.min() >= 1 and rows.max() <= len(test)
    assert list(rows) == sorted(set(rows))
    queries = test[rows - 1]
    assert set(queries[:, 2]) == set(test[test[:, 2] > 0, 2])  # every test id is queried, never pid 0 / -1
    assert max(Counter(map(tuple, queries[:, 2:4])).values()) == 1  # at most one per (pid, camera)
    cameras = defaultdict(set)
    for _, _, pid, camid in test[test[:, 2] > 0]:
        cameras[pid].add(camid)
    assert min(len(c) for c in cameras.values()) >= 2
    # under "test - query" some queries lose every cross-camera match (their only matches are other queries)
    is_query = np.zeros(len(test), bool)
    is_query[rows - 1] = True
    gallery = test[~is_query]
    valid = [bool(((gallery[:, 2] == pid) & (gallery[:, 3] != camid)).any()) for _, _, pid, camid in queries]
    assert 0 < valid.count(False) < len(valid) / 2
    for _, _, pid, camid in queries:  # official protocol: the whole test set always holds a match
        assert ((test[:, 2] == pid) & (test[:, 3] != camid)).any()


def test_attribute_csv(tiny_mars: Path) -> None:
    with open(tiny_mars / "mars_attributes.csv", newline="", encoding="gbk") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == KEY_COLUMNS + MARS_ATTRIBUTES.columns
    values = np.asarray(rows[1:], dtype=int)
    keys = set()
    for split in ("train", "test"):
        names = _names(tiny_mars / "info" / f"{split}_name.txt")
        for start, _, pid, camid in _table(tiny_mars, split):
            if pid > 0:
                keys.add((pid, camid, int(NAME.match(names[start - 1]).group(3))))
    assert {tuple(k) for k in values[:, :3]} == keys and len(values) == len(keys)
    attributes = values[:, 3:]
    assert (attributes >= 0).all() and (attributes < np.asarray(MARS_ATTRIBUTES.num_classes)).all()
    relevant = np.asarray(MARS_ATTRIBUTES.indices(1))
    for pid in set(values[:, 0]):  # ID-relevant values are a property of the person
        assert len({tuple(r) for r in attributes[values[:, 0] == pid][:, relevant]}) == 1
    occlusion = attributes[:, MARS_ATTRIBUTES.columns.index("occulusion")]
    assert 0 < occlusion.sum() < len(occlusion)

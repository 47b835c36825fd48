"""MARS reader: tracklets from the MARS-evaluation ``info/`` files under one of three gallery protocols.

Frame paths are built from the name lists (``info/train_name.txt``, ``info/test_name.txt``); the reader
never lists the 1.2 million image files, it only checks that ``bbox_train/`` and ``bbox_test/`` exist.

Protocols (the numbers are those of the real MARS release):

- ``standard``: pid -1 (junk) dropped, gallery = test - query (9330). As torchreid and AITL.
- ``with-query``: the ``standard`` gallery with the query tracklets appended (11310), so that every query
  has a cross-camera match. As PSTA/APSNet and AP3D.
- ``official``: gallery = every test tracklet, junk and queries included (12180), as the MATLAB
  MARS-evaluation code; evaluation must skip pid -1 as junk.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import scipy.io

from reid_runtime.data.tracklet import DatasetSplits, Tracklet
from reid_runtime.errors import DatasetLayoutError

PROTOCOLS: tuple[str, ...] = ("standard", "with-query", "official")
PROTOCOL_NOTES: dict[str, str] = {
    "standard": "gallery = test tracklets minus the queries, pid -1 (junk) dropped (torchreid / AITL)",
    "with-query": "gallery = test tracklets minus the queries, pid -1 dropped, then the queries appended "
                  "(PSTA / AP3D)",
    "official": "gallery = all test tracklets incl. queries and pid -1 junk (MARS-evaluation MATLAB); "
                "evaluation must skip pid -1 as junk",
}
INFO_FILES: tuple[str, ...] = (
    "train_name.txt", "test_name.txt", "tracks_train_info.mat", "tracks_test_info.mat", "query_IDX.mat",
)
NUM_CAMERAS = 6

# <pid4>C<camera>T<tracklet4>F<frame3>.jpg; junk frames carry the pid folder "00-1".
_FRAME_NAME = re.compile(r"(?:\d{4}|00-1)C[1-6]T\d{4}F\d{3}\.jpg")
_NAME_LEN = 19


def _pid_folder(pid: int) -> str:
    return "00-1" if pid == -1 else f"{pid:04d}"


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetLayoutError(f"{path}: missing; expected {what}")
    return path


def _read_names(path: Path) -> list[str]:
    """Frame names of a name list, one per line (``\\r\\n`` endings), each checked against the MARS pattern."""
    names = path.read_bytes().decode("ascii", errors="replace").splitlines()
    while names and not names[-1].strip():
        names.pop()
    if not all(map(_FRAME_NAME.fullmatch, names)):
        line = next(i for i, name in enumerate(names, 1) if not _FRAME_NAME.fullmatch(name))
        raise DatasetLayoutError(
            f"{path}:{line}: {names[line - 1]!r} is not a MARS frame name; expected <pid4>C<c>T<tttt>F<fff>.jpg "
            "such as 0001C1T0001F001.jpg (pid4 '00-1' for junk)"
        )
    return names


def _read_mat(path: Path, variable: str) -> np.ndarray:
    try:
        content = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, ... on damaged files
        raise DatasetLayoutError(f"{path}: not a readable MATLAB file ({exc})") from exc
    if variable not in content:
        found = sorted(k for k in content if not k.startswith("__"))
        raise DatasetLayoutError(f"{path}: no variable {variable!r} (found {found}); expected the MARS-evaluation file")
    array = np.asarray(content[variable])
    if not np.issubdtype(array.dtype, np.number) or not np.array_equal(array, np.round(array)):
        raise DatasetLayoutError(f"{path}: {variable} holds non-integer values; expected integer indices")
    return array.astype(np.int64)


def _read_track_table(path: Path, variable: str, num_names: int, names_path: Path) -> np.ndarray:
    """The N x 4 table [start, end, pid, camid] (1-based inclusive ranges into the name list), validated."""
    table = _read_mat(path, variable)
    if table.ndim != 2 or table.shape[1] != 4:
        raise DatasetLayoutError(
            f"{path}: {variable} has shape {table.shape}; expected (N, 4) rows [start, end, pid, camid]"
        )
    start, end, pid, camid = table.T
    checks = (
        ((start >= 1) & (start <= end), "start index outside 1..end"),
        (end <= num_names, f"end index beyond the {num_names} names of {names_path.name}"),
        (pid >= -1, "pid below -1"),
        ((camid >= 1) & (camid <= NUM_CAMERAS), f"camera outside 1..{NUM_CAMERAS}"),
    )
    for ok, problem in checks:
        if not ok.all():
            row = int(np.argmin(ok))
            raise DatasetLayoutError(f"{path}: row {row + 1} {table[row].tolist()}: {problem}")
    return table


def _check_tracklet_frames(names: list[str], table: np.ndarray, names_path: Path, table_path: Path) -> None:
    """Every frame of a row must carry the row's pid folder, its camera and the T number of its first frame."""
    starts, lengths = table[:, 0] - 1, table[:, 1] - table[:, 0] + 1
    owner = np.repeat(np.arange(len(table)), lengths)
    frame = np.arange(lengths.sum()) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    chars = np.frombuffer("".join(names).encode("ascii"), dtype=np.uint8).reshape(-1, _NAME_LEN)
    expected_pid = np.frombuffer(
        "".join(_pid_folder(int(p)) for p in table[:, 2]).encode("ascii"), dtype=np.uint8
    ).reshape(-1, 4)
    fields = chars[frame]
    ok = (fields[:, :4] == expected_pid[owner]).all(axis=1)
    ok &= fields[:, 5] == (ord("0") + table[:, 3])[owner]
    ok &= (fields[:, 7:11] == chars[starts, 7:11][owner]).all(axis=1)
    if not ok.all():
        bad = int(np.argmin(ok))
        row, line = int(owner[bad]), int(frame[bad]) + 1
        first = names[starts[row]]
        raise DatasetLayoutError(
            f"{names_path}:{line}: frame {names[line - 1]!r} does not belong to row {row + 1} of {table_path.name} "
            f"(pid {table[row, 2]}, camera {table[row, 3]}, first frame {first!r}); expected every frame of a "
            "tracklet to share its pid folder, camera and T number"
        )


def _tracklets(names: list[str], table: np.ndarray, image_dir: Path) -> list[Tracklet]:
    prefix = f"{image_dir}{os.sep}"
    paths = [f"{prefix}{name[:4]}{os.sep}{name}" for name in names]
    return [
        Tracklet(frames=tuple(paths[start - 1:end]), pid=int(pid), camid=int(camid), tid=names[start - 1][7:11])
        for start, end, pid, camid in table.tolist()
    ]


def _read_part(root: Path, part: str, variable: str) -> tuple[list[Tracklet], np.ndarray]:
    info = root / "info"
    names_path, table_path = info / f"{part}_name.txt", info / f"tracks_{part}_info.mat"
    image_dir = _require(root / f"bbox_{part}", f"the extracted bbox_{part}.zip (one folder per pid)")
    names = _read_names(names_path)
    table = _read_track_table(table_path, variable, len(names), names_path)
    _check_tracklet_frames(names, table, names_path, table_path)
    return _tracklets(names, table, image_dir), table


def read_mars(root: str | Path, *, protocol: str = "standard") -> DatasetSplits:
    """Read MARS from ``root`` (holding ``bbox_train/``, ``bbox_test/`` and ``info/``) under ``protocol``.

    Train drops pid -1 rows (none in the release). Query = the ``query_IDX`` rows in file order; every
    query must have a real identity (pid > 0).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"MARS protocol {protocol!r} is unknown; expected one of {', '.join(PROTOCOLS)}")
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: not a directory; expected the MARS root with bbox_train/, bbox_test/, info/")
    for filename in INFO_FILES:
        _require(root / "info" / filename, "the MARS info files from MARS-evaluation/info "
                                           f"({', '.join(INFO_FILES)})")
    train, _ = _read_part(root, "train", "track_train_info")
    test, test_table = _read_part(root, "test", "track_test_info")

    query_path = root / "info" / "query_IDX.mat"
    query_idx = _read_mat(query_path, "query_IDX").ravel() - 1
    if query_idx.size == 0 or query_idx.min() < 0 or query_idx.max() >= len(test):
        raise DatasetLayoutError(
            f"{query_path}: query_IDX must be non-empty 1-based row numbers into track_test_info (1..{len(test)})"
        )
    if len(np.unique(query_idx)) != len(query_idx):
        raise DatasetLayoutError(f"{query_path}: query_IDX repeats rows; expected each query once")
    non_real = query_idx[test_table[query_idx, 2] <= 0]
    if non_real.size:
        raise DatasetLayoutError(
            f"{query_path}: query row {non_real[0] + 1} has pid {test_table[non_real[0], 2]}; "
            "expected queries with a real identity (pid > 0)"
        )

    query = [test[i] for i in query_idx.tolist()]
    if protocol == "official":
        gallery = list(test)
    else:
        is_query = np.zeros(len(test), dtype=bool)
        is_query[query_idx] = True
        gallery = [t for t, q in zip(test, is_query.tolist()) if not q and t.pid != -1]
        if protocol == "with-query":
            gallery += query
    notes = [f"protocol {protocol}: {PROTOCOL_NOTES[protocol]}"]
    junk_train = sum(t.pid == -1 for t in train)
    if junk_train:
        notes.append(f"dropped {junk_train} pid -1 train tracklets")
    return DatasetSplits(
        name="mars", root=root, train=[t for t in train if t.pid != -1], query=query, gallery=gallery,
        protocol=protocol, notes=notes,
    )

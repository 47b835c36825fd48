"""MARS reader: real metadata tables, the three gallery protocols, attributes and bad layouts."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from reid_runtime.data.attribute_schema import MARS_ATTRIBUTES
from reid_runtime.data.mars import read_mars
from reid_runtime.data.registry import DatasetOptionError, load_dataset
from reid_runtime.data.summary import summarize
from reid_runtime.errors import DatasetLayoutError

_SUFFIXES = [f"F{i:03d}.jpg" for i in range(1, 1000)]


def mars_names(table: np.ndarray) -> list[str]:
    """Frame names matching a contiguous track table; T numbers count each pid's tracklets in row order."""
    counts: Counter[int] = Counter()
    names: list[str] = []
    for start, end, pid, cam in table.tolist():
        counts[pid] += 1
        folder = "00-1" if pid == -1 else f"{pid:04d}"
        prefix = f"{folder}C{cam}T{counts[pid]:04d}"
        names += [prefix + suffix for suffix in _SUFFIXES[: end - start + 1]]
    return names


def write_name_lists(root: Path, train: np.ndarray, test: np.ndarray) -> None:
    """info/*_name.txt with the release's \\r\\n line endings, and the (empty) bbox folders."""
    (root / "info").mkdir(parents=True, exist_ok=True)
    for part, table in (("train", train), ("test", test)):
        (root / f"bbox_{part}").mkdir()
        text = "\r\n".join(mars_names(table)) + "\r\n"
        (root / "info" / f"{part}_name.txt").write_text(text, encoding="ascii", newline="")


def track_table(specs: list[tuple[int, int, int]]) -> np.ndarray:
    """Contiguous 1-based [start, end, pid, camid] rows from (pid, camid, length) specs."""
    ends = np.cumsum([length for _, _, length in specs])
    starts = ends - [length for _, _, length in specs] + 1
    return np.array([[s, e, pid, cam] for s, e, (pid, cam, _) in zip(starts, ends, specs)], dtype=np.int32)


TRAIN_SPECS = [(1, 1, 6), (1, 2, 3), (3, 1, 8), (3, 1, 2)]
# Junk, distractors, then: pid 5 valid; pid 7's only cross-camera match is another query; pid 9 same camera only.
TEST_SPECS = [(-1, 1, 2), (-1, 3, 3), (0, 2, 3), (0, 4, 2), (5, 1, 4), (5, 2, 3), (7, 1, 2), (7, 3, 5),
              (9, 2, 3), (9, 2, 2)]
QUERY_ROWS = [5, 7, 8, 9]  # 1-based rows of the test table


def write_synthetic_mars(root: Path) -> Path:
    train, test = track_table(TRAIN_SPECS), track_table(TEST_SPECS)
    write_name_lists(root, train, test)
    scipy.io.savemat(root / "info" / "tracks_train_info.mat", {"track_train_info": train})
    scipy.io.savemat(root / "info" / "tracks_test_info.mat", {"track_test_info": test})
    scipy.io.savemat(root / "info" / "query_IDX.mat", {"query_IDX": np.array([QUERY_ROWS], dtype=np.uint16)})
    return root


@pytest.fixture
def mars_root(tmp_path: Path) -> Path:
    return write_synthetic_mars(tmp_path / "mars")


@pytest.fixture(scope="module")
def real_mars_root(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real MARS .mat files plus name lists invented to match them (no image files)."""
    root = tmp_path_factory.mktemp("real") / "mars"
    info = shared_data / "mars-info"
    train = scipy.io.loadmat(info / "tracks_train_info.mat")["track_train_info"]
    test = scipy.io.loadmat(info / "tracks_test_info.mat")["track_test_info"]
    write_name_lists(root, train, test)
    for filename in ("tracks_train_info.mat", "tracks_test_info.mat", "query_IDX.mat"):
        shutil.copy(info / filename, root / "info" / filename)
    return root


def _row(splits, name: str) -> dict:
    return next(r for r in summarize(splits) if r["split"] == name)


@pytest.mark.parametrize(
    ("protocol", "gallery", "valid"), [("standard", 9330, 1840), ("with-query", 11310, 1980), ("official", 12180, 1980)]
)
def test_real_mars_tables_give_the_published_counts(real_mars_root: Path, protocol: str, gallery: int, valid: int):
    splits = load_dataset("mars", real_mars_root, protocol=protocol)
    assert splits.protocol == protocol
    assert len(splits.train) == 8298 and len({t.pid for t in splits.train}) == 625
    assert len(splits.query) == 1980
    assert len(splits.gallery) == gallery
    assert _row(splits, "query")["valid_queries"] == valid
    assert sum(len(t) for t in splits.train) == 509914
    assert any(f"{valid} of 1980 queries are valid" in note for note in splits.notes)
    if protocol == "official":
        assert _row(splits, "gallery")["junk"] == 870
    assert _row(splits, "gallery")["distractors"] == 3248


def test_frames_are_absolute_paths_in_name_list_order(mars_root: Path):
    splits = read_mars(mars_root)
    first = splits.train[0]
    assert (first.pid, first.camid, first.tid) == (1, 1, "0001")
    assert first.frames == tuple(
        str(mars_root / "bbox_train" / "0001" / f"0001C1T0001F{i:03d}.jpg") for i in range(1, 7)
    )
    assert [(t.pid, t.camid, t.tid) for t in splits.train[1:]] == [(1, 2, "0002"), (3, 1, "0001"), (3, 1, "0002")]
    assert [(q.pid, q.camid) for q in splits.query] == [(5, 1), (7, 1), (7, 3), (9, 2)]


@pytest.mark.parametrize(
    ("protocol", "gallery_keys", "valid"),
    [
        ("standard", [(0, 2), (0, 4), (5, 2), (9, 2)], 1),
        ("with-query", [(0, 2), (0, 4), (5, 2), (9, 2), (5, 1), (7, 1), (7, 3), (9, 2)], 3),
        ("official", [(pid, cam) for pid, cam, _ in TEST_SPECS], 3),
    ],
)
def test_gallery_protocols(mars_root: Path, protocol: str, gallery_keys: list, valid: int):
    splits = load_dataset("mars", mars_root, protocol=protocol)
    assert [(t.pid, t.camid) for t in splits.gallery] == gallery_keys
    assert _row(splits, "query")["valid_queries"] == valid
    assert protocol in splits.notes[0]


def test_min_seq_len_filters_train_only(mars_root: Path):
    splits = load_dataset("mars", mars_root, min_seq_len=4)
    assert [len(t) for t in splits.train] == [6, 8]
    assert [len(q) for q in splits.query] == [4, 2, 5, 3]
    assert any("dropped 2 of 4 train" in note for note in splits.notes)


def test_attribute_csv_matches_on_pid_camera_and_t_number(mars_root: Path):
    width = len(MARS_ATTRIBUTES.columns)
    header = "person_id,camera_id,tracklets_id," + ",".join(MARS_ATTRIBUTES.columns)
    rows = [header, "1,2,2," + ",".join(["1"] * width), "5,1,1," + ",".join(["0"] * width)]
    (mars_root / "mars_attributes.csv").write_bytes("\r\n".join(rows).encode("gbk"))

    splits = load_dataset("mars", mars_root)
    assert splits.attribute_schema is MARS_ATTRIBUTES
    assert [t.attributes for t in splits.train] == [None, (1,) * width, None, None]
    assert splits.query[0].attributes == (0,) * width
    assert all(t.attributes is None for t in splits.gallery if t.pid == 0)

    skipped = load_dataset("mars", mars_root, attributes=False)
    assert skipped.attribute_schema is None and all(t.attributes is None for t in skipped.train)


def test_missing_attribute_csv_is_noted_not_an_error(mars_root: Path):
    splits = load_dataset("mars", mars_root)
    assert splits.attribute_schema is None
    assert any("no mars_attributes.csv" in note for note in splits.notes)
    with pytest.raises(DatasetLayoutError, match="elsewhere.csv: missing"):
        load_dataset("mars", mars_root, attributes=mars_root / "elsewhere.csv")


def test_bad_options_are_rejected(mars_root: Path):
    with pytest.raises(DatasetOptionError, match="no protocol 'gallery'"):
        load_dataset("mars", mars_root, protocol="gallery")
    with pytest.raises(ValueError, match="expected one of standard, with-query, official"):
        read_mars(mars_root, protocol="gallery")
    with pytest.raises(DatasetOptionError, match="expected split_id 0"):
        load_dataset("mars", mars_root, split_id=3)
    with pytest.raises(DatasetOptionError, match="min_seq_len"):
        load_dataset("mars", mars_root, min_seq_len=-1)


def _replace_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\r\n".join(lines) + "\r\n", newline="")


def test_missing_info_file_names_it_and_its_source(mars_root: Path):
    (mars_root / "info" / "tracks_test_info.mat").unlink()
    with pytest.raises(DatasetLayoutError, match=r"info/tracks_test_info\.mat: missing; expected the MARS info files"):
        read_mars(mars_root)


def test_missing_bbox_folder(mars_root: Path):
    (mars_root / "bbox_test").rmdir()
    with pytest.raises(DatasetLayoutError, match=r"bbox_test: missing; expected the extracted bbox_test\.zip"):
        read_mars(mars_root)


def test_malformed_name_line_reports_file_and_line(mars_root: Path):
    _replace_line(mars_root / "info" / "train_name.txt", 3, "0001_C1_T0001.jpg")
    with pytest.raises(DatasetLayoutError, match=r"train_name\.txt:3: '0001_C1_T0001\.jpg' is not a MARS frame name"):
        read_mars(mars_root)


@pytest.mark.parametrize("wrong", ["0001C3T0001F002.jpg", "0002C1T0001F002.jpg", "0001C1T0009F002.jpg"])
def test_frame_from_another_camera_pid_or_tracklet_is_reported(mars_root: Path, wrong: str):
    _replace_line(mars_root / "info" / "train_name.txt", 2, wrong)
    with pytest.raises(DatasetLayoutError, match=rf"train_name\.txt:2: frame '{wrong}' does not belong to row 1"):
        read_mars(mars_root)


def test_table_range_beyond_name_list(mars_root: Path):
    table = track_table(TRAIN_SPECS)
    table[-1, 1] += 5
    scipy.io.savemat(mars_root / "info" / "tracks_train_info.mat", {"track_train_info": table})
    with pytest.raises(DatasetLayoutError, match=r"row 4 .*end index beyond the 19 names of train_name\.txt"):
        read_mars(mars_root)


def test_wrong_mat_variable_and_zero_based_queries(mars_root: Path):
    info = mars_root / "info"
    scipy.io.savemat(info / "query_IDX.mat", {"query_IDX": np.array([[0, 4]], dtype=np.uint16)})
    with pytest.raises(DatasetLayoutError, match=r"query_IDX\.mat: query_IDX must be .*1-based"):
        read_mars(mars_root)
    scipy.io.savemat(info / "query_IDX.mat", {"query_idx": np.array([[5]], dtype=np.uint16)})
    with pytest.raises(DatasetLayoutError, match=r"no variable 'query_IDX' \(found \['query_idx'\]\)"):
        read_mars(mars_root)


def test_query_pointing_at_a_distractor_is_rejected(mars_root: Path):
    scipy.io.savemat(mars_root / "info" / "query_IDX.mat", {"query_IDX": np.array([[3, 5]], dtype=np.uint16)})
    with pytest.raises(DatasetLayoutError, match="query row 3 has pid 0"):
        read_mars(mars_root)

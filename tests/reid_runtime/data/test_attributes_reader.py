"""Attribute CSV reader: encodings, validation against the schema, matching tracklets."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid_runtime.data.attribute_schema import DUKE_ATTRIBUTES, MARS_ATTRIBUTES
from reid_runtime.data.attributes import attach_attributes, attribute_key, read_attribute_csv
from reid_runtime.data.tracklet import DatasetSplits, Tracklet
from reid_runtime.errors import DatasetLayoutError

MARS_HEADER = "person_id,camera_id,tracklets_id," + ",".join(MARS_ATTRIBUTES.columns)
ROW_A = [0, 4, 0, 0, 0, 0, 0, 0, 0, 5, 7, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1]  # a published example row
ROW_B = [0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0]


def _csv(*rows: str, header: str = MARS_HEADER) -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


def _row(key: str, values: list[int]) -> str:
    return key + "," + ",".join(map(str, values))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_reads_utf8_bom_and_gbk(tmp_path: Path, encoding: str):
    # A non-ASCII header cell makes the GBK file undecodable as UTF-8, so the fallback is exercised.
    header = MARS_HEADER.replace("action", "动作")
    path = tmp_path / "mars_attributes.csv"
    path.write_bytes(_csv(_row("646,2,8", ROW_A), "", _row("1,1,1", ROW_B), header=header).encode(encoding))
    assert read_attribute_csv(path, MARS_ATTRIBUTES) == {(646, 2, 8): tuple(ROW_A), (1, 1, 1): tuple(ROW_B)}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file; expected a header row"),
        (_csv(header=MARS_HEADER.replace("person_id", "pid")), r"expected person_id, camera_id, tracklets_id followed"),
        (_csv(header=MARS_HEADER + ",extra"), r"with 25 columns; .*\(24 columns\)"),
        (_csv(_row("1,1,1", ROW_A[:-1])), r"mars_attributes\.csv:2: 23 columns; expected 24"),
        (_csv(_row("1,1,1", ROW_A), _row("1,1,x", ROW_A)), r":3: non-integer value"),
        (_csv(_row("1,1,1", [0, 6] + ROW_A[2:])), r":2: angle=6; expected 0\.\.5 \(6 classes\)"),
        (_csv(_row("1,1,1", ROW_A), _row("1,1,1", ROW_B)), r":3: key \(1, 1, 1\) repeats line 2 with different values"),
    ],
)
def test_malformed_csv_names_file_line_and_expectation(tmp_path: Path, content: str, message: str):
    path = tmp_path / "mars_attributes.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetLayoutError, match=message):
        read_attribute_csv(path, MARS_ATTRIBUTES)


def test_identical_duplicate_rows_are_accepted(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_text(_csv(_row("1,1,1", ROW_A), _row("1,1,1", ROW_A)), encoding="utf-8")
    assert len(read_attribute_csv(path, MARS_ATTRIBUTES)) == 1


def test_undecodable_and_missing_files(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xff\xfe\xff" * 10)
    with pytest.raises(DatasetLayoutError, match="not UTF-8 or GBK text"):
        read_attribute_csv(path, MARS_ATTRIBUTES)
    with pytest.raises(DatasetLayoutError, match=r"missing\.csv: cannot read"):
        read_attribute_csv(tmp_path / "missing.csv", MARS_ATTRIBUTES)


def test_duke_schema_width(tmp_path: Path):
    path = tmp_path / "duke_attributes.csv"
    header = "person_id,camera_id,tracklets_id," + ",".join(DUKE_ATTRIBUTES.columns)
    values = [4, 5] + [1] * 15 + [7, 8]
    path.write_text(_csv(_row("2,6,3", values), header=header), encoding="utf-8")
    assert read_attribute_csv(path, DUKE_ATTRIBUTES) == {(2, 6, 3): tuple(values)}
    with pytest.raises(DatasetLayoutError, match=r"header .* with 22 columns; .*\(24 columns\)"):
        read_attribute_csv(path, MARS_ATTRIBUTES)


def test_attribute_key_uses_integer_tracklet_ids():
    assert attribute_key(Tracklet(frames=("a",), pid=646, camid=2, tid="0008")) == (646, 2, 8)
    assert attribute_key(Tracklet(frames=("a",), pid=5, camid=1, tid="0005-2")) is None


def test_attach_sets_schema_values_and_coverage_note(tmp_path: Path):
    path = tmp_path / "mars_attributes.csv"
    path.write_text(_csv(_row("646,2,8", ROW_A)), encoding="utf-8")
    hit = Tracklet(frames=("f1", "f2"), pid=646, camid=2, tid="0008")
    miss = Tracklet(frames=("f3",), pid=0, camid=2, tid="0008")
    splits = DatasetSplits(name="mars", root=tmp_path, train=[hit], query=[], gallery=[miss], notes=["n"])
    out = attach_attributes(splits, path, MARS_ATTRIBUTES)
    assert out.attribute_schema is MARS_ATTRIBUTES
    assert out.train[0].attributes == tuple(ROW_A) and out.train[0].frames == hit.frames
    assert out.gallery[0].attributes is None
    assert out.notes[0] == "n" and "train 1/1, query 0/0, gallery 0/1" in out.notes[1]
    assert splits.train[0].attributes is None  # the input is left untouched

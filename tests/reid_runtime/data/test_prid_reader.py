"""PRID2011 reader: splits_prid2011.json, query cam_a / gallery cam_b."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reid_runtime.data.prid import read_prid
from reid_runtime.data.registry import DatasetOptionError, load_dataset
from reid_runtime.errors import DatasetLayoutError


def write_prid(base: Path, frames: dict[str, int]) -> Path:
    """``base`` = prid2011/ with cam_a/cam_b sequences of ``frames`` (person -> frame count) and 10 splits."""
    for cam in ("cam_a", "cam_b"):
        for person, count in frames.items():
            folder = base / "prid_2011" / "multi_shot" / cam / person
            folder.mkdir(parents=True)
            for i in range(1, count + 1):
                (folder / f"{i:04d}.png").touch()
    splits = [{"train": ["person_0001", "person_0002"], "test": ["person_0003", 4]} for _ in range(10)]
    (base / "splits_prid2011.json").write_text(json.dumps(splits))
    return base


@pytest.fixture
def prid_base(tmp_path: Path) -> Path:
    return write_prid(tmp_path / "prid2011", {"person_0001": 3, "person_0002": 30, "person_0003": 12, "person_0004": 5})


def test_query_cam_a_gallery_cam_b(prid_base: Path):
    splits = load_dataset("prid", prid_base, split_id=9)
    assert [(t.pid, t.camid, t.tid) for t in splits.query] == [(3, 1, "person_0003"), (4, 1, "person_0004")]
    assert [(t.pid, t.camid) for t in splits.gallery] == [(3, 2), (4, 2)]
    assert [(t.pid, t.camid) for t in splits.train] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    folder = (prid_base / "prid_2011" / "multi_shot" / "cam_b" / "person_0003").resolve()
    assert splits.gallery[0].frames == tuple(str(folder / f"{i:04d}.png") for i in range(1, 13))
    assert any("2 of 2 queries are valid" in note for note in splits.notes)


def test_parent_root_and_min_seq_len(prid_base: Path):
    splits = load_dataset("prid", prid_base.parent, min_seq_len=10)
    assert splits.root == prid_base.resolve()
    assert [t.pid for t in splits.train] == [2, 2]
    assert [len(t) for t in splits.query] == [12, 5]


def test_missing_split_file_and_layout(prid_base: Path, tmp_path: Path):
    with pytest.raises(DatasetLayoutError, match=r"no prid_2011/multi_shot/ folder"):
        read_prid(tmp_path / "nothing")
    (prid_base / "splits_prid2011.json").unlink()
    with pytest.raises(DatasetLayoutError, match=r"splits_prid2011\.json: missing; expected a split file"):
        read_prid(prid_base)


def test_person_missing_from_cam_b(prid_base: Path):
    folder = prid_base / "prid_2011" / "multi_shot" / "cam_b" / "person_0004"
    for frame in folder.iterdir():
        frame.unlink()
    folder.rmdir()
    with pytest.raises(DatasetLayoutError, match=r"cam_b/person_0004: missing; expected the sequence of person_0004"):
        read_prid(prid_base)


def test_only_standard_protocol_and_ten_splits(prid_base: Path):
    with pytest.raises(DatasetOptionError, match="no protocol 'with-query'"):
        load_dataset("prid", prid_base, protocol="with-query")
    with pytest.raises(DatasetOptionError, match=r"PRID2011 has no split -1"):
        load_dataset("prid", prid_base, split_id=-1)

"""iLIDS-VID reader: splits from splits.json or the release's ls_set, query cam1 / gallery cam2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from reid_runtime.data import ilidsvid
from reid_runtime.data.ilidsvid import read_ilidsvid
from reid_runtime.data.registry import DatasetOptionError, load_dataset
from reid_runtime.errors import DatasetLayoutError

PERSONS = [1, 2, 4, 5, 7, 8]  # folder numbers with gaps, so ls_set indices differ from person numbers
FRAMES = [317, 1002, 318]


def write_ilidsvid(base: Path) -> Path:
    """``base`` = ilids-vid/: both cameras' sequences and the release's ls_set (no splits.json)."""
    for cam in ("cam1", "cam2"):
        for person in PERSONS:
            folder = base / "i-LIDS-VID" / "sequences" / cam / f"person{person:03d}"
            folder.mkdir(parents=True)
            for frame in FRAMES:
                (folder / f"{cam}_person{person:03d}_{frame:05d}.png").touch()
    # Row k: indices into the sorted cam1 folders, first half test, second half train.
    ls_set = np.array([np.roll([1, 2, 3, 4, 5, 6], k) for k in range(10)])
    mat_dir = base / "train-test people splits"
    mat_dir.mkdir()
    scipy.io.savemat(mat_dir / "train_test_splits_ilidsvid.mat", {"ls_set": ls_set})
    return base


@pytest.fixture
def ilids_base(tmp_path: Path) -> Path:
    return write_ilidsvid(tmp_path / "ilids-vid")


def test_splits_json_is_built_from_ls_set(ilids_base: Path):
    splits = load_dataset("ilidsvid", ilids_base, split_id=1)
    saved = json.loads((ilids_base / "splits.json").read_text())
    assert len(saved) == 10
    # roll by 1: [6, 1, 2 | 3, 4, 5] -> test person008, person001, person002
    assert saved[1] == {"train": ["person004", "person005", "person007"],
                        "test": ["person001", "person002", "person008"]}
    assert [(t.pid, t.camid) for t in splits.query] == [(1, 1), (2, 1), (8, 1)]
    assert [(t.pid, t.camid) for t in splits.gallery] == [(1, 2), (2, 2), (8, 2)]
    assert [(t.pid, t.camid) for t in splits.train] == [(4, 1), (4, 2), (5, 1), (5, 2), (7, 1), (7, 2)]
    assert any("built splits.json" in note for note in splits.notes)
    assert not list(ilids_base.glob("*.tmp"))


def test_frames_sorted_by_frame_number_and_absolute(ilids_base: Path):
    query = read_ilidsvid(ilids_base).query[0]
    folder = (ilids_base / "i-LIDS-VID" / "sequences" / "cam1" / query.tid).resolve()
    assert query.frames == tuple(str(folder / f"cam1_{query.tid}_{f:05d}.png") for f in sorted(FRAMES))


def test_existing_splits_json_wins_and_accepts_person_numbers(tmp_path: Path, ilids_base: Path):
    splits_json = [{"train": [1, 2], "test": ["person004", 5]}] * 10
    (ilids_base / "splits.json").write_text(json.dumps(splits_json))
    splits = load_dataset("ilidsvid", tmp_path)  # the parent of ilids-vid/ works too
    assert splits.root == ilids_base.resolve()
    assert [q.tid for q in splits.query] == ["person004", "person005"]
    assert len(splits.train) == 4


def test_split_id_checks(ilids_base: Path):
    with pytest.raises(DatasetOptionError, match=r"expected split_id 0\.\.9"):
        load_dataset("ilidsvid", ilids_base, split_id=10)
    (ilids_base / "splits.json").write_text(json.dumps([{"train": [1], "test": [2]}] * 3))
    with pytest.raises(DatasetLayoutError, match=r"splits\.json: holds 3 splits, no split 5; expected 10 splits"):
        read_ilidsvid(ilids_base, split_id=5)


def test_missing_split_files(ilids_base: Path):
    (ilids_base / "train-test people splits" / "train_test_splits_ilidsvid.mat").unlink()
    with pytest.raises(DatasetLayoutError, match=r"splits\.json: missing, and so is .*train_test_splits_ilidsvid\.mat"):
        read_ilidsvid(ilids_base)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"train": []}', "top level is dict; expected a list"),
        ('[{"train": ["person001"]}]', "split 0 is not a dict with 'train' and 'test' lists"),
        ('[{"train": ["person001"], "test": ["person001"]}]', r"\['person001'\] in both train and test"),
        ('[{"train": [], "test": [1.5]}]', r"test entry 1\.5; expected a person folder name or number"),
        ('[{"train": [], "test": ["person003"]}]', r"cam1/person003: missing; expected the sequence of person003"),
    ],
)
def test_malformed_splits_json(ilids_base: Path, content: str, message: str):
    (ilids_base / "splits.json").write_text(content)
    with pytest.raises(DatasetLayoutError, match=message):
        read_ilidsvid(ilids_base)


def test_empty_sequence_and_missing_dataset(ilids_base: Path, tmp_path: Path):
    for frame in (ilids_base / "i-LIDS-VID" / "sequences" / "cam2" / "person005").iterdir():
        frame.unlink()
    (ilids_base / "splits.json").write_text(json.dumps([{"train": [], "test": [5]}]))
    with pytest.raises(DatasetLayoutError, match=r"cam2/person005: no \.png frames"):
        read_ilidsvid(ilids_base)
    with pytest.raises(DatasetLayoutError, match=r"no i-LIDS-VID/ folder"):
        read_ilidsvid(tmp_path / "elsewhere")


def test_read_only_dataset_folder_keeps_the_splits_in_memory(ilids_base: Path, monkeypatch: pytest.MonkeyPatch):
    def refuse(path, obj):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(ilidsvid, "write_json_atomic", refuse)
    splits = read_ilidsvid(ilids_base, split_id=2)
    assert len(splits.query) == 3 and not (ilids_base / "splits.json").exists()
    assert any("in memory; could not write" in note for note in splits.notes)

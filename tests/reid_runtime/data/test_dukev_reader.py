"""DukeMTMC-VideoReID reader on tiny folder trees in the release layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reid_runtime.data.attribute_schema import DUKE_ATTRIBUTES
from reid_runtime.data.dukev import read_dukev
from reid_runtime.data.registry import DatasetOptionError, load_dataset
from reid_runtime.errors import DatasetLayoutError


def add_tracklet(root: Path, split: str, pid: int, tid: str, cam: int, frames: list[int], old_names: bool = False):
    folder = root / split / f"{pid:04d}" / tid
    folder.mkdir(parents=True)
    for f in frames:
        name = f"{pid:04d}C{cam}F{f:04d}X{500 + f}.jpg" if old_names else f"{pid:04d}_C{cam}_F{f:04d}_X{500 + f}.jpg"
        (folder / name).touch()
    return folder


@pytest.fixture
def duke_root(tmp_path: Path) -> Path:
    root = tmp_path / "duke"
    add_tracklet(root, "train", 1, "0003", 6, [2, 3, 4, 10])  # starts at F0002, skips some indices
    add_tracklet(root, "train", 1, "0005-2", 2, [1, 2])
    add_tracklet(root, "train", 12, "0040", 1, [1, 2, 3], old_names=True)
    add_tracklet(root, "query", 30, "0100", 3, [1, 2, 3])
    add_tracklet(root, "gallery", 30, "0100", 3, [1, 2, 3])
    add_tracklet(root, "gallery", 30, "0101", 5, [1, 2])
    add_tracklet(root, "gallery", 31, "0102", 8, [1])
    return root


def test_reads_tracklets_in_pid_then_folder_order_with_frames_by_f_number(duke_root: Path):
    splits = read_dukev(duke_root)
    assert [(t.pid, t.camid, t.tid, len(t)) for t in splits.train] == [
        (1, 6, "0003", 4), (1, 2, "0005-2", 2), (12, 1, "0040", 3)
    ]
    folder = duke_root / "train" / "0001" / "0003"
    assert splits.train[0].frames == tuple(str(folder / f"0001_C6_F{f:04d}_X{500 + f}.jpg") for f in (2, 3, 4, 10))
    assert splits.root == duke_root.resolve()


def test_standard_gallery_keeps_the_query_copies(duke_root: Path):
    splits = load_dataset("dukev", duke_root)
    assert splits.protocol == "standard"
    assert [t.key for t in splits.query] == [(30, 3, "0100")]
    assert [t.key for t in splits.gallery] == [(30, 3, "0100"), (30, 5, "0101"), (31, 8, "0102")]
    assert any("1 of 1 queries are valid" in note for note in splits.notes)


def test_torchreid_root_with_release_subfolder(tmp_path: Path):
    root = tmp_path / "dukemtmc-vidreid"
    release = root / "DukeMTMC-VideoReID"
    for split in ("train", "query", "gallery"):
        add_tracklet(release, split, 7, "0001", 4, [1, 2])
    splits = read_dukev(root)
    assert splits.root == release.resolve() and len(splits.train) == 1


def test_attributes_match_integer_tracklet_folders_only(duke_root: Path):
    width = len(DUKE_ATTRIBUTES.columns)
    header = "person_id,camera_id,tracklets_id," + ",".join(DUKE_ATTRIBUTES.columns)
    rows = [header, "1,6,3," + ",".join(["1"] * width), "1,2,5," + ",".join(["1"] * width)]
    (duke_root / "duke_attributes.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    splits = load_dataset("dukev", duke_root)
    assert splits.attribute_schema is DUKE_ATTRIBUTES
    assert [t.attributes for t in splits.train] == [(1,) * width, None, None]


def test_only_the_standard_protocol(duke_root: Path):
    with pytest.raises(DatasetOptionError, match="no protocol 'official'; expected one of standard"):
        load_dataset("dukev", duke_root, protocol="official")


def test_missing_split_folder(duke_root: Path):
    shutil.rmtree(duke_root / "query")
    with pytest.raises(DatasetLayoutError, match=r"no query/ folder; expected train/, query/ and gallery/"):
        read_dukev(duke_root)


def test_empty_tracklet_folder_is_named(duke_root: Path):
    (duke_root / "gallery" / "0031" / "0200").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"gallery/0031/0200: empty tracklet folder"):
        read_dukev(duke_root)


def test_mixed_cameras_in_one_tracklet(duke_root: Path):
    (duke_root / "train" / "0012" / "0040" / "0012_C2_F0009_X1.jpg").touch()
    with pytest.raises(DatasetLayoutError, match=r"0012/0040: frames from cameras \[1, 2\]; expected one camera"):
        read_dukev(duke_root)


def test_bad_frame_name_and_foreign_pid(duke_root: Path):
    bad = duke_root / "train" / "0012" / "0040" / "frame1.jpg"
    bad.touch()
    with pytest.raises(DatasetLayoutError, match=r"frame1\.jpg: not a DukeMTMC-VideoReID frame name"):
        read_dukev(duke_root)
    bad.rename(bad.with_name("0013_C1_F0005_X9.jpg"))
    with pytest.raises(DatasetLayoutError, match=r"0013_C1_F0005_X9\.jpg: pid 0013 in the name; expected 0012"):
        read_dukev(duke_root)


def test_non_numeric_identity_folder(duke_root: Path):
    (duke_root / "train" / "misc").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"train/misc: folder name is not a pid"):
        read_dukev(duke_root)

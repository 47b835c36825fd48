"""PRID2011 reader (torchreid layout): ``prid2011/prid_2011/multi_shot/cam_{a,b}/person_NNNN/NNNN.png``.

The splits come from ``prid2011/splits_prid2011.json`` (distributed by torchreid; 10 splits of the 178
persons seen long enough by both cameras), in the iLIDS-VID split format: a list of dicts
``{"train": [...], "test": [...]}`` of person folder names such as ``person_0001``; person numbers are
accepted too. Query = test persons' cam_a sequences (camid 1), gallery = their cam_b ones (camid 2).
"""

from __future__ import annotations

from pathlib import Path

from reid_runtime.data.ilidsvid import person_tracklets, read_json_splits, select_split
from reid_runtime.data.tracklet import DatasetSplits
from reid_runtime.errors import DatasetLayoutError

ROOT_DIR = "prid2011"
SPLITS_JSON = "splits_prid2011.json"
MULTI_SHOT = Path("prid_2011") / "multi_shot"


def find_prid_dir(root: str | Path) -> Path:
    """The folder holding ``prid_2011/multi_shot``: ``root`` itself (``prid2011/``) or ``root/prid2011``."""
    root = Path(root).expanduser().resolve()
    for candidate in (root, root / ROOT_DIR):
        if (candidate / MULTI_SHOT).is_dir():
            return candidate
    raise DatasetLayoutError(
        f"{root}: no {MULTI_SHOT}/ folder; expected {ROOT_DIR}/{MULTI_SHOT}/cam_a|cam_b/person_NNNN/*.png and "
        f"{ROOT_DIR}/{SPLITS_JSON}, with root being {ROOT_DIR}/ or its parent"
    )


def read_prid(root: str | Path, *, split_id: int = 0) -> DatasetSplits:
    """Read split ``split_id`` of PRID2011; ``root`` is ``prid2011/`` or the folder containing it."""
    base = find_prid_dir(root)
    camera_dirs = (base / MULTI_SHOT / "cam_a", base / MULTI_SHOT / "cam_b")
    for camera_dir in camera_dirs:
        if not camera_dir.is_dir():
            raise DatasetLayoutError(f"{camera_dir}: missing; expected one person_NNNN/ folder per person")
    splits_path = base / SPLITS_JSON
    train_names, test_names = select_split(
        read_json_splits(splits_path), splits_path, split_id, lambda n: f"person_{n:04d}"
    )
    train, query, gallery = person_tracklets(camera_dirs, train_names, test_names)
    notes = [f"split {split_id}: {len(train_names)} train / {len(test_names)} test persons; query cam_a, gallery cam_b"]
    return DatasetSplits(name="prid", root=base, train=train, query=query, gallery=gallery, notes=notes)

"""The supported datasets and :func:`load_dataset`, the one entry point to read any of them."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reid_runtime.data import mars
from reid_runtime.data.attribute_schema import CSV_FILENAMES, SCHEMAS
from reid_runtime.data.attributes import attach_attributes
from reid_runtime.data.dukev import read_dukev
from reid_runtime.data.ilidsvid import read_ilidsvid
from reid_runtime.data.prid import read_prid
from reid_runtime.data.summary import valid_query_mask
from reid_runtime.data.tracklet import DatasetSplits
from reid_runtime.errors import DatasetLayoutError, ReidError


class DatasetOptionError(ReidError, ValueError):
    """A dataset name, protocol, split id or option value that the dataset does not offer."""


@dataclass(frozen=True)
class DatasetInfo:
    """A supported dataset: display title, gallery protocols, number of train/test splits and its reader."""

    title: str
    protocols: tuple[str, ...]
    num_splits: int
    read: Callable[[Path, str, int], DatasetSplits]  # (root, protocol, split_id)


DATASETS: dict[str, DatasetInfo] = {
    "mars": DatasetInfo("MARS", mars.PROTOCOLS, 1, lambda root, protocol, _: mars.read_mars(root, protocol=protocol)),
    "dukev": DatasetInfo("DukeMTMC-VideoReID", ("standard",), 1, lambda root, _, __: read_dukev(root)),
    "ilidsvid": DatasetInfo("iLIDS-VID", ("standard",), 10, lambda root, _, split: read_ilidsvid(root, split_id=split)),
    "prid": DatasetInfo("PRID2011", ("standard",), 10, lambda root, _, split: read_prid(root, split_id=split)),
}


def get_dataset_info(name: str) -> DatasetInfo:
    """The table entry of ``name``; an unknown name raises with the closest known one."""
    if name in DATASETS:
        return DATASETS[name]
    close = difflib.get_close_matches(name.lower(), DATASETS, n=1, cutoff=0.4)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise DatasetOptionError(f"unknown dataset {name!r}{hint} (known: {', '.join(DATASETS)})")


def _attribute_csv(name: str, splits: DatasetSplits, root: Path, attributes: bool | str | Path) -> Path | None:
    """The attribute CSV to load, or None; ``True`` looks in the dataset folder, then in ``root``."""
    if attributes is False:
        return None
    if attributes is True:
        if name not in CSV_FILENAMES:
            return None
        for folder in (splits.root, root):
            if (folder / CSV_FILENAMES[name]).is_file():
                return folder / CSV_FILENAMES[name]
        return None
    path = Path(attributes).expanduser()
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: missing; expected the {CSV_FILENAMES[name]} attribute CSV")
    return path


def load_dataset(
    name: str,
    root: str | Path,
    *,
    protocol: str = "standard",
    split_id: int = 0,
    attributes: bool | str | Path = True,
    min_seq_len: int = 0,
) -> DatasetSplits:
    """Read dataset ``name`` ("mars", "dukev", "ilidsvid", "prid") from ``root``.

    ``protocol`` picks the gallery construction (MARS: standard, with-query, official; others:
    standard). ``split_id`` picks one of the 10 train/test splits of iLIDS-VID and PRID2011 (0 for the
    others). ``attributes``: True loads the dataset's attribute CSV when present, a path loads that CSV,
    False skips. ``min_seq_len`` drops train tracklets shorter than it; query and gallery are never
    filtered, so evaluation stays comparable. ``splits.root`` is the folder that holds the data.
    """
    info = get_dataset_info(name)
    if protocol not in info.protocols:
        raise DatasetOptionError(
            f"{info.title} has no protocol {protocol!r}; expected one of {', '.join(info.protocols)}"
        )
    if not 0 <= split_id < info.num_splits:
        allowed = "0" if info.num_splits == 1 else f"0..{info.num_splits - 1}"
        raise DatasetOptionError(f"{info.title} has no split {split_id}; expected split_id {allowed}")
    if min_seq_len < 0:
        raise DatasetOptionError(f"min_seq_len={min_seq_len}; expected 0 or more frames")
    if not isinstance(attributes, bool) and name not in SCHEMAS:
        raise DatasetOptionError(f"{info.title} has no attribute annotations; they exist for {', '.join(SCHEMAS)}")
    root = Path(root).expanduser().resolve()
    splits = info.read(root, protocol, split_id)

    if min_seq_len:
        kept = [t for t in splits.train if len(t) >= min_seq_len]
        splits.notes.append(
            f"min_seq_len {min_seq_len}: dropped {len(splits.train) - len(kept)} of {len(splits.train)} "
            "train tracklets (query and gallery unfiltered)"
        )
        splits = dataclasses.replace(splits, train=kept)

    csv_path = _attribute_csv(name, splits, root, attributes)
    if csv_path is not None:
        splits = attach_attributes(splits, csv_path, SCHEMAS[name])
    elif attributes is True and name in CSV_FILENAMES:
        splits.notes.append(f"no {CSV_FILENAMES[name]} in {splits.root}: attributes not loaded")

    valid = sum(valid_query_mask(splits.query, splits.gallery))
    skipped = len(splits.query) - valid
    splits.notes.append(
        f"{valid} of {len(splits.query)} queries are valid (a same-identity gallery tracklet from another camera)"
        + (f"; evaluation skips the other {skipped}" if skipped else "")
    )
    return splits

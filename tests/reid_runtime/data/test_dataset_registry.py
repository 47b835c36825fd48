"""The dataset table and load_dataset's option checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid_runtime.data.registry import DATASETS, DatasetOptionError, get_dataset_info, load_dataset
from reid_runtime.errors import DatasetLayoutError, ReidError


def test_table_lists_the_four_datasets_and_their_options():
    assert list(DATASETS) == ["mars", "dukev", "ilidsvid", "prid"]
    assert DATASETS["mars"].protocols == ("standard", "with-query", "official")
    assert [DATASETS[n].num_splits for n in ("dukev", "ilidsvid", "prid")] == [1, 10, 10]


@pytest.mark.parametrize(("name", "suggestion"), [("duke", "dukev"), ("MARS", "mars"), ("ilids", "ilidsvid"),
                                                  ("prid2011", "prid")])
def test_unknown_name_suggests_the_closest(name: str, suggestion: str):
    with pytest.raises(DatasetOptionError, match=f"unknown dataset '{name}'; did you mean '{suggestion}'"):
        get_dataset_info(name)


def test_unrelated_name_lists_known_ones_and_errors_are_user_facing():
    with pytest.raises(DatasetOptionError, match=r"unknown dataset 'cuhk03' \(known: mars, dukev, ilidsvid, prid\)"):
        load_dataset("cuhk03", "/nowhere")
    assert issubclass(DatasetOptionError, ValueError) and issubclass(DatasetOptionError, ReidError)


def test_attribute_path_for_a_dataset_without_annotations(tmp_path: Path):
    with pytest.raises(DatasetOptionError, match="iLIDS-VID has no attribute annotations"):
        load_dataset("ilidsvid", tmp_path, attributes=tmp_path / "a.csv")


def test_missing_root_is_a_layout_error(tmp_path: Path):
    for name in DATASETS:
        with pytest.raises(DatasetLayoutError, match=str(tmp_path / "missing")):
            load_dataset(name, tmp_path / "missing")

"""synthesize(): reproducible bytes, the summary file, and safe handling of the output folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reid_runtime.data.synth import SynthConfig, generate, synthesize
from reid_runtime.errors import ReidError

SMALL = {"ids": 3, "size": (32, 16), "min_len": 2, "max_len": 4}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "synth_summary.json"}


@pytest.mark.parametrize("layout", ["mars", "dukev"])
def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path, layout: str) -> None:
    synthesize(SynthConfig(layout, **SMALL), tmp_path / "a")
    synthesize(SynthConfig(layout, **SMALL), tmp_path / "b")
    synthesize(SynthConfig(layout, seed=1, **SMALL), tmp_path / "c")
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    assert a.keys() != c.keys() or any(a[k] != c[k] for k in a)
    jpegs = [k for k in a if k.endswith(".jpg")]
    assert jpegs and all(a[k][:2] == b"\xff\xd8" for k in jpegs)


def test_summary_is_returned_and_written(tmp_path: Path) -> None:
    summary = synthesize(SynthConfig("mars", **SMALL), tmp_path / "m")
    assert json.loads((tmp_path / "m" / "synth_summary.json").read_text()) == summary
    counts = summary["counts"]
    assert counts["train_ids"] == counts["test_ids"] == 3
    assert summary["config"]["cameras"] == 6 and summary["seconds"] >= 0
    frames = sum(1 for _ in (tmp_path / "m").rglob("*.jpg"))
    assert frames == counts["train_frames"] + counts["test_frames"]


def test_refuses_a_foreign_folder_and_a_file(tmp_path: Path) -> None:
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"keep me")
    with pytest.raises(ReidError, match="not empty"):
        synthesize(SynthConfig("mars", **SMALL), foreign)
    assert [p.name for p in foreign.iterdir()] == ["holiday.jpg"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReidError, match="not a folder"):
        synthesize(SynthConfig("dukev", **SMALL), tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "photos"]  # no staging folder left behind


def test_replaces_an_empty_folder_or_a_previous_synthetic_dataset(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    synthesize(SynthConfig("mars", **SMALL), out)
    assert (out / "bbox_train").is_dir()
    synthesize(SynthConfig("dukev", **SMALL), out)
    assert (out / "gallery").is_dir() and not (out / "bbox_train").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_failed_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_then_fail(config: SynthConfig, root: Path, cameras: dict) -> dict:
        (root / "bbox_train").mkdir()
        raise RuntimeError("killed")

    monkeypatch.setitem(generate._WRITERS, "mars", half_then_fail)
    with pytest.raises(RuntimeError, match="killed"):
        synthesize(SynthConfig("mars", **SMALL), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs", [
    {"layout": "market"}, {"layout": "mars", "ids": 1}, {"layout": "mars", "cameras": 1},
    {"layout": "mars", "min_len": 5, "max_len": 4}, {"layout": "dukev", "size": (8, 4)},
    {"layout": "mars", "max_len": 1000}, {"layout": "mars", "seed": -1},
])
def test_bad_config_is_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SynthConfig(**kwargs)

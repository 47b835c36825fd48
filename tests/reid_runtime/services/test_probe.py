"""attention_probe: exact figures on a hand-built case, the refusals, and a real run on synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid_runtime.backends.base import Backend
from reid_runtime.data.frame_events import EVENTS_FILE, EventBox, write_frame_events
from reid_runtime.errors import ReidError
from reid_runtime.model import ReidModel
from reid_runtime.model_format import ModelInfo
from reid_runtime.services.probe import attention_probe, frame_cells

# raw STA scores (region 0 = top half, region 1 = bottom half) of each frame, keyed by the frame's red value
SCORES = {
    11: (1, 1), 12: (1, 3), 13: (2, 1), 14: (4, 2),   # person 1, cam_a
    21: (1, 2), 22: (2, 1), 23: (1, 1), 24: (3, 1),   # person 1, cam_b: no events
    31: (1, 1), 32: (2, 2), 33: (1, 3), 34: (1, 1),   # person 2, cam_a: occluded below in every frame
    41: (6, 1), 42: (1, 1), 43: (1, 1), 44: (2, 1),   # person 2, cam_b: a second person in the first frame
}


class CodeBackend(Backend):
    """A split STA model whose scores are looked up by the frame's red value."""

    name = "code"
    mode = "split"
    has_frame_terms = True

    def __init__(self, aggregation: str = "sta") -> None:
        self.path = Path("code.backbone.onnx")
        self.info = ModelInfo(role="backbone", architecture="sta_code", input_size=(16, 8), embedding_dim=2,
                              metric="euclidean", aggregation=aggregation, num_regions=2)

    def run_backbone(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes = np.rint(frames[:, 0, 0, 0]).astype(int)
        scores = np.asarray([SCORES[int(c)] for c in codes], dtype=np.float32)
        return scores, np.zeros((len(frames), 2, 1), dtype=np.float32)

    def describe(self) -> dict:
        return {}


@pytest.fixture
def prid(tmp_path: Path) -> Path:
    """PRID2011 layout: persons 1 and 2 in test, 4 frames per camera, each frame a flat colour coding its scores."""
    root = tmp_path / "prid2011"
    for person in (1, 2):
        for c, camera in enumerate(("cam_a", "cam_b")):
            folder = root / "prid_2011" / "multi_shot" / camera / f"person_{person:04d}"
            folder.mkdir(parents=True)
            for frame in range(1, 5):
                code = 10 * (2 * (person - 1) + c + 1) + frame
                Image.new("RGB", (8, 16), (code, 0, 0)).save(folder / f"{frame:04d}.png")
    (root / "splits_prid2011.json").write_text(json.dumps([{"train": [], "test": ["person_0001", "person_0002"]}]))
    frame = "prid_2011/multi_shot/{}/person_{:04d}/{:04d}.png".format
    rows = [
        (frame("cam_a", 1, 2), EventBox("occlusion", (0.0, 0.5, 1.0, 1.0), "car")),  # region 1 of frame 2
        (frame("cam_a", 1, 3), EventBox("cut", (0.0, 0.0, 1.0, 0.2))),  # 40% of region 0 of frame 3
        (frame("cam_a", 1, 4), EventBox("occlusion", (0.0, 0.9, 1.0, 1.0), "bag")),  # 20% of region 1: clean
        *((frame("cam_a", 2, f), EventBox("occlusion", (0.0, 0.5, 1.0, 1.0), "car")) for f in range(1, 5)),
        (frame("cam_b", 2, 1), EventBox("second_person", (0.5, 0.0, 1.0, 1.0))),  # half of both regions
    ]
    write_frame_events(root / EVENTS_FILE, rows)
    return root


def test_figures_of_a_hand_built_case(prid: Path, tmp_path: Path) -> None:
    report = attention_probe(ReidModel(CodeBackend()), prid, "prid", seq_len=4, sampling="dense",
                             out=tmp_path / "probe")
    # person 1 cam_a, region 0: S = [1, 1, 2, 4] / 8, frame 3 (cut) labelled, frame 4 selected (clean)
    # person 1 cam_a, region 1: S = [1, 3, 1, 2] / 7, frame 2 (occlusion) labelled and selected
    # person 2 cam_b, region 0: S = [6, 1, 1, 2] / 10, frame 1 (second person) labelled and selected
    # person 2 cam_b, region 1: S = [1, 1, 1, 1] / 4, frame 1 labelled, selected as the first of equal scores
    # person 2 cam_a: region 1 occluded in every frame, region 0 in none: no column holds both
    labelled = [2 / 8, 3 / 7, 6 / 10, 1 / 4]
    assert report.row("all") == {
        "event": "all", "columns": 4, "tracklets": 2, "labelled_cells": 4, "clean_cells": 12,
        "labelled_mean": pytest.approx(sum(labelled) / 4), "clean_mean": pytest.approx((4 - sum(labelled)) / 12),
        "uniform": pytest.approx(0.25), "selected_pct": pytest.approx(75.0), "chance_pct": pytest.approx(25.0),
    }
    assert report.row("occlusion") == {
        "event": "occlusion", "columns": 1, "tracklets": 1, "labelled_cells": 1, "clean_cells": 3,
        "labelled_mean": pytest.approx(3 / 7), "clean_mean": pytest.approx(4 / 21), "uniform": pytest.approx(0.25),
        "selected_pct": pytest.approx(100.0), "chance_pct": pytest.approx(25.0),
    }
    assert report.row("cut") == {
        "event": "cut", "columns": 1, "tracklets": 1, "labelled_cells": 1, "clean_cells": 3,
        "labelled_mean": pytest.approx(0.25), "clean_mean": pytest.approx(0.25), "uniform": pytest.approx(0.25),
        "selected_pct": pytest.approx(0.0), "chance_pct": pytest.approx(25.0),
    }
    assert report.row("second_person") == {
        "event": "second_person", "columns": 2, "tracklets": 1, "labelled_cells": 2, "clean_cells": 6,
        "labelled_mean": pytest.approx((0.6 + 0.25) / 2), "clean_mean": pytest.approx((0.4 + 0.75) / 6),
        "uniform": pytest.approx(0.25), "selected_pct": pytest.approx(100.0), "chance_pct": pytest.approx(25.0),
    }
    assert [row["event"] for row in report.rows] == ["all", "occlusion", "cut", "second_person"]
    assert (report.tracklets, report.clips, report.frames, report.labelled_frames, report.num_regions) == (
        4, 4, 16, 8, 2)
    saved = json.loads((tmp_path / "probe" / "probe.json").read_text())
    assert saved["rows"][0]["selected_pct"] == pytest.approx(75.0) and saved["split"] == "test"
    assert "| all | 4 | 2 | 4 | 12 |" in (tmp_path / "probe" / "probe.md").read_text()
    assert "selected labelled %" in report.table()


def test_a_higher_min_cover_drops_the_partial_boxes(prid: Path) -> None:
    report = attention_probe(ReidModel(CodeBackend()), prid, "prid", min_cover=0.45)
    assert [row["event"] for row in report.rows] == ["all", "occlusion", "cut", "second_person"]
    assert report.row("cut")["columns"] == 0 and report.row("cut")["selected_pct"] is None  # 40% < 45%
    assert report.row("all")["columns"] == 3


def test_frame_cells_per_kind() -> None:
    boxes = [EventBox("occlusion", (0.0, 0.6, 1.0, 1.0)), EventBox("occlusion", (0.0, 0.0, 0.2, 1.0)),
             EventBox("cut", (0.0, 0.0, 1.0, 0.1))]
    cells = frame_cells(boxes, 4, 0.3)
    assert cells["occlusion"].tolist() == [False, False, True, True]  # band 2: 0.15 / 0.25 = 60%
    assert cells["cut"].tolist() == [True, False, False, False]  # 0.1 / 0.25 = 40%


def test_refusals(prid: Path, tmp_path: Path) -> None:
    model = ReidModel(CodeBackend())
    with pytest.raises(ReidError, match="per-frame STA scores.*split export"):
        attention_probe(ReidModel(CodeBackend(aggregation="mean")), prid, "prid")
    with pytest.raises(ReidError, match="min_cover"):
        attention_probe(model, prid, "prid", min_cover=0)
    with pytest.raises(ReidError, match="unknown split"):
        attention_probe(model, prid, "prid", split="val")
    elsewhere = tmp_path / "elsewhere.csv"
    write_frame_events(elsewhere, [("cam_a/person_0001/0001.png", EventBox("cut", (0.0, 0.0, 1.0, 1.0)))])
    with pytest.raises(ReidError, match="relative to the dataset root"):
        attention_probe(model, prid, "prid", events=elsewhere)
    with pytest.raises(ReidError, match="missing"):
        attention_probe(model, prid, "prid", events=tmp_path / "none.csv")


def test_a_full_graph_is_refused(sta_onnx: Path, tiny_mars: Path) -> None:
    with pytest.raises(ReidError, match=r"sta\.onnx: the attention probe needs per-frame STA scores") as info:
        attention_probe(sta_onnx, tiny_mars, "mars")
    assert "\n" not in str(info.value)


def test_a_real_run_on_synthetic_data_agrees_across_backends(sta_checkpoint: Path, sta_split: Path,
                                                             tiny_mars: Path) -> None:
    report = attention_probe(sta_checkpoint, tiny_mars, "mars", seq_len=4, max_clips=2)
    overall = report.row("all")
    assert report.num_regions == 4 and report.labelled_frames > 0 and overall["columns"] > 0
    # every cell of the overall row is labelled or clean, and each column's scores sum to 1
    assert overall["labelled_cells"] + overall["clean_cells"] == 4 * overall["columns"]
    total = overall["labelled_mean"] * overall["labelled_cells"] + overall["clean_mean"] * overall["clean_cells"]
    assert total == pytest.approx(overall["columns"], rel=1e-5)
    assert overall["uniform"] == pytest.approx(0.25) and 0 <= overall["selected_pct"] <= 100
    assert "occlusion" in [row["event"] for row in report.rows]
    split = attention_probe(sta_split, tiny_mars, "mars", seq_len=4, max_clips=2)
    for ours, theirs in zip(report.rows, split.rows):
        assert ours["event"] == theirs["event"] and ours["columns"] == theirs["columns"]
        for key in ("labelled_mean", "clean_mean"):
            assert ours[key] == pytest.approx(theirs[key], abs=1e-4) if ours[key] is not None else theirs[key] is None

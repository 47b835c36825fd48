"""`reid eval` end to end on synthetic MARS data: sweep table, JSON, pictures, checkpoint == ONNX."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reid_runtime.cli.main import cli
from reid_runtime.data.synth import SynthConfig, synthesize


@pytest.fixture(scope="module")
def synth_mars(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval_data") / "mars"
    synthesize(SynthConfig(layout="mars", ids=6, size=(64, 32), min_len=4, max_len=10, seed=2), root)
    return root


def _eval(model: Path, root: Path, out: Path, *extra: str):
    args = ["eval", "--model", str(model), "--data-root", str(root), "--dataset", "mars", "--out", str(out), "--max-clips", "2", *extra]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output, json.loads((out / "eval.json").read_text())


def test_sequence_length_sweep_with_pictures(sta_checkpoint, synth_mars, tmp_path):
    output, report = _eval(sta_checkpoint, synth_mars, tmp_path, "--seq-lens", "2,4", "--visualize",
                           "--num-visualize", "3")
    assert [r["seq_len"] for r in report["results"]] == [2, 4]
    assert report["protocol"] == "standard" and "torch" in output
    for row in report["results"]:
        assert 0 <= row["mAP"] <= 100 and row["num_valid_queries"] <= row["num_queries"]
        assert row["R1"] <= row["R5"] <= row["R10"] <= row["R20"]
    assert "seq_len" in output and "mAP" in output and "valid queries" in output
    assert len(list((tmp_path / "ranked_lists").glob("*.png"))) == 3
    assert len(list((tmp_path / "attention").glob("*.png"))) == 3
    assert (tmp_path / "eval.md").read_text().count("|") > 10


def test_onnx_split_export_scores_like_the_checkpoint(sta_checkpoint, sta_split, synth_mars, tmp_path):
    _, torch_report = _eval(sta_checkpoint, synth_mars, tmp_path / "torch")
    output, onnx_report = _eval(sta_split, synth_mars, tmp_path / "onnx")
    assert "onnxruntime" in output
    for key in ("R1", "R5", "mAP", "mINP", "num_valid_queries"):
        assert onnx_report["results"][0][key] == pytest.approx(torch_report["results"][0][key], abs=1e-6), key


def test_with_query_protocol_validates_every_query(sta_checkpoint, synth_mars, tmp_path):
    _, standard = _eval(sta_checkpoint, synth_mars, tmp_path / "s")
    _, with_query = _eval(sta_checkpoint, synth_mars, tmp_path / "w", "--protocol", "with-query")
    assert with_query["results"][0]["num_valid_queries"] == with_query["results"][0]["num_queries"]
    assert standard["results"][0]["num_valid_queries"] < with_query["results"][0]["num_valid_queries"]


def test_visualize_needs_an_output_folder(sta_checkpoint, synth_mars):
    result = CliRunner().invoke(cli, ["eval", "--model", str(sta_checkpoint), "--data-root", str(synth_mars),
                                      "--dataset", "mars", "--visualize"])
    assert result.exit_code != 0 and "--out" in result.output

"""`reid eval` end to end on synthetic MARS data: sweep table, JSON, pictures, checkpoint == ONNX, registry names."""

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


def _run(*args: str):
    result = CliRunner().invoke(cli, ["eval", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _eval(model: Path, root: Path, out: Path, *extra: str):
    result = _run("--model", model, "--data-root", root, "--dataset", "mars", "--out", out, "--max-clips", "2", *extra)
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
    assert len(report["files"]) == 3 + 3 + 2 and all(Path(f).is_file() for f in report["files"])


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


def test_json_is_the_only_stdout_and_carries_percent_scores(sta_onnx, synth_mars, tmp_path):
    result = _run("--model", sta_onnx, "--data-root", synth_mars, "--dataset", "mars", "--seq-lens", "2,4",
                  "--batch-sizes", "3", "--max-clips", "2", "--rerank", "--json", "--out", tmp_path)
    report = json.loads(result.stdout)
    assert [(r["seq_len"], r["reranked"]) for r in report["results"]] == [(2, False), (2, True), (4, False),
                                                                          (4, True)]
    assert report["backend"] == "onnxruntime" and report["model"] == str(sta_onnx)
    assert report == json.loads((tmp_path / "eval.json").read_text())
    # percent: the first ranked item is right for some query, so R1 is at least 100 / valid queries
    row = report["results"][0]
    assert 100 / row["num_valid_queries"] <= row["R20"] <= 100 and len(row["cmc"]) == 50
    assert row["cmc"][0] == pytest.approx(row["R1"])
    assert "valid queries" in result.stderr  # the table goes to stderr; stdout parsed as one JSON document above


def test_registry_name_as_model(synth_mars):
    result = _run("--model", "sta_tiny", "--data-root", synth_mars, "--dataset", "mars", "--sampling", "evenly",
                  "--json")
    report = json.loads(result.stdout)
    assert report["model"] == "sta_tiny" and report["backend"] == "torch"
    assert report["model_info"]["input_size"] == [256, 128] and 0 <= report["results"][0]["mAP"] <= 100


def test_progress_bars_only_when_asked(sta_onnx, synth_mars):
    args = ("--model", sta_onnx, "--data-root", synth_mars, "--dataset", "mars", "--sampling", "evenly")
    assert "tracklet/s" in _run(*args, "--progress").stderr
    assert "tracklet/s" not in _run(*args, "--no-progress").stderr
    assert "tracklet/s" not in _run(*args).stderr  # stderr is not a terminal here


def test_visualize_needs_an_output_folder(sta_onnx, synth_mars):
    result = CliRunner().invoke(cli, ["eval", "--model", str(sta_onnx), "--data-root", str(synth_mars),
                                      "--dataset", "mars", "--visualize"])
    assert result.exit_code == 2 and "--out" in result.output


def test_old_option_names_are_gone(sta_onnx, synth_mars):
    for old in (["--seq-len", "4"], ["--batch-size", "4"]):
        result = CliRunner().invoke(cli, ["eval", "--model", str(sta_onnx), "--data-root", str(synth_mars),
                                          "--dataset", "mars", *old])
        assert result.exit_code == 2 and "No such option" in result.output


def test_unreadable_frames_are_skipped_and_reported_unless_strict(sta_onnx, synth_mars, tmp_path):
    import shutil

    from reid_runtime.data.frames import FrameReadError
    from reid_runtime.data.registry import load_dataset

    root = tmp_path / "mars"
    shutil.copytree(synth_mars, root)
    frame = load_dataset("mars", root, attributes=False).gallery[0].frames[1]
    Path(frame).write_bytes(b"")
    result = _run("--model", sta_onnx, "--data-root", root, "--dataset", "mars", "--max-clips", "2")
    assert "skipped gallery tracklet" in result.output and f"{frame}: empty file" in result.output
    assert "Skipped 1 tracklets with unreadable frames (0 left the query set, 1 the gallery)" in result.output
    with pytest.raises(FrameReadError, match="empty file"):
        CliRunner().invoke(cli, ["eval", "--model", str(sta_onnx), "--data-root", str(root), "--dataset", "mars",
                                 "--strict"], catch_exceptions=False)

"""`reid search` on embeddings files: top-k JSON, percent scores, --json, skipped rows left out, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from reid_runtime.cli.main import cli
from reid_runtime.embeddings_file import load_embeddings, save_embeddings


@pytest.fixture(scope="module")
def files(sta_onnx, tmp_path_factory) -> dict[str, Path]:
    from reid_runtime.data.synth import SynthConfig, synthesize
    from reid_runtime.services.embed import embed

    folder = tmp_path_factory.mktemp("cli_search")
    synthesize(SynthConfig("mars", ids=4, size=(64, 32), min_len=2, max_len=7), folder / "mars")
    return {split: embed(sta_onnx, folder / f"{split}.npz", data_root=folder / "mars", split=split).path
            for split in ("query", "gallery")}


def _search(*args):
    result = CliRunner().invoke(cli, ["search", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_top_k_file_and_percent_scores(files, tmp_path):
    result = _search("--query", files["query"], "--gallery", files["gallery"], "--topk", 3, "--exclude-same-camera",
                     "--out", tmp_path / "results.json")
    assert "mAP" in result.output and "scores in %" in result.output
    report = json.loads((tmp_path / "results.json").read_text())
    query = load_embeddings(files["query"])
    assert report["metric"] == "euclidean" and report["num_queries"] == len(query)
    scores = report["metrics"]
    assert scores["R1"] <= scores["R5"] <= scores["R10"] <= 100 and scores["R10"] > 1  # percent, not a fraction
    first = report["results"][0]
    assert first["tid"] == query.tids[0] and len(first["matches"]) == 3
    assert [m["distance"] for m in first["matches"]] == sorted(m["distance"] for m in first["matches"])
    assert not any(m["pid"] == first["pid"] and m["camid"] == first["camid"] for m in first["matches"])


def test_json_summary_on_stdout(files, tmp_path):
    result = _search("--query", files["query"], "--gallery", files["gallery"], "--out", tmp_path / "r.json",
                     "--metric", "cosine", "--json")
    summary = json.loads(result.stdout)
    assert summary["metric"] == "cosine" and "results" not in summary
    written = json.loads((tmp_path / "r.json").read_text())
    assert summary["metrics"] == written["metrics"] and 0 <= summary["metrics"]["mAP"] <= 100
    assert "ranked" in result.stderr


def test_nan_rows_are_left_out_and_reported(files, tmp_path):
    gallery = load_embeddings(files["gallery"])
    gallery.embeddings[1] = np.nan
    save_embeddings(tmp_path / "g.npz", gallery)
    result = _search("--query", files["query"], "--gallery", tmp_path / "g.npz", "--out", tmp_path / "r.json",
                     "--json")
    summary = json.loads(result.stdout)
    assert summary["left_out"] == {"gallery": [str(gallery.tids[1])]}
    assert summary["num_gallery"] == len(gallery) - 1 and "leaving out 1" in result.stderr


def test_bad_files_are_one_line_exit_2(files, tmp_path, capsys):
    from reid_runtime.cli.main import main

    (tmp_path / "x.npz").write_text("not an archive")
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--query", str(tmp_path / "x.npz"), "--gallery", str(files["gallery"]), "--out",
              str(tmp_path / "r.json")])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "x.npz" in lines[0] and "not a readable .npz" in lines[0]
    assert not (tmp_path / "r.json").exists()

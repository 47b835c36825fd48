"""`reid probe` on synthetic MARS data: the JSON document, the files, and one-line refusals (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reid_runtime.cli.main import cli, main


def _refused(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, list[str]]:
    """Exit code and stderr lines of ``reid probe ARGS`` that ends in an error, as the installed command runs."""
    with pytest.raises(SystemExit) as info:
        main(["probe", *args])
    return info.value.code, capsys.readouterr().err.strip().splitlines()


def test_json_and_files(sta_checkpoint: Path, tiny_mars: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["probe", "--model", str(sta_checkpoint), "--data-root", str(tiny_mars),
                                      "--dataset", "mars", "--max-clips", "1", "--min-cover", "0.5", "--out",
                                      str(tmp_path / "probe"), "--no-progress", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["split"] == "test" and report["seq_len"] == 4 and report["min_cover"] == 0.5
    assert report["rows"][0]["event"] == "all" and report["rows"][0]["columns"] > 0
    assert report["events"] == str(tiny_mars / "frame_events.csv")
    assert json.loads((tmp_path / "probe" / "probe.json").read_text())["rows"] == report["rows"]
    assert "selected labelled %" in (tmp_path / "probe" / "probe.md").read_text()


def test_a_model_without_sta_scores_exits_2_in_one_line(tp_checkpoint: Path, tiny_mars: Path, capsys) -> None:
    code, lines = _refused(capsys, "--model", str(tp_checkpoint), "--data-root", str(tiny_mars), "--dataset", "mars")
    assert code == 2 and len(lines) == 1
    assert "per-frame STA scores" in lines[0] and "split export" in lines[0]


def test_a_broken_labels_file_exits_2_naming_the_line(sta_checkpoint: Path, tiny_mars: Path, tmp_path: Path,
                                                      capsys) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("image,event,detail,x0,y0,x1,y1\nbbox_test/a.jpg,occlusion,,0,0,1\n")
    code, lines = _refused(capsys, "--model", str(sta_checkpoint), "--data-root", str(tiny_mars), "--dataset", "mars",
                           "--events", str(labels))
    assert code == 2
    assert lines == [f"Error: {labels}:2: expected 7 fields (image,event,detail,x0,y0,x1,y1), got 6"]

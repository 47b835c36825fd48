"""The demo's stage runner on a cheap pair of real stages (synthesize, then summarize): the commands each stage ran
are recorded with paths inside the demo folder, --force redoes everything, and a failing command stops the demo with
one line naming it, its output kept in the stage's commands.log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reid_demo.commands import CommandFailed
from reid_demo.plan import PLANS
from reid_demo.runner import Stage, StageOutput, run_demo
from reid_demo.stages import data


def _summary(stage: Stage, done: dict[str, dict]) -> StageOutput:
    root = stage.demo.at(done["data"]["results"]["root"])
    report = stage.reid("data", "summary", "--dataset", "mars", "--data-root", root, "--protocol", "with-query",
                        "--json").json()
    return StageOutput(summary=f"{len(report['splits'])} splits", results=report, outputs=[])


def _broken(stage: Stage, done: dict[str, dict]) -> StageOutput:
    stage.reid("data", "summary", "--dataset", "mars", "--data-root", stage.demo.out, "--json")
    raise AssertionError("unreachable: the command fails")


STAGES = (("data", data.run), ("summary", _summary))


def test_stages_record_their_commands_relative_to_the_demo_folder(tmp_path):
    lines: list[str] = []
    done = run_demo(tmp_path / "demo", PLANS["tiny"], STAGES, echo=lines.append)
    assert done["summary"]["commands"] == [["data", "summary", "--dataset", "mars", "--data-root",
                                            {"out": "data/mars"}, "--protocol", "with-query", "--json"]]
    assert done["summary"]["results"]["protocol"] == "with-query"
    assert f"  $ reid data summary --dataset mars --data-root {tmp_path / 'demo' / 'data/mars'} --protocol " \
           "with-query --json" in lines
    stored = json.loads((tmp_path / "demo" / "summary" / "done.json").read_text())
    assert stored["commands"] == done["summary"]["commands"]
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "## 1. Data" in report and f"reid data synth --layout mars --out {tmp_path / 'demo' / 'data/mars'}" in report


def test_force_redoes_every_stage_and_a_rerun_reuses_them(tmp_path):
    run_demo(tmp_path / "demo", PLANS["tiny"], STAGES, echo=lambda line: None)
    lines: list[str] = []
    run_demo(tmp_path / "demo", PLANS["tiny"], STAGES, echo=lines.append)
    assert sum("(reused, took" in line for line in lines) == 2
    lines.clear()
    run_demo(tmp_path / "demo", PLANS["tiny"], STAGES, force=True, echo=lines.append)
    assert not any("reused" in line for line in lines) and sum(line.startswith("  $ reid") for line in lines) == 3


def test_a_failing_command_stops_with_one_line_naming_it(tmp_path):
    out = tmp_path / "demo"
    with pytest.raises(CommandFailed) as info:
        run_demo(out, PLANS["tiny"], (("data", data.run), ("broken", _broken)), echo=lambda line: None)
    message = str(info.value)
    assert message.startswith(f"`reid data summary --dataset mars --data-root {out} --json`: ")
    assert "\n" not in message
    log = (out / "broken" / "commands.log").read_text()
    assert log.startswith(f"$ reid data summary --dataset mars --data-root {out} --json") and "FAILED: " in log
    assert not (out / "broken" / "done.json").exists()
    assert (out / "data" / "done.json").is_file()  # the finished stage stays, for a rerun to reuse


def test_a_failing_command_exits_2_through_reid(tmp_path, capsys, monkeypatch):
    from reid_runtime.cli.main import main

    monkeypatch.setattr("reid_demo.stages.STAGES", (("data", data.run), ("broken", _broken)))
    with pytest.raises(SystemExit) as info:
        main(["demo", "--out", str(tmp_path / "demo"), "--tiny"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: `reid data summary --dataset mars --data-root")


def test_a_report_link_to_a_moved_folder_uses_its_new_place(tmp_path):
    from reid_demo.commands import command_line

    tokens = ["embed", "--model", {"out": "export/sta.onnx"}, "--out", {"out": "embed/q.npz"}, "--topk", "3"]
    assert command_line(tokens, Path("moved dir")) == \
        "reid embed --model 'moved dir/export/sta.onnx' --out 'moved dir/embed/q.npz' --topk 3"

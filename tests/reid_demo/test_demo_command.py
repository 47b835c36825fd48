"""`reid demo` end to end at test size (--tiny: the --fast commands with smaller numbers): each stage runs `reid`
commands, the report lists exactly those, and every command of the report runs again, in order, in a fresh folder."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from reid_demo.commands import command_line
from reid_demo.plan import BENCH_BATCH_SIZES, PLANS, REF_SEQ_LEN
from reid_demo.stages import STAGES
from reid_runtime.cli.main import cli, main

STAGE_NAMES = [name for name, _ in STAGES]
TOTAL = len(STAGES) + 1


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def _torch_threads() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()  # a command may set the process-wide thread count; keep the suite's
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _run(out: Path | str, *extra: str) -> str:
    with _torch_threads():
        result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--tiny", *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _record(out: Path, stage: str) -> dict:
    return json.loads((out / stage / "done.json").read_text())


def _report_commands(report: str) -> list[str]:
    """Every line of every ```bash block of the report, in order."""
    return [line for block in re.findall(r"```bash\n(.*?)```", report, flags=re.S) for line in block.splitlines()]


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory) -> tuple[Path, str]:
    """The demo run from its own folder with a relative --out, as a user would: (the demo folder, its output)."""
    where = tmp_path_factory.mktemp("demo")
    with _cwd(where):
        output = _run("demo_out")
    return where / "demo_out", output


def test_each_stage_prints_its_commands_and_one_line(tiny_demo):
    out, output = tiny_demo
    lines = output.splitlines()
    for number, stage in enumerate(STAGE_NAMES, 1):
        line = next(line for line in lines if line.startswith(f"[{number}/{TOTAL}] {stage}: "))
        assert "demo_out/" in line and line.endswith(" s)")
        record = _record(out, stage)
        assert record["plan"] == PLANS["tiny"].as_json()
        assert all((out / rel).exists() for rel in record["outputs"])
        log = (out / stage / "commands.log").read_text()
        assert log.count("\n$ reid ") + log.startswith("$ reid ") == len(record["commands"])
    assert f"[{TOTAL}/{TOTAL}] report: demo_out/report.md" in output
    printed = [line[len("  $ "):] for line in lines if line.startswith("  $ reid ")]
    assert printed == _report_commands((out / "report.md").read_text())


def test_the_report_lists_exactly_the_commands_each_stage_ran(tiny_demo):
    out, _ = tiny_demo
    report = (out / "report.md").read_text()
    expected = [command_line(tokens, Path("demo_out")) for stage in STAGE_NAMES
                for tokens in _record(out, stage)["commands"]]
    assert _report_commands(report) == expected
    assert report.count("```bash") == len(STAGE_NAMES)
    programs = {shlex.split(line)[1] for line in expected}
    assert programs == {"data", "train", "eval", "export", "info", "embed", "search", "bench"}
    assert "python" not in report.split("## The commands of each stage")[1]


def test_evaluation_tables_and_pictures(tiny_demo):
    out, _ = tiny_demo
    results = _record(out, "eval")["results"]
    assert [row["seq_len"] for row in results["tables"]["sta"]] == list(PLANS["tiny"].seq_lens)
    assert [row["seq_len"] for row in results["tables"]["tp"]] == [REF_SEQ_LEN]
    for row in results["tables"]["sta"] + results["tables"]["tp"]:
        assert 0 < row["mAP"] <= 100 and row["R1"] <= row["R5"] <= row["R10"]
        assert row["protocol"] == "standard" and row["num_valid_queries"] == results["valid_queries"]
    pictures = results["pictures"]["ranked_lists"] + results["pictures"]["attention"]
    assert len(pictures) == 2 * PLANS["tiny"].pictures
    for rel in pictures:
        with Image.open(out / rel) as image:
            assert image.format == "PNG" and image.width > image.height > 0


def test_exports_are_verified_and_onnx_runtime_scores_like_pytorch(tiny_demo):
    out, _ = tiny_demo
    export = _record(out, "export")["results"]
    assert all(item["verification"]["passed"] for item in export["exports"].values())
    assert [Path(f).name for f in export["exports"]["split"]["files"]] == ["sta.backbone.onnx", "sta.head.onnx"]
    assert export["stream"]["cosine"] > 0.9999
    search = _record(out, "search")["results"]
    assert search["agree"]
    for key in ("R1", "mAP", "mINP"):
        assert search["onnxruntime"][key] == pytest.approx(search["pytorch"][key], abs=1e-3)
    info = _record(out, "info")["results"]["descriptions"]
    assert {d["architecture"] for d in info.values()} == {"sta_tiny"}


def test_search_results_and_latency_rows(tiny_demo):
    out, _ = tiny_demo
    results = json.loads((out / "search" / "results.json").read_text())
    assert len(results["results"]) == _record(out, "embed")["results"]["counts"]["query"]
    for row in results["results"]:
        distances = [m["distance"] for m in row["matches"]]
        assert 0 < len(distances) <= 10 and distances == sorted(distances)
        assert not any(m["pid"] == row["pid"] and m["camid"] == row["camid"] for m in row["matches"])
    rows = _record(out, "bench")["results"]["rows"]
    assert {(r["backend"], r["batch"], r["seq"]) for r in rows} == {
        (backend, b, REF_SEQ_LEN) for backend in ("torch", "onnxruntime") for b in BENCH_BATCH_SIZES}
    assert all(r["p50_ms"] > 0 and r["tracklets_per_s"] == pytest.approx(r["batch"] * 1000 / r["p50_ms"])
               for r in rows)


def test_report_shows_the_figures_of_the_run_and_links_existing_pictures(tiny_demo):
    out, _ = tiny_demo
    report = (out / "report.md").read_text()
    sta4 = next(r for r in _record(out, "eval")["results"]["tables"]["sta"] if r["seq_len"] == REF_SEQ_LEN)
    assert f"| STA | {REF_SEQ_LEN} | {sta4['R1']:.1f} |" in report and f"{sta4['mAP']:.1f}" in report
    for row in _record(out, "bench")["results"]["rows"]:
        assert f"| {row['label']} | {row['batch']} | {row['seq']} | {row['p50_ms']:.2f} |" in report
    links = [part.split(")")[0] for part in report.split("](")[1:]]
    assert links and all((out / link).is_file() for link in links)


def test_every_command_of_the_report_runs_in_order_in_a_fresh_folder(tiny_demo, tmp_path, capsys):
    out, _ = tiny_demo
    commands = _report_commands((out / "report.md").read_text())
    with _cwd(tmp_path), _torch_threads():
        for line in commands:
            argv = shlex.split(line)
            assert argv[0] == "reid"
            try:
                main(argv[1:])
            except SystemExit as exc:
                pytest.fail(f"{line} exited with {exc.code}: {capsys.readouterr().err[-2000:]}")
    fresh = tmp_path / "demo_out"
    # The same data, training and evaluation: the same scores.
    for arch in ("sta", "tp"):
        mine = json.loads((fresh / "eval" / arch / "eval.json").read_text())["results"]
        theirs = json.loads((out / "eval" / arch / "eval.json").read_text())["results"]
        assert [(r["seq_len"], round(r["mAP"], 4)) for r in mine] == \
               [(r["seq_len"], round(r["mAP"], 4)) for r in theirs]
    by_hand = json.loads((fresh / "search" / "results.json").read_text())
    staged = json.loads((out / "search" / "results.json").read_text())
    assert [[m["tid"] for m in r["matches"]] for r in by_hand["results"]] == \
           [[m["tid"] for m in r["matches"]] for r in staged["results"]]
    assert (fresh / "bench" / "latency.json").is_file() and (fresh / "export" / "split" / "sta.head.onnx").is_file()


def test_rerun_reuses_finished_stages_and_redoes_what_changed(tiny_demo, tmp_path):
    source, _ = tiny_demo
    out = tmp_path / "moved"
    shutil.copytree(source, out)
    output = _run(out)
    assert output.count("(reused, took") == len(STAGE_NAMES) and "  $ reid" not in output
    # Commands of reused stages point at the moved folder's files.
    assert all(f" {out}/" in line for line in _report_commands((out / "report.md").read_text()))

    (out / "embed" / "query.npz").unlink()  # a lost output: that stage and the ones after it run again
    bench = _record(out, "bench")
    bench["plan"]["bench_seconds"] = 9.0  # a record of another plan is not reused
    (out / "bench" / "done.json").write_text(json.dumps(bench))
    output = _run(out)
    lines = {stage: next(line for line in output.splitlines() if f"] {stage}: " in line) for stage in STAGE_NAMES}
    assert [s for s in STAGE_NAMES if "(reused, took" in lines[s]] == ["data", "train", "eval", "export", "info"]
    assert (out / "embed" / "query.npz").is_file()
    assert _record(out, "bench")["plan"] == PLANS["tiny"].as_json()


def test_refuses_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--tiny"])
    assert result.exit_code != 0 and "not written by reid demo" in str(result.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_fast_and_tiny_are_exclusive(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "x"), "--tiny", "--fast"])
    assert result.exit_code == 2 and "choose one of --fast and --tiny" in result.output

"""`reid demo` end to end at test size (--tiny: the --fast code with smaller numbers), reuse of finished stages, and
the report's commands giving what the stages gave."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from reid_export.demo.cli import demo
from reid_export.demo.stages import BENCH_SHAPES, PLANS, STAGES

STAGE_NAMES = [name for name, _ in STAGES]


def _run(out: Path, *extra: str):
    import torch

    threads = torch.get_num_threads()  # the bench stage sets the process-wide thread count; keep the suite's
    try:
        result = CliRunner().invoke(demo, ["--out", str(out), "--tiny", *extra], catch_exceptions=False)
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return result.output


def _record(out: Path, stage: str) -> dict:
    return json.loads((out / stage / "done.json").read_text())


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo") / "demo_out"
    return out, _run(out)


def test_each_stage_prints_one_line_and_records_its_results(tiny_demo):
    out, output = tiny_demo
    for number, stage in enumerate(STAGE_NAMES, 1):
        line = next(line for line in output.splitlines() if line.startswith(f"[{number}/8] {stage}: "))
        assert str(out) in line and line.endswith(" s)")
        record = _record(out, stage)
        assert record["plan"] == PLANS["tiny"].as_json()
        assert all((out / rel).exists() for rel in record["outputs"])
    assert f"[8/8] report: {out / 'report.md'}" in output


def test_evaluation_tables_and_pictures(tiny_demo):
    out, _ = tiny_demo
    results = _record(out, "eval")["results"]
    assert [row["seq_len"] for row in results["tables"]["sta"]] == list(PLANS["tiny"].seq_lens)
    assert [row["seq_len"] for row in results["tables"]["tp"]] == [4]
    for row in results["tables"]["sta"] + results["tables"]["tp"]:
        assert 0 < row["mAP"] <= 100 and row["R1"] <= row["R5"] <= row["R10"]
        assert row["protocol"] == "standard" and row["num_valid_queries"] == results["valid_queries"]
    pictures = results["pictures"]["ranked_lists"] + results["pictures"]["attention"]
    assert len(pictures) == 2 * PLANS["tiny"].pictures
    for rel in pictures:
        with Image.open(out / rel) as image:
            assert image.format == "PNG" and image.width > image.height > 0


def test_onnx_runtime_embeddings_score_like_pytorch(tiny_demo):
    out, _ = tiny_demo
    embed = _record(out, "embed")["results"]
    assert embed["agree"]
    for key in ("R1", "mAP", "mINP"):
        assert embed["onnxruntime"][key] == pytest.approx(embed["pytorch"][key], abs=1e-3)
    export = _record(out, "export")["results"]
    assert all(item["verification"]["passed"] for item in export["exports"].values())
    assert export["stream"]["cosine"] > 0.9999


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
        (backend, b, t) for backend in ("PyTorch eager", "ONNX Runtime") for b, t in BENCH_SHAPES}
    assert all(r["p50_ms"] > 0 and r["tracklets_per_s"] == pytest.approx(r["batch"] * 1000 / r["p50_ms"])
               for r in rows)


def test_report_shows_the_figures_of_the_run_and_links_existing_pictures(tiny_demo):
    out, _ = tiny_demo
    report = (out / "report.md").read_text()
    sta4 = next(r for r in _record(out, "eval")["results"]["tables"]["sta"] if r["seq_len"] == 4)
    assert f"| STA | 4 | {sta4['R1']:.1f} |" in report and f"{sta4['mAP']:.1f}" in report
    for row in _record(out, "bench")["results"]["rows"]:
        assert f"| {row['backend']} | {row['batch']} | {row['seq']} | {row['p50_ms']:.2f} |" in report
    links = [part.split(")")[0] for part in report.split("](")[1:]]
    assert links and all((out / link).is_file() for link in links)
    assert report.count("```bash") == len(STAGE_NAMES)


def test_report_commands_redo_the_embed_and_search_stages(tiny_demo, tmp_path):
    from reid_runtime.cli.main import cli
    from reid_runtime.embeddings_file import load_embeddings

    out, _ = tiny_demo
    embed_query = shlex.split(_record(out, "embed")["commands"][0])
    search = shlex.split(_record(out, "search")["commands"][0])
    embed_query[embed_query.index("--out") + 1] = str(tmp_path / "query.npz")
    search[search.index("--query") + 1] = str(tmp_path / "query.npz")
    search[search.index("--out") + 1] = str(tmp_path / "results.json")
    for command in (embed_query, search):
        assert command[0] == "reid"
        result = CliRunner().invoke(cli, command[1:], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    mine, theirs = load_embeddings(tmp_path / "query.npz"), load_embeddings(out / "embed" / "query.npz")
    np.testing.assert_allclose(mine.embeddings, theirs.embeddings, rtol=1e-5, atol=1e-6)
    assert list(mine.tids) == list(theirs.tids)
    by_hand = json.loads((tmp_path / "results.json").read_text())
    staged = json.loads((out / "search" / "results.json").read_text())
    assert [[m["tid"] for m in r["matches"]] for r in by_hand["results"]] == \
           [[m["tid"] for m in r["matches"]] for r in staged["results"]]


def test_rerun_reuses_finished_stages_and_redoes_what_changed(tiny_demo, tmp_path):
    source, _ = tiny_demo
    out = tmp_path / "moved"
    shutil.copytree(source, out)
    output = _run(out)
    assert output.count("(reused, took") == len(STAGE_NAMES)

    (out / "embed" / "query.npz").unlink()  # a lost output: that stage and the ones after it run again
    bench = _record(out, "bench")
    bench["plan"]["bench_seconds"] = 9.0  # a record of another plan is not reused
    (out / "bench" / "done.json").write_text(json.dumps(bench))
    output = _run(out)
    lines = {stage: next(line for line in output.splitlines() if f"] {stage}: " in line) for stage in STAGE_NAMES}
    assert [s for s in STAGE_NAMES if "(reused, took" in lines[s]] == ["data", "train", "eval", "export"]
    assert (out / "embed" / "query.npz").is_file()
    assert _record(out, "bench")["plan"] == PLANS["tiny"].as_json()


def test_force_redoes_every_stage(tiny_demo, tmp_path):
    source, _ = tiny_demo
    out = tmp_path / "forced"
    shutil.copytree(source, out)
    before = (out / "train" / "sta" / "metrics.jsonl").read_text()
    output = _run(out, "--force")
    assert "reused" not in output
    assert (out / "train" / "sta" / "metrics.jsonl").read_text().count("\n") == before.count("\n")


def test_refuses_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(demo, ["--out", str(tmp_path), "--tiny"])
    assert result.exit_code != 0 and "not written by reid demo" in str(result.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_fast_and_tiny_are_exclusive(tmp_path):
    result = CliRunner().invoke(demo, ["--out", str(tmp_path / "x"), "--tiny", "--fast"])
    assert result.exit_code != 0 and "choose one of --fast and --tiny" in result.output

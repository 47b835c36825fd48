"""`reid data synth` and `reid data summary` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys


def _reid(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reid_runtime.cli.main", *args], capture_output=True, text=True)


def test_synth_then_summary_round_trip(tmp_path):
    root = tmp_path / "mars"
    done = _reid("data", "synth", "--layout", "mars", "--out", str(root), "--ids", "4", "--size", "64x32")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote the mars layout to {root}") and len(done.stdout.splitlines()) == 1
    assert (root / "info" / "tracks_test_info.mat").is_file() and (root / "mars_attributes.csv").is_file()
    summary = _reid("data", "summary", "--dataset", "mars", "--data-root", str(root), "--protocol", "with-query")
    assert summary.returncode == 0, summary.stderr
    assert "protocol: with-query" in summary.stdout and "query" in summary.stdout
    as_json = _reid("data", "summary", "--dataset", "mars", "--data-root", str(root), "--protocol", "with-query",
                    "--json")
    assert as_json.returncode == 0, as_json.stderr
    payload = json.loads(as_json.stdout)
    assert payload["dataset"] == "mars" and payload["protocol"] == "with-query" and payload["split_id"] == 0
    rows = {row["split"]: row for row in payload["splits"]}
    assert set(rows) == {"train", "query", "gallery"} and rows["query"]["valid_queries"] == rows["query"]["tracklets"]
    assert "protocol: with-query" in as_json.stderr


def test_synth_dukev_layout(tmp_path):
    root = tmp_path / "duke"
    done = _reid("data", "synth", "--layout", "dukev", "--out", str(root), "--ids", "3", "--size", "64x32", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["layout"] == "dukev" and report["config"]["ids"] == 3 and "wrote the dukev layout" in done.stderr
    summary = _reid("data", "summary", "--dataset", "dukev", "--data-root", str(root))
    assert summary.returncode == 0, summary.stderr


def test_errors_are_one_clear_line(tmp_path):
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    refused = _reid("data", "synth", "--layout", "mars", "--out", str(tmp_path / "foreign"), "--ids", "2")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "foreign" in refused.stderr
    bad = _reid("data", "summary", "--dataset", "mars", "--data-root", str(tmp_path / "foreign"))
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "info" in bad.stderr
    size = _reid("data", "synth", "--layout", "mars", "--out", str(tmp_path / "x"), "--size", "big")
    assert size.returncode == 2 and "HxW" in size.stderr
    protocol = _reid("data", "summary", "--dataset", "mars", "--data-root", str(tmp_path), "--protocol", "nope")
    assert protocol.returncode == 2 and "'nope' is not one of" in protocol.stderr

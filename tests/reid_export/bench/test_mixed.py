"""The mixed-length workload: bucketing and packing embed every frame exactly once; MARS-like lengths."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from reid_export.bench.mixed import bench_mixed, mars_lengths
from reid_runtime.cli.main import cli
from reid_runtime.errors import ReidError


def test_bucketing_and_packing_embed_all_frames_exactly(checkpoints):
    report = bench_mixed(checkpoints["sta_tiny"], tracklets=6, cap=40, batch_size=3, pack_frames=16,
                         fixed=((1, 4),), min_runs=1, min_seconds=0, seed=3)
    by_name = {s.name: s for s in report.strategies}
    total = report.lengths["total_frames"]
    assert total == sum(report.lengths["values"]) and max(report.lengths["values"]) <= 40
    assert by_name["bucketing"].frames_computed == by_name["packing"].frames_computed == total
    assert by_name["padding"].frames_computed >= total
    assert by_name["packing"].cosine_min_vs_exact > 0.9999  # the split graphs give the same embeddings
    assert all(s.frames_per_s > 0 and s.vs_best_fixed > 0 for s in report.strategies)
    assert "best fixed-length" in report.table() and report.architecture == "sta_tiny"


def test_mixed_command_writes_its_report(checkpoints, tmp_path):
    result = CliRunner().invoke(cli, ["bench", "mixed", "--model", str(checkpoints["sta_tiny"]), "--tracklets", "3",
                                      "--cap", "12", "--batch-sizes", "2", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "mixed.json").read_text())
    assert [s["name"] for s in payload["strategies"]] == ["padding", "bucketing", "packing"]
    assert payload["command"].startswith("reid bench mixed --model ") and "--batch-sizes 2" in payload["command"]
    assert (tmp_path / "mixed.md").is_file()


def test_asta_cannot_be_packed_and_says_so(checkpoints):
    with pytest.raises(ReidError, match="split export"):
        bench_mixed(checkpoints["asta_tiny"], tracklets=2, cap=8, min_runs=1, min_seconds=0)


def test_mars_lengths_follow_the_real_distribution(shared_data):
    real, source = mars_lengths(5000, tracks_table=shared_data / "mars-info" / "tracks_test_info.mat")
    fitted, _ = mars_lengths(5000)
    assert "tracks_test_info.mat" in source
    for lengths in (real, fitted):
        assert lengths.min() >= 2 and lengths.max() <= 920
        assert np.mean(lengths) == pytest.approx(55.9, rel=0.1)

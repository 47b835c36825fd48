"""MAC counting: analytic toy counts, the ResNet-50 reference figure, the attention's own cost, the ONNX recount."""

from __future__ import annotations

import json

import onnx
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from reid_export.bench.flops import build_model, count_flops, count_macs, onnx_cross_check, onnx_macs
from reid_runtime.cli.main import cli


class _Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 5)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(feats.mean(dim=(-2, -1)).mean(dim=1))  # parameter-free pooling: the "attention" share


class _Toy(nn.Module):
    input_size = (6, 4)
    model_config = {"name": "toy"}

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)
        self.head = _Head()

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(frames.flatten(0, 1))
        return self.head(feats.unflatten(0, (frames.shape[0], -1)))


def test_toy_conv_and_linear_macs_equal_the_analytic_count():
    batch, seq, (h, w) = 2, 3, _Toy.input_size
    count = count_macs(_Toy(), seq_len=seq, batch=batch)
    assert count.backbone == batch * seq * 8 * 3 * 3 * 3 * h * w
    assert count.head_layers == batch * 8 * 5
    assert count.attention == batch * seq * 8 * h * w + batch * seq * 8  # two means, one per input element
    assert count.total == count.backbone + count.head_layers + count.attention
    assert count.conv_matmul == count.backbone + count.head_layers
    assert count.per_clip == count.total // batch


@pytest.fixture(scope="module")
def resnet50_sta():
    return build_model("sta_resnet50", (256, 128))


def test_resnet50_costs_4_053_gmacs_per_frame_and_sta_attention_is_counted(resnet50_sta):
    count = count_macs(resnet50_sta, seq_len=4)
    assert count.backbone / 4 / 1e9 == pytest.approx(4.053, rel=0.02)
    assert count.per_frame / 1e9 == pytest.approx(4.053, rel=0.02)
    assert count.attention > 0, "STA's parameter-free attention must have a cost"
    assert count.attention < 1e-3 * count.total
    assert count.head_layers == 4096 * 1024  # the FC on the fused 2C feature
    assert "attention:elementwise/argmax" in count.by_op and "attention:elementwise/pow" in count.by_op


def test_count_is_per_clip_linear_in_batch(resnet50_sta):
    one, three = count_macs(resnet50_sta, seq_len=2), count_macs(resnet50_sta, seq_len=2, batch=3)
    assert three.total == 3 * one.total and three.per_clip == one.per_clip


def test_onnx_graph_count_agrees_with_the_torch_count(sta_checkpoint, sta_onnx):
    model = build_model(sta_checkpoint)
    checks = onnx_cross_check(model, [2, 5], graph=onnx.load(sta_onnx))
    for seq, check in checks.items():
        assert check["onnx"] == check["torch"] > 0, seq
    height, width = model.input_size
    assert onnx_macs(sta_onnx, (3, 5, 3, height, width)).total == 3 * checks[5]["onnx"]


def test_flops_command_writes_json_and_markdown(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "flops", "--model", "sta_tiny", "--model", "asta_tiny", "--size",
                                      "64x32", "--seq-lens", "2,4", "--no-onnx-check", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "MACs" in result.output and "sta_tiny" in result.output
    payload = json.loads((tmp_path / "flops.json").read_text())
    rows = payload["rows"]
    assert [(r["model"], r["seq_len"]) for r in rows] == [("sta_tiny", 2), ("sta_tiny", 4), ("asta_tiny", 2),
                                                          ("asta_tiny", 4)]
    asta = rows[3]
    assert asta["head"] > asta["attention"] > 0  # ASTA: 1x1 stream convs (layers) + attention modules
    assert payload["command"].startswith("reid bench flops --model sta_tiny --model asta_tiny --seq-lens 2,4 "
                                         "--size 64x32 --no-onnx-check")
    assert payload["machine"]["cpu_flags"] is not None and "torch" in payload["machine"]["versions"]
    text = (tmp_path / "flops.md").read_text()
    assert "reid bench flops" in text and "CPU flags" in text
    assert not (tmp_path / "flops.png").exists()  # no published figure of these models: no picture


def test_published_figures_sit_next_to_our_count(resnet50_sta):
    from reid_export.bench.flops import count_flops

    report = count_flops(["sta_resnet50"], [4, 5], (256, 128), onnx_check=False)
    at4, at5 = report.rows
    assert at4["published"]["label"] == "STA (N=4)" and "published" not in at5
    assert report.published() == [{**at4["published"], "ours_gmacs": at4["total"] / 1e9, "model": "sta_resnet50",
                                   "seq_len": 4}]
    assert "16.0 (STA (N=4))" in report.markdown()


def test_unknown_model_is_a_one_line_error():
    result = CliRunner().invoke(cli, ["bench", "flops", "--model", "sta_resnet51", "--no-onnx-check"])
    assert result.exit_code != 0
    assert "sta_resnet51" in str(result.exception) and "sta_resnet50" in str(result.exception)


def test_osnet_backbone_count_matches_torchreids_published_figure():
    report = count_flops(["sta_osnet_x1_0", "sta_osnet_x0_25"], [4], (256, 128), onnx_check=False)
    for row in report.rows:
        reference = row["backbone_published"]
        assert abs(reference["rel_diff"]) < 0.02  # the target; measured -0.03% / -0.06%
        assert row["backbone"] / 4 / 1e9 == pytest.approx(reference["gmacs_per_frame"], rel=0.02)
        assert row["attention"] > 0 and row["total"] > row["backbone"]  # STA's attention counted on top
    assert "torchreid model zoo" in " ".join(report.notes) and "vs ref" in report.table()

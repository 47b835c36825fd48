"""The real size: ResNet-50 STA at 256x128 exports with dynamic axes and matches PyTorch."""

from __future__ import annotations

import pytest
import torch

from reid_export.onnx_export import export_graphs, finish_export, graph_dims, read_info
from reid_train.models import create_model


@pytest.mark.slow
def test_resnet50_sta_exports_and_verifies(tmp_path):
    torch.manual_seed(0)
    model = create_model("sta_resnet50", num_classes=10).eval()
    graphs = export_graphs(model)
    assert graph_dims(graphs["full"])["frames"] == ["batch", "seq", 3, 256, 128]
    result = finish_export(model, graphs, tmp_path / "sta_r50.onnx", recipe={"recipe": "sta_mars"},
                           seq_lengths=(1, 3), batch_sizes=(1, 2))
    assert result.verification.passed, result.verification.table()
    info = read_info(tmp_path / "sta_r50.onnx")
    assert (info.embedding_dim, info.num_regions, info.seq_lengths_verified) == (1024, 4, [1, 3])
    assert (tmp_path / "sta_r50.onnx").stat().st_size > 90e6  # weights inside: one self-contained file

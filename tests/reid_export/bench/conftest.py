"""One unverified FP32 export of the tiny STA checkpoint, shared by the benchmark tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sta_onnx(tmp_path_factory, checkpoints) -> Path:
    from reid_export.bench.latency import Exporter

    return Exporter(checkpoints["sta_tiny"]).export(tmp_path_factory.mktemp("bench") / "sta_tiny.onnx")[0]

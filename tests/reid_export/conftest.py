"""Tiny checkpoints and their exports, shared by the export tests (each export takes a few seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

INPUT_SIZE = (64, 32)


def make_checkpoint(path: Path, name: str, **kwargs) -> Path:
    """A checkpoint of a randomly initialised tiny model, as `reid train` would save it."""
    import torch

    from reid_train.engine.checkpoint import save_checkpoint
    from reid_train.models import create_model

    torch.manual_seed(0)
    model = create_model(name, num_classes=5, input_size=INPUT_SIZE, width=16, **kwargs)
    for module in model.modules():  # trained-like BatchNorm statistics: the BNNeck is then no identity
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    save_checkpoint(path, {"model": model.state_dict(), "model_config": model.model_config,
                           "config": {"recipe": "test"}})
    return path


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """The PyTorch reference of the verification runs tiny batches: one thread avoids OpenMP contention on 2 cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="session")
def checkpoints(export_dir) -> dict[str, Path]:
    return {name: make_checkpoint(export_dir / f"{name}.pt", name) for name in ("sta_tiny", "tp_tiny", "asta_tiny")}


@pytest.fixture(scope="session")
def full_exports(export_dir, checkpoints) -> dict[str, tuple[Path, object]]:
    """name -> (model.onnx, ExportResult) for STA, TP and ASTA (ASTA through onnxslim)."""
    from reid_export.onnx_export import export_checkpoint

    return {
        name: (export_dir / f"{name}.onnx",
               export_checkpoint(ckpt, export_dir / f"{name}.onnx", simplify_graph=name == "asta_tiny"))
        for name, ckpt in checkpoints.items()
    }


@pytest.fixture(scope="session")
def split_exports(export_dir, checkpoints) -> dict[str, tuple[Path, object]]:
    """name -> (split/<name>.onnx, ExportResult) for STA and TP."""
    from reid_export.onnx_export import export_checkpoint

    return {
        name: (export_dir / "split" / f"{name}.onnx",
               export_checkpoint(checkpoints[name], export_dir / "split" / f"{name}.onnx", split=True))
        for name in ("sta_tiny", "tp_tiny")
    }


@pytest.fixture(scope="session")
def synth_mars(tmp_path_factory) -> Path:
    """A small synthetic MARS folder (real layout) at the tiny models' input size."""
    from reid_runtime.data.synth import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("mars")
    synthesize(SynthConfig(layout="mars", ids=2, cameras=2, size=INPUT_SIZE, min_len=4, max_len=8), root)
    return root


@dataclass
class Run:
    """What ``reid ARGS`` did in-process: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


@pytest.fixture
def reid(capsys):
    """``reid(*args)`` runs the real ``reid`` entry point in this process (the one-line errors and exit codes of
    ``reid_runtime.cli.main.main``), returning a :class:`Run`."""
    from reid_runtime.cli.main import main

    def run(*args: object) -> Run:
        capsys.readouterr()
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run

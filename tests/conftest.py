"""Shared test fixtures: the real metadata in ../shared, tiny checkpoints and their ONNX exports (full and split),
random tracklets and a MOT sequence."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real dataset metadata in ../shared/data (MARS .mat tables, DukeMTMC-VideoReID tables)."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"{path} is not present")
    return path


SIZE = (64, 32)
ARCHS = {
    "sta": ("sta_tiny", {"width": 16, "embedding_dim": 32}),
    "tp": ("tp_tiny", {"width": 16}),
    "asta": ("asta_tiny", {"width": 16}),
}


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime_models")


def _checkpoint(folder: Path, arch: str) -> Path:
    path = folder / f"{arch}.pt"
    if path.is_file():
        return path
    torch = pytest.importorskip("torch")
    from reid_train.engine.checkpoint import save_checkpoint
    from reid_train.models import create_model

    torch.manual_seed(len(arch))
    name, kwargs = ARCHS[arch]
    model = create_model(name, num_classes=4, input_size=SIZE, **kwargs).eval()
    for module in model.modules():  # non-trivial BatchNorm statistics, so the neck is not an identity
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    save_checkpoint(path, {"model": model.state_dict(), "model_config": model.model_config})
    return path


def _export(folder: Path, arch: str, split: bool) -> Path:
    out = folder / f"{arch}.onnx"
    target = out.with_name(f"{arch}.backbone.onnx") if split else out
    if not target.is_file():
        onnx_export = pytest.importorskip("reid_export.onnx_export")
        onnx_export.export_checkpoint(_checkpoint(folder, arch), out, split=split, verify=False)
    return target


@pytest.fixture(scope="session")
def sta_checkpoint(runtime_dir: Path) -> Path:
    return _checkpoint(runtime_dir, "sta")


@pytest.fixture(scope="session")
def tp_checkpoint(runtime_dir: Path) -> Path:
    return _checkpoint(runtime_dir, "tp")


@pytest.fixture(scope="session")
def asta_checkpoint(runtime_dir: Path) -> Path:
    return _checkpoint(runtime_dir, "asta")


@pytest.fixture(scope="session")
def sta_onnx(runtime_dir: Path) -> Path:
    """Full-graph STA export (no per-frame terms)."""
    return _export(runtime_dir, "sta", split=False)


@pytest.fixture(scope="session")
def sta_split(runtime_dir: Path) -> Path:
    """The backbone file of a split STA export (the head file sits beside it)."""
    return _export(runtime_dir, "sta", split=True)


@pytest.fixture(scope="session")
def tp_split(runtime_dir: Path) -> Path:
    return _export(runtime_dir, "tp", split=True)


def random_tracklets(lengths: list[int], seed: int = 0) -> list[np.ndarray]:
    """uint8 ``(T, 64, 32, 3)`` arrays of the given lengths."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (n, *SIZE, 3), dtype=np.uint8) for n in lengths]


@pytest.fixture
def make_tracklets():
    return random_tracklets


MOT_COLORS = {1: (220, 30, 30), 2: (30, 200, 30), 3: (30, 30, 220), 4: (220, 220, 30)}
MOT_H, MOT_W = 120, 160


def _make_mot_sequence(root: Path, frames: int = 6) -> Path:
    """Tracks 1 (red, leaves the image on the right), 2 (green, one ignored row), 3 (blue, class 2 = not a
    pedestrian), 4 (yellow, two frames only); one box of track 2 lies entirely outside the image."""
    (root / "img1").mkdir(parents=True)
    (root / "gt").mkdir()
    rows = []
    for f in range(1, frames + 1):
        image = Image.new("RGB", (MOT_W, MOT_H), (128, 128, 128))
        draw = ImageDraw.Draw(image)
        boxes = {1: (10 + 25 * f, 20, 30, 60), 2: (10, 50, 20, 40), 3: (100, 10, 20, 40), 4: (60, 70, 20, 30)}
        for track, (x, y, w, h) in boxes.items():
            if track == 4 and f > 2:
                continue
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=MOT_COLORS[track])
            flag = 0 if (track == 2 and f == 3) else 1
            cls = 2 if track == 3 else 1
            rows.append(f"{f},{track},{x + 1},{y + 1},{w},{h},{flag},{cls},1.0")
        image.save(root / "img1" / f"{f:06d}.jpg", quality=95)
    rows.append(f"{frames},2,{MOT_W + 50},10,20,40,1,1,1.0")  # entirely outside: dropped
    (root / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    (root / "seqinfo.ini").write_text(
        f"[Sequence]\nname=SYN-01\nimDir=img1\nimExt=.jpg\nimWidth={MOT_W}\nimHeight={MOT_H}\n")
    return root


@pytest.fixture
def mot_sequence(tmp_path: Path) -> Path:
    """A synthetic MOTChallenge sequence SYN-01 (see ``_make_mot_sequence``)."""
    return _make_mot_sequence(tmp_path / "SYN-01")


# --- the edge install: what a `pip install 'reid-toolkit[cpu]'` box has (no torch, no matplotlib, no onnx) ---------

EDGE_MISSING = ("torch", "torchvision", "matplotlib", "onnx", "onnxscript", "onnxslim", "onnxconverter_common", "yaml",
                "pydantic",
                "faiss", "tensorrt", "openvino")

_EDGE_SITECUSTOMIZE = '''
import importlib.abc, importlib.util, sys
_MISSING = set({missing!r})
_find_spec = importlib.util.find_spec

def _top(name):
    return name.split(".")[0]

class _Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if _top(name) in _MISSING:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

def find_spec(name, package=None):
    if _top(name) in _MISSING:
        return None
    return _find_spec(name, package)

importlib.util.find_spec = find_spec
sys.meta_path.insert(0, _Missing())
'''


def _edge_env(folder: Path, missing: tuple[str, ...]) -> dict[str, str]:
    import os

    (folder / "sitecustomize.py").write_text(_EDGE_SITECUSTOMIZE.format(missing=missing))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH", "")) if p)
    return env


def _edge_runner(env: dict[str, str]):
    import subprocess
    import sys

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        code = "import sys; from reid_runtime.cli.main import main; main(sys.argv[1:])"
        return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                              env=env, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def edge_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for a subprocess that behaves like the ``[cpu]`` edge install: importing torch, matplotlib, onnx,
    yaml ... fails as if they were not installed, and ``find_spec`` does not find them."""
    return _edge_env(tmp_path_factory.mktemp("edge_site"), EDGE_MISSING)


@pytest.fixture(scope="session")
def run_edge(edge_env):
    """``run_edge("info", "m.onnx")`` runs ``reid`` as the edge install would; returns the CompletedProcess."""
    return _edge_runner(edge_env)


@pytest.fixture(scope="session")
def run_edge_openvino(tmp_path_factory: pytest.TempPathFactory):
    """``run_edge`` on an edge box that also has the optional ``[openvino]`` extra (``[cpu,openvino]``)."""
    missing = tuple(name for name in EDGE_MISSING if name != "openvino")
    return _edge_runner(_edge_env(tmp_path_factory.mktemp("edge_site_openvino"), missing))


@pytest.fixture(scope="session")
def tiny_mars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic MARS-layout dataset (6 + 6 identities, 64x32 frames, 4-8 frames per tracklet), read-only."""
    from reid_runtime.data.synth import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("tiny_mars") / "mars"
    synthesize(SynthConfig(layout="mars", ids=6, size=(64, 32), min_len=4, max_len=8, seed=1), root)
    return root


# OpenVINO's runtime threads do not survive a fork: once it is loaded in the pytest process, a later DataLoader with
# worker processes (the trainer tests) crashes the whole session with SIGSEGV. Its backend tests therefore run in a
# process of their own (tests/reid_runtime/backends/test_openvino_isolated.py), and the parent never collects them.
OPENVINO_CHILD = "REID_TEST_OPENVINO_CHILD"
collect_ignore = [] if os.environ.get(OPENVINO_CHILD) == "1" else ["reid_runtime/backends/test_openvino_backend.py"]

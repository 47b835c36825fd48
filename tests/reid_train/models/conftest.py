"""Fixtures shared by the model tests: one torch thread, and the upstream references in tests/fixtures/upstream/
(the generator script, ``layouts.json``, ``features.npz``) with the helpers that read them.

Tests run with ``--import-mode=importlib``, so a test module cannot import helpers from here: each helper is a fixture
that returns the function.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

Layout = dict[str, tuple[list[int], str]]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Many tiny ops: on shared cores 2 threads wait on OpenMP barriers (an OSNet forward: 0.03 s -> 12 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    """tests/fixtures/upstream: references made once by torchreid / torchvision (see the README there)."""
    return Path(__file__).resolve().parents[2] / "fixtures" / "upstream"


@pytest.fixture(scope="session")
def torchreid_file(upstream_dir: Path) -> Path:
    """torchreid's own ``torch.save(model.state_dict())`` of an osnet_x0_25 (10-class classifier)."""
    return upstream_dir / "osnet_x0_25_torchreid.pth"


@pytest.fixture(scope="module")
def upstream(upstream_dir: Path) -> ModuleType:
    """The fixture generator, for ``fill_state`` and ``normalise`` (no torchreid / torchvision import at module
    level)."""
    spec = importlib.util.spec_from_file_location("make_upstream_fixtures", upstream_dir / "make_upstream_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def layouts(upstream_dir: Path) -> dict:
    return json.loads((upstream_dir / "layouts.json").read_text())


@pytest.fixture(scope="module")
def features(upstream_dir: Path) -> dict[str, np.ndarray]:
    with np.load(upstream_dir / "features.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def layout(layouts: dict) -> Callable[[str], Layout]:
    """``layout(upstream_name)``: key -> (shape, dtype) of upstream's state dict, as in ``layouts.json``."""

    def layout_of(name: str) -> Layout:
        return {key: (shape, dtype) for key, shape, dtype in layouts[name]["keys"]}

    return layout_of


@pytest.fixture(scope="session")
def state_layout() -> Callable[[torch.nn.Module], Layout]:
    """``state_layout(model)``: key -> (shape, dtype) of our state dict, in the form of ``layout``."""

    def state_layout_of(model: torch.nn.Module) -> Layout:
        return {key: (list(value.shape), str(value.dtype).removeprefix("torch.")) for key, value in
                model.state_dict().items()}

    return state_layout_of


@pytest.fixture(scope="session")
def assert_close_to_scale() -> Callable[..., None]:
    """``assert_close_to_scale(ours, reference, what, rel=..., against="torchreid")``: same shape, and
    max|ours - reference| / max|reference| <= rel (the bound scales with the tensor; each test module sets its own)."""

    def check(ours: torch.Tensor, reference: np.ndarray | torch.Tensor, what: str, *, rel: float, against: str
              ) -> None:
        reference = torch.as_tensor(reference)
        assert tuple(ours.shape) == tuple(reference.shape), what
        error = ((ours - reference).abs().max() / reference.abs().max()).item()
        assert error <= rel, f"{what}: max|ours - {against}| / max|{against}| = {error:.2e} > {rel}"

    return check

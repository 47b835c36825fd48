"""Tiny synthetic datasets shared by the synth tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid_runtime.data.synth import SynthConfig, synthesize

TINY = {"ids": 6, "size": (64, 32), "min_len": 3, "max_len": 6}


@pytest.fixture(scope="session")
def tiny_mars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "mars"
    synthesize(SynthConfig("mars", **TINY), root)
    return root


@pytest.fixture(scope="session")
def tiny_dukev(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "dukev"
    synthesize(SynthConfig("dukev", **TINY), root)
    return root

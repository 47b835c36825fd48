"""Checkpoints: written atomically, holding everything a resumed run needs to continue bit-for-bit."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reid_runtime import __version__
from reid_runtime.errors import ReidError
from reid_runtime.io import write_bytes_atomic

FORMAT = "reid-toolkit-checkpoint/1"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """torch.save into a temp file beside ``path`` and rename: a kill never leaves a truncated checkpoint."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "toolkit_version": __version__, **payload}, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ReidError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises several types for a damaged or foreign file
        raise ReidError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ReidError(f"{path}: not a reid-toolkit checkpoint (expected format '{FORMAT}', as written by reid train)")
    return ckpt


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model stored in a checkpoint, in eval mode; returns (model, checkpoint)."""
    from reid_train.models import create_model

    ckpt = load_checkpoint(path, map_location)
    model = create_model(**ckpt["model_config"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt

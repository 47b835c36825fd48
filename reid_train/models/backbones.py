"""The per-frame backbones a video model can sit on, and loading their upstream weight files by path.

Every backbone is a plain ``nn.Module`` with the upstream project's state-dict keys and the same small interface:
``forward_features(x)`` (frames ``(N, 3, H, W)`` -> maps ``(N, C, h, w)``), ``out_channels`` (C),
``feature_size((H, W))`` (h, w), ``reset_classifier(0)`` (drop the image classifier) and ``head_prefixes`` (the keys
of that classifier, which a weight file may carry or not).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from reid_runtime.errors import ReidError
from reid_train.models.mobilenetv3 import MOBILENETV3_CONFIGS, create_mobilenetv3
from reid_train.models.osnet import OSNET_CHANNELS, create_osnet
from reid_train.models.resnet import RESNETS, create_resnet


class BackboneInfo(NamedTuple):
    family: str
    upstream: str  # whose state-dict layout and weight files it follows
    build: Callable[..., nn.Module]
    has_width: bool  # whether ``width`` (the base channel count) can be set


BACKBONES: dict[str, BackboneInfo] = {
    **{name: BackboneInfo("resnet", "torchvision", lambda n=name, **kw: create_resnet(n, **kw), True)
       for name in RESNETS},
    **{name: BackboneInfo("osnet", "torchreid", lambda n=name, **kw: create_osnet(n, **kw), False)
       for name in OSNET_CHANNELS},
    **{name: BackboneInfo("mobilenetv3", "torchvision", lambda n=name, **kw: create_mobilenetv3(n, **kw), False)
       for name in MOBILENETV3_CONFIGS},
}


def create_backbone(name: str, *, last_stride: int = 1, width: int | None = None,
                    num_classes: int = 1000) -> nn.Module:
    """Build a backbone by name (see ``BACKBONES``) with its image classifier (``num_classes`` outputs)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    info = BACKBONES[name]
    kwargs: dict[str, Any] = {"num_classes": num_classes, "last_stride": last_stride}
    if width is not None:
        if not info.has_width:
            raise ValueError(f"backbone {name!r} has a fixed width; pick another variant instead of width={width}")
        kwargs["width"] = width
    return info.build(**kwargs)


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """A weight file as a flat ``{key: tensor}``: a plain state dict (torchvision, ``torch.save(model.state_dict())``)
    or a training checkpoint holding one under ``state_dict`` (torchreid), ``module.`` prefixes (DataParallel) removed.
    Loaded with ``weights_only=True``."""
    from reid_train.engine.checkpoint import torch_load_safe

    state = torch_load_safe(path, "cpu", what="pretrained weights file")
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise ReidError(f"{os.fspath(path)!r} is not a state dict (a mapping of parameter names to tensors)")
    if all(str(k).startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return {str(k): v for k, v in state.items()}


def load_pretrained(model: nn.Module, path: str | os.PathLike[str]) -> list[str]:
    """Load an upstream weight file into ``model`` strictly: every feature key present with its shape, nothing
    unknown. The image-classifier keys (``model.head_prefixes``) may be absent or of any class count: a video head
    replaces them. Returns the classifier keys of the file that were not loaded."""
    state = read_state_dict(path)
    prefixes = tuple(getattr(model, "head_prefixes", ()))
    expected = model.state_dict()
    body_expected = {k for k in expected if not k.startswith(prefixes)}
    body_file = {k for k in state if not k.startswith(prefixes)}
    missing = sorted(body_expected - body_file)
    unexpected = sorted(body_file - body_expected)
    if missing or unexpected:
        raise ReidError(
            f"{os.fspath(path)!r} does not match the {type(model).__name__} backbone: "
            f"missing keys {_shorten(missing)}, unexpected keys {_shorten(unexpected)}"
        )
    mismatched = [f"{k}: {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in sorted(body_expected)
                  if state[k].shape != expected[k].shape]
    if mismatched:
        raise ReidError(f"{os.fspath(path)!r} has shapes (file vs model) that do not fit: {_shorten(mismatched)}")
    head = {k: v for k, v in state.items() if k.startswith(prefixes)}
    fits = set(head) == {k for k in expected if k.startswith(prefixes)} and all(
        v.shape == expected[k].shape for k, v in head.items())
    loadable = {k: v for k, v in state.items() if k in body_expected or (fits and k in head)}
    with torch.no_grad():
        result = model.load_state_dict(loadable, strict=False)
    leftover = [k for k in result.missing_keys if not k.startswith(prefixes)]
    if leftover or result.unexpected_keys:  # cannot happen after the checks above; never load half a model silently
        raise ReidError(f"{os.fspath(path)!r}: keys not loaded: {_shorten(leftover + result.unexpected_keys)}")
    return [] if fits else sorted(head)


def _shorten(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}] ({len(items)})"

"""Model registry: names -> builders, ``create_model`` and ``list_models``."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

from reid_train.models.asta import build_asta
from reid_train.models.sta import build_sta
from reid_train.models.tp import build_tp
from reid_train.models.video_model import VideoReIDModel

_REGISTRY: dict[str, tuple[Callable[..., VideoReIDModel], dict[str, Any]]] = {}


def register_model(name: str, builder: Callable[..., VideoReIDModel], **fixed: Any) -> None:
    """Register ``name`` as ``builder(**fixed, num_classes=..., **user_kwargs)``; ``fixed`` cannot be overridden."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    inspect.signature(builder).bind_partial(**fixed)  # fails early on a fixed argument the builder does not take
    _REGISTRY[name] = (builder, fixed)


def backbone_of(name: str) -> str | None:
    """The backbone a registered model sits on (``sta_osnet_x1_0`` -> ``osnet_x1_0``); None for unknown names."""
    entry = _REGISTRY.get(name)
    return None if entry is None else entry[1].get("backbone")


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, *, num_classes: int, **kwargs: Any) -> VideoReIDModel:
    """Build a registered model; ``model.model_config`` records every architecture argument (not ``pretrained``)."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} (available: {', '.join(list_models())})")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    builder, fixed = _REGISTRY[name]
    signature = inspect.signature(builder)
    accepted = [p for p in signature.parameters if p not in fixed and p != "num_classes"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"model {name!r} does not take {', '.join(unknown)}; it accepts {', '.join(accepted)}")
    bound = signature.bind(**fixed, num_classes=num_classes, **kwargs)
    bound.apply_defaults()
    model = builder(*bound.args, **bound.kwargs)
    config = {k: v for k, v in bound.arguments.items() if k not in fixed and k != "pretrained"}
    model.model_config = {"name": name, **config}
    return model


# Registry suffix -> backbone (``backbones.BACKBONES``); every head on every backbone.
BACKBONE_SUFFIXES = {
    "tiny": "resnet_tiny", "resnet18": "resnet18", "resnet34": "resnet34", "resnet50": "resnet50",
    "osnet_x1_0": "osnet_x1_0", "osnet_x0_75": "osnet_x0_75", "osnet_x0_5": "osnet_x0_5", "osnet_x0_25": "osnet_x0_25",
    "mobilenetv3_large": "mobilenetv3_large", "mobilenetv3_small": "mobilenetv3_small",
}
for _family, _builder in (("sta", build_sta), ("tp", build_tp), ("asta", build_asta)):
    for _suffix, _backbone in BACKBONE_SUFFIXES.items():
        register_model(f"{_family}_{_suffix}", _builder, backbone=_backbone)

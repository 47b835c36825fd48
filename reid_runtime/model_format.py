"""The contract between exported models and the runtime: graph I/O names and the metadata they carry.

Every exported ONNX graph stores these keys in ``metadata_props`` (plain strings; JSON where structured), and a
TensorRT engine stores the same dict in its ``<engine>.json`` sidecar, so a runtime never needs a side channel.

Graphs (all inputs are raw RGB float32 0..255; normalization is inside the graph):

* ``role=full``: ``frames`` (batch, seq, 3, H, W) -> ``embedding`` (batch, D). ``batch`` and ``seq`` dynamic.
* ``role=backbone`` (split export): ``frames`` (frames, 3, H, W) -> ``scores`` (frames, K) and ``strips``
  (frames, K, C): each frame's un-normalised block scores and block-pooled features (STA Eq. 1-3; TP has K=1 and
  scores of 1). Frames of any tracklets can share one call.
* ``role=head`` (split export): ``fused`` (batch, F) -> ``embedding`` (batch, D): the learned part after the
  parameter-free aggregation, which the runtime computes in numpy (``aggregation`` = ``sta`` or ``mean``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FORMAT = "reid-toolkit-model/1"

INPUT_FRAMES = "frames"
OUTPUT_EMBEDDING = "embedding"
OUTPUT_SCORES = "scores"
OUTPUT_STRIPS = "strips"
INPUT_FUSED = "fused"

ROLES = ("full", "backbone", "head")
AGGREGATIONS = ("sta", "mean", "none")  # none: not splittable (e.g. ASTA's temporal convolution)
PREFIX = "reid."


@dataclass
class ModelInfo:
    """What a runtime needs to know about an exported model."""

    role: str
    architecture: str
    input_size: tuple[int, int]
    embedding_dim: int
    metric: str
    aggregation: str = "none"
    num_regions: int = 1
    precision: str = "fp32"
    seq_lengths_verified: list[int] = field(default_factory=list)
    batch_sizes_verified: list[int] = field(default_factory=list)
    model_config: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    companion: str = ""          # split export: file name of the other graph (backbone <-> head)
    toolkit_version: str = ""
    normalization: str = "inside the graph: (x - 255*ImageNet mean) / (255*ImageNet std); input raw RGB 0..255"

    def to_props(self) -> dict[str, str]:
        """String key/values for ONNX ``metadata_props`` (and the TensorRT sidecar)."""
        props = {f"{PREFIX}format": FORMAT}
        for key, value in self.__dict__.items():
            if key == "input_size":
                value = f"{value[0]}x{value[1]}"
            elif isinstance(value, (list, dict)):
                value = json.dumps(value, sort_keys=True)
            props[PREFIX + key] = str(value)
        return props

    @classmethod
    def from_props(cls, props: dict[str, str], source: str = "model") -> ModelInfo:
        """Parse metadata written by :meth:`to_props`; every error is one line naming ``source``, the key, its value
        and what was expected (a ``ReidError``)."""
        from reid_runtime.errors import ReidError

        if not isinstance(props, Mapping):
            raise ReidError(f"{source}: the model metadata is a {type(props).__name__}, expected string key/values")
        if props.get(f"{PREFIX}format") != FORMAT:
            raise ReidError(
                f"{source}: not a reid-toolkit export (metadata key '{PREFIX}format' is "
                f"{_short(props.get(PREFIX + 'format'))}, expected '{FORMAT}'); export it with "
                "`reid export --format onnx`"
            )
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            raw = props.get(PREFIX + name)
            if raw is None:
                continue
            parse, expected = _PARSERS.get(name, (_text, "a string"))
            try:
                if not isinstance(raw, str):
                    raise TypeError(raw)
                values[name] = parse(raw)
            except (ValueError, TypeError, AttributeError):
                raise ReidError(f"{source}: metadata {PREFIX}{name} is {_short(raw)}, expected {expected}; "
                                "the file is damaged or was not written by `reid export`") from None
        missing = [k for k in ("role", "architecture", "input_size", "embedding_dim", "metric") if k not in values]
        if missing:
            raise ReidError(f"{source}: reid-toolkit metadata lacks {', '.join(PREFIX + k for k in missing)}")
        for name, allowed in (("role", ROLES), ("aggregation", AGGREGATIONS), ("metric", METRICS)):
            if name in values and values[name] not in allowed:
                raise ReidError(f"{source}: metadata {PREFIX}{name} is {_short(values[name])}, expected one of "
                                f"{', '.join(allowed)}")
        return cls(**values)


METRICS = ("euclidean", "cosine")  # reid_runtime.metrics.distance.METRICS


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _text(raw: str) -> str:
    return raw


def _positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value < 1:
        raise ValueError(raw)
    return value


def _size(raw: str) -> tuple[int, int]:
    height, width = raw.lower().split("x")
    return _positive_int(height), _positive_int(width)


def _ints(raw: str) -> list[int]:
    value = json.loads(raw)
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(raw)
    return value


def _mapping(raw: str) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(raw)
    return value


_PARSERS: dict[str, tuple[Any, str]] = {
    "input_size": (_size, "HxW with positive integers, e.g. 256x128"),
    "embedding_dim": (_positive_int, "a positive integer"),
    "num_regions": (_positive_int, "a positive integer"),
    "seq_lengths_verified": (_ints, "a JSON list of integers"),
    "batch_sizes_verified": (_ints, "a JSON list of integers"),
    "model_config": (_mapping, "a JSON object"),
    "recipe": (_mapping, "a JSON object"),
}

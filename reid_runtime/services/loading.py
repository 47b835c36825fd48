"""The ``model`` argument of a service: a model file, a registry name or an already loaded ``ReidModel``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reid_runtime.errors import ReidError

if TYPE_CHECKING:
    from reid_runtime.model import ReidModel

def as_model(model: str | os.PathLike[str] | ReidModel, *, backend: str = "auto", threads: int | None = None,
             providers: list[Any] | None = None, input_size: tuple[int, int] | None = None) -> ReidModel:
    """``model`` itself when it is loaded already, else ``reid_runtime.load(model, ...)``.

    ``input_size`` (H, W) applies to registry names only (a file has its own); the loading options are refused
    for a model that is loaded already, since they could not take effect.
    """
    from reid_runtime.model import ReidModel

    if isinstance(model, ReidModel):
        given = [name for name, value in (("backend", backend != "auto"), ("threads", threads is not None),
                                          ("providers", providers is not None),
                                          ("input_size", input_size is not None)) if value]
        if given:
            raise ReidError(f"the model is loaded already; {', '.join(given)} apply only when the service loads it "
                            "(pass a path or a registry name instead)")
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise ReidError(f"model must be a file path, a registry name or a loaded ReidModel, got {type(model).__name__}")
    options: dict[str, Any] = {}
    if input_size is not None:
        options["input_size"] = tuple(int(v) for v in input_size)
    return load_model(model, backend=backend, threads=threads, providers=providers, **options)


def load_model(model: str | os.PathLike[str], **options: Any) -> ReidModel:
    """``reid_runtime.load(model, **options)``; a missing extra (a checkpoint without torch) names the model too."""
    from reid_runtime.model import load
    from reid_runtime.plugins import MissingExtraError

    try:
        return load(model, **options)
    except MissingExtraError as exc:
        raise MissingExtraError(f"{model}: {exc}") from None


def model_label(given: Any, model: ReidModel) -> str:
    """How reports name the model: the path or registry name as given, else the loaded model's file."""
    if isinstance(given, (str, os.PathLike)):
        return str(given)
    return str(model.path)


def model_name(label: str) -> str:
    """The short form of a model label for table rows: the file name, or the registry name."""
    return Path(label).name

"""The model description service: a path, a registry name or a loaded model; what it reports."""

from __future__ import annotations

import pytest

import reid_runtime
from reid_runtime.services.info import ModelDescription, inspect_model


def test_loaded_model_equals_its_path(sta_split):
    by_path = inspect_model(sta_split)
    loaded = inspect_model(reid_runtime.load(sta_split))
    assert isinstance(by_path, ModelDescription) and loaded.to_dict() == by_path.to_dict()
    assert by_path.kind == "onnx split backbone" and by_path.num_regions == 4 and by_path.aggregation == "sta"
    labels = [label for label, _ in by_path.lines()]
    assert labels[:4] == ["model", "kind", "backend", "architecture"] and "companion" in labels


def test_registry_name_is_untrained_at_the_default_size():
    pytest.importorskip("torch")
    description = inspect_model("sta_tiny")
    assert description.kind == "registry name" and description.input_size == (256, 128)
    assert description.file_size is None and description.recipe == {} and description.streaming
    assert description.toolkit_version == reid_runtime.__version__
    assert "none recorded" in dict(description.lines())["recipe"]

"""MobileNetV3 Large / Small against torchvision: state-dict layout, feature maps and logits for the same weights,
and the re-ID last stride 1 (16x8 maps at 256x128 with the same weights).

The references in tests/fixtures/upstream/ were made once by torchvision 0.28.0 (see the README there), whose
MobileNetV3 has stride 32: ours matches it with ``last_stride=2``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest
import torch

from reid_train.models.mobilenetv3 import MOBILENETV3_CONFIGS, create_mobilenetv3

NAMES = {"mobilenetv3_large": "mobilenet_v3_large", "mobilenetv3_small": "mobilenet_v3_small"}
# the first depthwise conv of the last stage, the one ``last_stride`` sets (features.<i>.block.1.0)
LAST_STAGE = {"mobilenetv3_large": 13, "mobilenetv3_small": 9}
# max|ours - torchvision| / max|torchvision|; measured 1.3e-5 for Large (upstream's own reruns differ by up to 2.6e-5)
REL = 1e-4


def test_both_variants_are_known() -> None:
    assert sorted(MOBILENETV3_CONFIGS) == sorted(NAMES)
    with pytest.raises(ValueError, match="unknown MobileNetV3 'mobilenetv3_huge'"):
        create_mobilenetv3("mobilenetv3_huge")
    with pytest.raises(ValueError, match="last_stride must be 1 or 2, got 4"):
        create_mobilenetv3("mobilenetv3_small", last_stride=4)


@pytest.mark.parametrize("name", sorted(NAMES))
def test_state_dict_layout_equals_torchvision(name: str, layouts: dict, layout: Callable, state_layout: Callable
                                              ) -> None:
    ours = state_layout(create_mobilenetv3(name, last_stride=2))
    theirs = layout(NAMES[name])
    assert sorted(set(ours) - set(theirs)) == [] and sorted(set(theirs) - set(ours)) == []
    assert {key: ours[key] for key in sorted(ours) if ours[key] != theirs[key]} == {}
    assert len(ours) == layouts[NAMES[name]]["num_keys"]


@pytest.mark.parametrize("name", sorted(NAMES))
def test_features_and_logits_equal_torchvision(name: str, layouts: dict, features: dict, upstream: ModuleType,
                                               layout: Callable, assert_close_to_scale: Callable) -> None:
    model = create_mobilenetv3(name, last_stride=2)
    model.load_state_dict(upstream.fill_state(layout(NAMES[name])), strict=True)
    model.eval()
    x = upstream.normalise(features["input_raw"])
    with torch.no_grad():
        maps = model.forward_features(x)
        logits = model(x)
    assert list(maps.shape) == layouts[NAMES[name]]["feature_shape_input"]
    assert_close_to_scale(maps, features[NAMES[name]], f"{name} features", rel=REL, against="torchvision")
    assert_close_to_scale(logits, features[f"{NAMES[name]}__embedding"], f"{name} logits", rel=REL,
                          against="torchvision")


@pytest.mark.parametrize("name", sorted(NAMES))
def test_last_stride_one_keeps_the_weights_and_gives_16x8_maps(name: str, layouts: dict, upstream: ModuleType,
                                                               layout: Callable, state_layout: Callable) -> None:
    model = create_mobilenetv3(name)  # the re-ID default
    assert model.last_stride == 1
    assert state_layout(model) == layout(NAMES[name])  # same keys, shapes and dtypes as the stride-32 network
    model.load_state_dict(upstream.fill_state(layout(NAMES[name])), strict=True)
    depthwise = model.features[LAST_STAGE[name]].block[1][0]
    assert depthwise.stride == (1, 1) and depthwise.groups == depthwise.in_channels
    assert create_mobilenetv3(name, last_stride=2).features[LAST_STAGE[name]].block[1][0].stride == (2, 2)
    with torch.no_grad():
        maps = model.eval().forward_features(torch.rand(1, 3, 256, 128) * 4 - 2)
    channels = layouts[NAMES[name]]["feature_shape_256x128"][0]
    assert tuple(maps.shape) == (1, channels, 16, 8) and model.out_channels == channels
    assert layouts[NAMES[name]]["feature_shape_256x128"][1:] == [8, 4]  # what upstream's stride 32 gives instead
    assert torch.isfinite(maps).all()


def test_reset_classifier_returns_the_pooled_map() -> None:
    model = create_mobilenetv3("mobilenetv3_small", num_classes=5).eval()
    x = torch.rand(2, 3, 64, 32)
    assert model(x).shape == (2, 5)
    model.reset_classifier(0)
    assert model(x).shape == (2, 576)
    assert not any(key.startswith("classifier.") for key in model.state_dict())

"""OSNet against torchreid: state-dict layout, feature maps and embeddings for the same weights, torchreid's own files.

The references in tests/fixtures/upstream/ were made once by torchreid 0.2.5 (see the README there); the weights are
``fill_state(layout)`` from the generator script, which imports nothing but numpy and torch at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

from reid_train.models import create_model
from reid_train.models.backbones import load_pretrained, read_state_dict
from reid_train.models.osnet import OSNET_CHANNELS, create_osnet
from reid_train.models.video_model import reid_backbone

NAMES = ["osnet_x1_0", "osnet_x0_75", "osnet_x0_5", "osnet_x0_25"]
# max|ours - torchreid| / max|torchreid|: the fill rule makes OSNet activations large (mean |feature| ~1e5 for x1_0),
# so the bound scales with the tensor; measured ~3e-6 here, upstream's own rerun gave 3.4e-6.
REL = 1e-4


def test_all_four_widths_are_known() -> None:
    assert sorted(OSNET_CHANNELS) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_layout_equals_torchreid(name: str, layouts: dict, upstream: ModuleType, layout: Callable,
                                            state_layout: Callable) -> None:
    model = create_osnet(name, num_classes=10)
    ours = state_layout(model)
    theirs = layout(name)
    assert sorted(set(ours) - set(theirs)) == [] and sorted(set(theirs) - set(ours)) == []
    assert {key: ours[key] for key in sorted(ours) if ours[key] != theirs[key]} == {}
    assert len(ours) == layouts[name]["num_keys"]
    model.load_state_dict(upstream.fill_state(theirs), strict=True)
    channels, height, width = layouts[name]["feature_shape_256x128"]
    assert model.out_channels == channels and model.feature_size((256, 128)) == (height, width) == (16, 8)


@pytest.mark.parametrize("name", NAMES)
def test_features_and_embedding_equal_torchreid(name: str, layouts: dict, features: dict, upstream: ModuleType,
                                                layout: Callable, assert_close_to_scale: Callable) -> None:
    model = create_osnet(name, num_classes=10)
    model.load_state_dict(upstream.fill_state(layout(name)), strict=True)
    model.eval()
    x = upstream.normalise(features["input_raw"])
    with torch.no_grad():
        maps = model.forward_features(x)
        embedding = model(x)
    assert list(maps.shape) == layouts[name]["feature_shape_input"]
    assert_close_to_scale(maps, features[name], f"{name} featuremaps", rel=REL, against="torchreid")
    assert_close_to_scale(embedding, features[f"{name}__embedding"], f"{name} eval forward (fc feature)", rel=REL,
                          against="torchreid")


def test_video_model_raw_pixels_reproduce_torchreid_maps(tmp_path: Path, features: dict, upstream: ModuleType,
                                                         layout: Callable, assert_close_to_scale: Callable) -> None:
    """The issue's target: a torchreid-saved state dict, through the model's public raw-pixel input (B=1, T=2)."""
    state = upstream.fill_state(layout("osnet_x1_0"))
    path = tmp_path / "osnet_x1_0_torchreid.pth"
    torch.save(state, path)
    model = create_model("tp_osnet_x1_0", num_classes=10, input_size=(128, 64), pretrained=str(path)).eval()
    loaded = model.backbone.state_dict()
    assert set(loaded) == {key for key in state if not key.startswith(("fc.", "classifier."))}
    assert all(torch.equal(value, state[key]) for key, value in loaded.items())
    frames = torch.from_numpy(features["input_raw"]).reshape(1, 2, 3, 128, 64)  # raw 0..255, normalised inside
    with torch.no_grad():
        maps = model.forward_features(frames)
    assert tuple(maps.shape) == (1, 2, 512, 8, 4)
    assert_close_to_scale(maps, features["osnet_x1_0"].reshape(1, 2, 512, 8, 4), "tp_osnet_x1_0 forward_features",
                          rel=REL, against="torchreid")


def test_torchreid_state_dict_and_checkpoint_load_by_path(layouts: dict, features: dict, upstream_dir: Path,
                                                          torchreid_file: Path, assert_close_to_scale: Callable
                                                          ) -> None:
    """torchreid's ``torch.save(model.state_dict())`` and its training checkpoint (``module.`` keys) give the same
    backbone, whose maps are torchreid's."""
    torchreid_checkpoint = upstream_dir / "osnet_x0_25_torchreid_checkpoint.pth.tar"
    saved = torch.load(torchreid_file, weights_only=True)
    checkpoint = torch.load(torchreid_checkpoint, weights_only=True)
    assert all(key.startswith("module.") for key in checkpoint["state_dict"])  # the real DataParallel layout
    assert read_state_dict(torchreid_checkpoint).keys() == read_state_dict(torchreid_file).keys() == saved.keys()

    backbone = reid_backbone("osnet_x0_25", last_stride=1, width=None, pretrained=torchreid_file)
    from_file = create_model("sta_osnet_x0_25", num_classes=10, input_size=(128, 64), pretrained=torchreid_file)
    from_checkpoint = create_model("sta_osnet_x0_25", num_classes=10, input_size=(128, 64),
                                   pretrained=str(torchreid_checkpoint))
    body = {key: value for key, value in saved.items() if not key.startswith(("fc.", "classifier."))}
    for net in (backbone, from_file.backbone, from_checkpoint.backbone):
        state = net.state_dict()
        assert state.keys() == body.keys()
        assert all(torch.equal(state[key], value) for key, value in body.items())

    frames = torch.from_numpy(features["input_raw"]).unsqueeze(1)  # B=2 tracklets of T=1 frame
    with torch.no_grad():
        maps = from_checkpoint.eval().forward_features(frames)
    assert_close_to_scale(maps.squeeze(1), features["osnet_x0_25"], "sta_osnet_x0_25 from the torchreid checkpoint",
                          rel=REL, against="torchreid")


def test_torchreid_file_with_its_classifier_loads_whole(features: dict, upstream: ModuleType, torchreid_file: Path,
                                                        assert_close_to_scale: Callable) -> None:
    """Same class count (10): the classifier loads too, nothing is reported as left out, eval output is torchreid's."""
    model = create_osnet("osnet_x0_25", num_classes=10)
    assert load_pretrained(model, torchreid_file) == []
    saved = torch.load(torchreid_file, weights_only=True)
    assert torch.equal(model.classifier.weight, saved["classifier.weight"])
    with torch.no_grad():
        embedding = model.eval()(upstream.normalise(features["input_raw"]))
    assert_close_to_scale(embedding, features["osnet_x0_25__embedding"], "osnet_x0_25 eval forward", rel=REL,
                          against="torchreid")


def test_last_stride_two_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"does not downsample.*last_stride must be 1, got 2"):
        create_osnet("osnet_x0_25", last_stride=2)
    with pytest.raises(ValueError, match="unknown OSNet 'osnet_x2_0'"):
        create_osnet("osnet_x2_0")


def test_train_mode_logits_and_reset_classifier() -> None:
    model = create_osnet("osnet_x0_25", num_classes=7)
    x = torch.rand(2, 3, 64, 32)
    assert model.train()(x).shape == (2, 7)
    assert model.eval()(x).shape == (2, 512)  # the fc feature
    model.reset_classifier(0)
    assert model(x).shape == (2, model.out_channels) == (2, 128)
    assert not any(key.startswith(("fc.", "classifier.")) for key in model.state_dict())

"""Model registry and the shared video wrapper: names, configs that rebuild the model, input handling."""

from __future__ import annotations

import json

import pytest
import torch

from reid_runtime.errors import ReidError
from reid_train.models import VideoReIDModel, create_model, list_models, register_model
from reid_train.models.resnet import resnet_tiny
from reid_train.models.sta import build_sta

REQUIRED = ["sta_resnet50", "sta_resnet18", "sta_tiny", "tp_resnet50", "tp_resnet18", "tp_tiny", "asta_resnet50",
            "asta_tiny"]


def test_required_models_are_listed() -> None:
    assert set(REQUIRED) <= set(list_models())
    assert list_models() == sorted(list_models())


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'sta_tiyn'; did you mean 'sta_tiny'"):
        create_model("sta_tiyn", num_classes=3)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="does not take num_region;.*num_regions"):
        create_model("sta_tiny", num_classes=3, num_region=2)
    with pytest.raises(ValueError, match="does not take backbone"):
        create_model("sta_tiny", num_classes=3, backbone="resnet50")
    with pytest.raises(ValueError, match="num_classes"):
        create_model("tp_tiny", num_classes=0)
    with pytest.raises(ValueError, match="input_size"):
        create_model("tp_tiny", num_classes=3, input_size=(64,))
    with pytest.raises(ValueError, match="already registered"):
        register_model("sta_tiny", build_sta, backbone="resnet_tiny")


@pytest.mark.parametrize(("name", "kwargs"), [
    ("sta_tiny", {"num_regions": 2, "embedding_dim": 32, "fusion": False}),
    ("tp_tiny", {"neck_feat": "before"}),
    ("asta_tiny", {"attribute_schema": "dukev", "detach_attributes": False}),
])
def test_model_config_rebuilds_the_same_model(name: str, kwargs: dict) -> None:
    model = create_model(name, num_classes=4, input_size=(64, 32), width=8, **kwargs).eval()
    config = json.loads(json.dumps(model.model_config))  # as a checkpoint would store it (tuples become lists)
    assert config["name"] == name and config["num_classes"] == 4 and "pretrained" not in config
    rebuilt = create_model(**config).eval()
    assert json.loads(json.dumps(rebuilt.model_config)) == config
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    frames = torch.rand(2, 3, 3, 64, 32) * 255
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(frames), model(frames))
    assert rebuilt.input_size == (64, 32) and rebuilt.embedding_dim == model.embedding_dim


def test_model_attributes() -> None:
    sta = create_model("sta_tiny", num_classes=3, input_size=(64, 32), width=8)
    assert isinstance(sta, VideoReIDModel)
    assert (sta.embedding_dim, sta.metric, sta.input_size) == (1024, "euclidean", (64, 32))
    assert create_model("sta_tiny", num_classes=3, embedding_dim=16, width=8).embedding_dim == 16
    assert create_model("sta_tiny", num_classes=3, width=8).input_size == (256, 128)


def test_pretrained_backbone_is_loaded_and_its_fc_dropped(tmp_path) -> None:
    source = resnet_tiny(width=8)
    path = tmp_path / "tiny_imagenet.pth"
    torch.save(source.state_dict(), path)  # torchvision format, with the 1000-class fc
    model = create_model("tp_tiny", num_classes=3, width=8, pretrained=str(path))
    assert torch.equal(model.backbone.conv1.weight, source.conv1.weight)
    assert torch.equal(model.backbone.layer4[0].bn2.running_var, source.layer4[0].bn2.running_var)
    assert not any(key.startswith("backbone.fc.") for key in model.state_dict())
    with pytest.raises(ReidError, match="tiny_imagenet.pth"):
        create_model("tp_tiny", num_classes=3, width=16, pretrained=str(path))


def test_frames_are_normalised_inside_the_model() -> None:
    model = create_model("tp_tiny", num_classes=3, input_size=(64, 32), width=8).eval()
    frames = torch.rand(2, 3, 3, 64, 32) * 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    with torch.no_grad():
        expected = model.backbone.forward_features(((frames / 255 - mean) / std).flatten(0, 1))
        feats = model.forward_features(frames)
    assert feats.shape == (2, 3, 64, 4, 2)
    torch.testing.assert_close(feats, expected.unflatten(0, (2, 3)), atol=1e-5, rtol=1e-4)


def test_bad_frames_are_rejected() -> None:
    model = create_model("tp_tiny", num_classes=3, input_size=(64, 32), width=8).eval()
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        model(torch.rand(2, 3, 64, 32))
    with pytest.raises(ValueError, match="float"):
        model(torch.zeros(1, 2, 3, 64, 32, dtype=torch.uint8))


NEW_BACKBONES = ["osnet_x1_0", "osnet_x0_75", "osnet_x0_5", "osnet_x0_25", "mobilenetv3_large", "mobilenetv3_small"]
CHANNELS = {"osnet_x1_0": 512, "osnet_x0_75": 384, "osnet_x0_5": 256, "osnet_x0_25": 128, "mobilenetv3_large": 960,
            "mobilenetv3_small": 576}


@pytest.mark.parametrize("head", ["sta", "tp", "asta"])
@pytest.mark.parametrize("backbone", NEW_BACKBONES)
def test_every_head_builds_on_osnet_and_mobilenet(head: str, backbone: str) -> None:
    name = f"{head}_{backbone}"
    assert name in list_models()
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, input_size=(128, 64)).eval()
    assert model.backbone.out_channels == CHANNELS[backbone]
    assert model.backbone.feature_size((128, 64)) == (8, 4)  # stride 16 for both families by default
    frames = torch.rand(2, 3, 3, 128, 64) * 255  # B=2, T=3
    with torch.no_grad():
        feats = model.forward_features(frames)
        embedding = model(frames)
    assert tuple(feats.shape) == (2, 3, CHANNELS[backbone], 8, 4)
    assert tuple(embedding.shape) == (2, model.embedding_dim) and torch.isfinite(embedding).all()
    assert not any(key.startswith(("backbone.fc.", "backbone.classifier.")) for key in model.state_dict())
    assert model.model_config["name"] == name and "backbone" not in model.model_config


@pytest.mark.parametrize("name", ["sta_osnet_x1_0", "tp_osnet_x0_25", "asta_osnet_x0_5"])
def test_osnet_width_is_a_value_error_naming_the_backbone(name: str) -> None:
    backbone = name.split("_", 1)[1]
    with pytest.raises(ValueError, match=f"backbone '{backbone}' has a fixed width.*width=32"):
        create_model(name, num_classes=5, input_size=(128, 64), width=32)


def test_osnet_last_stride_two_is_a_value_error_saying_why() -> None:
    with pytest.raises(ValueError, match=r"OSNet's last stage does not downsample.*last_stride must be 1, got 2"):
        create_model("tp_osnet_x0_25", num_classes=5, input_size=(128, 64), last_stride=2)


def test_mobilenet_last_stride_two_halves_the_map() -> None:
    model = create_model("tp_mobilenetv3_small", num_classes=5, input_size=(128, 64), last_stride=2).eval()
    assert model.model_config["last_stride"] == 2 and model.backbone.feature_size((128, 64)) == (4, 2)
    with torch.no_grad():
        assert tuple(model.forward_features(torch.rand(1, 2, 3, 128, 64) * 255).shape) == (1, 2, 576, 4, 2)

"""ResNet backbones: torchvision key names and parameter counts, last stride, strict loading of state dicts."""

from __future__ import annotations

import math

import pytest
import torch

from reid_runtime.errors import ReidError
from reid_train.models.backbones import load_pretrained
from reid_train.models.resnet import create_resnet, resnet18, resnet50, resnet_tiny


@pytest.fixture(scope="module")
def r50_last_stride1() -> torch.nn.Module:
    return resnet50(last_stride=1).eval()


def test_parameter_counts_match_torchvision(r50_last_stride1: torch.nn.Module) -> None:
    assert sum(p.numel() for p in r50_last_stride1.parameters()) == 25_557_032  # 25.56 M
    assert sum(p.numel() for p in resnet18().parameters()) == 11_689_512  # 11.69 M


def test_state_dict_keys_follow_torchvision(r50_last_stride1: torch.nn.Module) -> None:
    state = r50_last_stride1.state_dict()
    assert state["conv1.weight"].shape == (64, 3, 7, 7)
    assert state["layer4.0.downsample.0.weight"].shape == (2048, 1024, 1, 1)
    assert state["layer4.0.downsample.1.running_mean"].shape == (2048,)
    assert state["layer3.5.bn2.running_var"].shape == (256,)
    assert state["layer1.0.conv3.weight"].shape == (256, 64, 1, 1)
    assert state["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)
    assert state["fc.weight"].shape == (1000, 2048)
    assert "bn1.num_batches_tracked" in state
    assert "layer3.6.conv1.weight" not in state
    small = resnet18().state_dict()
    assert "layer4.1.bn2.weight" in small and "layer1.0.conv3.weight" not in small
    assert "layer1.0.downsample.0.weight" not in small and "layer2.0.downsample.0.weight" in small


def test_last_stride_one_gives_16x8_maps(r50_last_stride1: torch.nn.Module) -> None:
    assert r50_last_stride1.layer4[0].conv2.stride == (1, 1)
    assert r50_last_stride1.layer4[0].downsample[0].stride == (1, 1)
    assert r50_last_stride1.layer4[0].conv1.stride == (1, 1)  # v1.5: the stride is on conv2 only
    assert r50_last_stride1.layer2[0].conv2.stride == (2, 2)
    with torch.no_grad():
        out = r50_last_stride1.forward_features(torch.zeros(1, 3, 256, 128))
    assert out.shape == (1, 2048, 16, 8)
    assert r50_last_stride1.feature_size((256, 128)) == (16, 8)


@pytest.mark.parametrize("last_stride", [1, 2])
@pytest.mark.parametrize("size", [(64, 32), (70, 45), (96, 33)])
def test_feature_size_matches_forward(last_stride: int, size: tuple[int, int]) -> None:
    model = resnet_tiny(width=8, last_stride=last_stride).eval()
    with torch.no_grad():
        out = model.forward_features(torch.zeros(1, 3, *size))
    assert tuple(out.shape[-2:]) == model.feature_size(size)


def test_torchvision_initialisation() -> None:
    model = resnet_tiny(width=32)
    weight = model.layer4[0].conv2.weight
    fan_out = weight.shape[0] * weight.shape[2] * weight.shape[3]
    assert weight.std().item() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.03)
    assert torch.all(model.layer3[0].bn2.weight == 1) and torch.all(model.layer3[0].bn2.bias == 0)


def test_forward_returns_fc_output_and_reset_classifier_removes_it() -> None:
    model = resnet_tiny(width=8, num_classes=10).eval()
    assert model(torch.zeros(2, 3, 64, 32)).shape == (2, 10)
    model.reset_classifier(0)
    assert model(torch.zeros(2, 3, 64, 32)).shape == (2, model.out_channels)
    assert not any(key.startswith("fc.") for key in model.state_dict())


def test_state_dict_round_trip_loads_strictly(tmp_path) -> None:
    source = resnet_tiny(width=8)
    torch.nn.init.normal_(source.bn1.running_mean)
    path = tmp_path / "tiny.pth"
    torch.save(source.state_dict(), path)
    target = resnet_tiny(width=8)
    load_pretrained(target, path)
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key]), key
    x = torch.rand(2, 3, 64, 32)
    assert torch.equal(source.eval()(x), target.eval()(x))


def test_load_pretrained_names_file_and_missing_or_unexpected_keys(tmp_path) -> None:
    state = resnet_tiny(width=8).state_dict()
    del state["layer2.0.bn1.running_var"]
    state["head.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(ReidError, match=r"broken\.pth.*layer2\.0\.bn1\.running_var.*head\.weight"):
        load_pretrained(resnet_tiny(width=8), path)


def test_load_pretrained_rejects_other_shapes_and_non_state_dicts(tmp_path) -> None:
    path = tmp_path / "wide.pth"
    torch.save(resnet_tiny(width=16).state_dict(), path)
    with pytest.raises(ReidError, match=r"wide\.pth.*conv1\.weight"):
        load_pretrained(resnet_tiny(width=8), path)
    junk = tmp_path / "junk.pth"
    torch.save({"epoch": 3}, junk)
    with pytest.raises(ReidError, match="junk.pth.*not a state dict"):
        load_pretrained(resnet_tiny(width=8), junk)
    with pytest.raises(ReidError, match="missing.pth"):
        load_pretrained(resnet_tiny(width=8), tmp_path / "missing.pth")


def test_create_resnet_rejects_unknown_names_and_strides() -> None:
    with pytest.raises(ValueError, match="resnet101"):
        create_resnet("resnet101")
    with pytest.raises(ValueError, match="last_stride"):
        create_resnet("resnet18", last_stride=3)

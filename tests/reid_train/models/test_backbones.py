"""The backbone table and weight loading: sizes and costs against upstream, feature_size against real forwards,
and ``load_pretrained``'s one-line refusals of files that do not fit (on an OSNet, the torchreid layout)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from reid_runtime.errors import ReidError
from reid_train.models.backbones import BACKBONES, create_backbone, load_pretrained, read_state_dict

# ours -> upstream name and the classifier size upstream was built with (torchreid: 10 ids, torchvision: ImageNet)
UPSTREAM_NAMES = {
    "osnet_x1_0": ("osnet_x1_0", 10), "osnet_x0_75": ("osnet_x0_75", 10), "osnet_x0_5": ("osnet_x0_5", 10),
    "osnet_x0_25": ("osnet_x0_25", 10), "mobilenetv3_large": ("mobilenet_v3_large", 1000),
    "mobilenetv3_small": ("mobilenet_v3_small", 1000),
}
HEAD_KEYS = ["classifier.bias", "classifier.weight", "fc.0.bias", "fc.0.weight", "fc.1.bias",
             "fc.1.num_batches_tracked", "fc.1.running_mean", "fc.1.running_var", "fc.1.weight"]


@pytest.fixture()
def torchreid_state(torchreid_file: Path) -> dict[str, torch.Tensor]:
    """torchreid's osnet_x0_25 state dict (10-class classifier), a fresh copy per test to break."""
    return torch.load(torchreid_file, weights_only=True)


def refusal(path: Path, model: torch.nn.Module, pattern: str) -> None:
    """Load ``path`` into ``model``, expect a one-line ReidError naming the file and matching ``pattern``."""
    with pytest.raises(ReidError) as info:
        load_pretrained(model, path)
    message = str(info.value)
    assert "\n" not in message and path.name in message, message
    assert re.search(pattern, message), message


def test_table_lists_every_family() -> None:
    families = {name: info.family for name, info in BACKBONES.items()}
    assert {name for name, family in families.items() if family == "osnet"} == {
        "osnet_x1_0", "osnet_x0_75", "osnet_x0_5", "osnet_x0_25"}
    assert {name for name, family in families.items() if family == "mobilenetv3"} == {
        "mobilenetv3_large", "mobilenetv3_small"}
    assert BACKBONES["osnet_x1_0"].upstream == "torchreid" and BACKBONES["mobilenetv3_small"].upstream == "torchvision"
    with pytest.raises(ValueError, match="unknown backbone 'osnet_x9'"):
        create_backbone("osnet_x9")


@pytest.mark.parametrize("name", ["osnet_x1_0", "mobilenetv3_large"])
def test_width_is_refused_where_it_is_fixed(name: str) -> None:
    with pytest.raises(ValueError, match=f"backbone '{name}' has a fixed width.*width=16"):
        create_backbone(name, width=16)


@pytest.mark.parametrize("name", sorted(UPSTREAM_NAMES))
def test_parameters_and_macs_equal_upstream(name: str, layouts: dict) -> None:
    upstream, num_classes = UPSTREAM_NAMES[name]
    last_stride = 2 if name.startswith("mobilenetv3") else 1  # torchvision's stride 32
    with torch.device("meta"):  # counting needs shapes only: no memory, no arithmetic
        model = create_backbone(name, num_classes=num_classes, last_stride=last_stride).eval()
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.empty(1, 3, 256, 128))
    assert sum(p.numel() for p in model.parameters()) == layouts[upstream]["params_total"]
    macs = counter.get_total_flops() // 2
    assert macs == pytest.approx(layouts[upstream]["macs_flop_counter_256x128"], rel=1e-3)


def test_mobilenet_parameter_counts_are_torchvisions() -> None:
    with torch.device("meta"):
        counts = [sum(p.numel() for p in create_backbone(name).parameters())
                  for name in ("mobilenetv3_large", "mobilenetv3_small")]
    assert counts == [5_483_032, 2_542_856]


@pytest.mark.parametrize(("name", "last_stride"), [
    ("osnet_x0_25", 1), ("mobilenetv3_large", 1), ("mobilenetv3_large", 2), ("mobilenetv3_small", 1),
    ("mobilenetv3_small", 2),
])
def test_feature_size_matches_a_forward(name: str, last_stride: int) -> None:
    model = create_backbone(name, last_stride=last_stride).eval()
    for size in [(64, 32), (70, 45), (97, 33), (129, 65)]:
        with torch.no_grad():
            maps = model.forward_features(torch.zeros(1, 3, *size))
        assert tuple(maps.shape[-2:]) == model.feature_size(size), size
        assert maps.shape[1] == model.out_channels


def test_missing_feature_key_is_named(tmp_path: Path, torchreid_state: dict) -> None:
    del torchreid_state["conv3.1.conv2c.2.bn.running_var"]
    path = tmp_path / "missing_key.pth"
    torch.save(torchreid_state, path)
    refusal(path, create_backbone("osnet_x0_25"),
            r"OSNet backbone: missing keys \[conv3\.1\.conv2c\.2\.bn\.running_var\] \(1\), unexpected keys \[\] \(0\)")


def test_unknown_key_is_named(tmp_path: Path, torchreid_state: dict) -> None:
    torchreid_state["conv6.conv.weight"] = torch.zeros(4, 4, 1, 1)
    path = tmp_path / "extra_key.pth"
    torch.save(torchreid_state, path)
    refusal(path, create_backbone("osnet_x0_25"), r"missing keys \[\] \(0\), unexpected keys \[conv6\.conv\.weight\]")


def test_shape_mismatch_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x0_5_into_x0_25.pth"
    torch.save(create_backbone("osnet_x0_5").state_dict(), path)
    refusal(path, create_backbone("osnet_x0_25"), r"conv1\.conv\.weight: \(32, 3, 7, 7\) vs \(16, 3, 7, 7\)")


@pytest.mark.parametrize("content", [
    {"epoch": 10, "rank1": 0.5},
    {"state_dict": {}},
    [torch.zeros(3)],
    {"conv1.conv.weight": torch.zeros(3), "epoch": 3},
])
def test_non_state_dicts_are_refused(tmp_path: Path, content: object) -> None:
    path = tmp_path / "not_weights.pth"
    torch.save(content, path)
    refusal(path, create_backbone("osnet_x0_25"), "is not a state dict")


def test_missing_file_is_named(tmp_path: Path) -> None:
    refusal(tmp_path / "nowhere.pth", create_backbone("osnet_x0_25"), "not found")


class _Call:
    """Pickles as ``function(*args)``: what the file would run if it were unpickled without restrictions."""

    def __init__(self, function: object, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple:
        return self.function, self.args


@pytest.mark.parametrize("legacy", [False, True])
def test_hostile_pickle_is_refused_before_it_runs(tmp_path: Path, torchreid_state: dict, legacy: bool) -> None:
    marker = tmp_path / "pwned"
    torchreid_state["conv1.conv.weight"] = _Call(os.system, f"touch {marker}")
    path = tmp_path / "hostile.pth"
    torch.save({"state_dict": torchreid_state, "epoch": 1}, path, _use_new_zipfile_serialization=not legacy)
    model = create_backbone("osnet_x0_25")
    before = {key: value.clone() for key, value in model.state_dict().items()}
    refusal(path, model, "pretrained weights file")
    assert not marker.exists()
    assert all(torch.equal(value, before[key]) for key, value in model.state_dict().items())


def test_classifier_absent_or_of_another_class_count_is_not_loaded_and_reported(
        tmp_path: Path, torchreid_state: dict) -> None:
    body = {key: value for key, value in torchreid_state.items() if not key.startswith(("fc.", "classifier."))}
    without_head = tmp_path / "no_head.pth"
    torch.save(body, without_head)
    model = create_backbone("osnet_x0_25", num_classes=10)
    head_before = {key: value.clone() for key, value in model.state_dict().items() if key in HEAD_KEYS}
    assert load_pretrained(model, without_head) == []
    state = model.state_dict()
    assert all(torch.equal(state[key], value) for key, value in body.items())
    assert all(torch.equal(state[key], value) for key, value in head_before.items())

    imagenet = {**torchreid_state, "classifier.weight": torch.ones(1000, 512), "classifier.bias": torch.ones(1000)}
    other_count = tmp_path / "imagenet_1000.pth"
    torch.save(imagenet, other_count)
    model = create_backbone("osnet_x0_25", num_classes=10)
    assert load_pretrained(model, other_count) == HEAD_KEYS  # the whole image head stays as built
    state = model.state_dict()
    assert all(torch.equal(state[key], value) for key, value in body.items())
    assert model.classifier.weight.shape == (10, 512) and not torch.equal(state["fc.0.weight"], imagenet["fc.0.weight"])


def test_read_state_dict_unwraps_checkpoints_and_data_parallel(tmp_path: Path, torchreid_state: dict) -> None:
    path = tmp_path / "wrapped.pth.tar"
    torch.save({"state_dict": {f"module.{key}": value for key, value in torchreid_state.items()}, "epoch": 3}, path)
    state = read_state_dict(path)
    assert list(state) == list(torchreid_state)
    assert all(torch.equal(state[key], value) for key, value in torchreid_state.items())

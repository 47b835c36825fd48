"""OSNet x1.0 / x0.75 / x0.5 / x0.25 (Zhou et al., "Omni-Scale Feature Learning for Person Re-Identification",
ICCV 2019).

Written from the paper; module names follow torchreid (deep-person-reid), so a state dict saved by torchreid
(``model.state_dict()``, ImageNet- or re-ID-pretrained) loads into these models and theirs into torchreid:

- ``conv1`` (7x7 stride 2 conv + BN + ReLU: ``conv1.conv``, ``conv1.bn``), ``maxpool`` (3x3 stride 2);
- ``conv2``, ``conv3``, ``conv4``: sequences of two omni-scale blocks (``conv2.0``, ``conv2.1``); ``conv2`` and
  ``conv3`` end with a transition (``conv2.2.0``: 1x1 conv + BN + ReLU, ``conv2.2.1``: 2x2 average pooling);
- ``conv5``: 1x1 conv + BN + ReLU; ``fc``: Linear + BatchNorm1d + ReLU to 512; ``classifier``: Linear.

An omni-scale block (``OSBlock``) reduces channels by 4 (``conv1``), runs four streams of 1, 2, 3 and 4 lightweight 3x3
convolutions (1x1 conv then a depthwise 3x3, ``conv2a`` .. ``conv2d``) whose outputs are weighted by one shared
channel gate (``gate``: global pooling, ``fc1``, ReLU, ``fc2``, sigmoid) and summed, expands back (``conv3``, no ReLU),
adds the identity (``downsample`` when the width changes) and applies ReLU.

The stride is 16: 256x128 frames give 16x8 maps, like ResNet-50 with last stride 1. ``forward_features`` is
torchreid's ``featuremaps``: the ``conv5`` output.
"""

from __future__ import annotations

from torch import Tensor, nn

from reid_train.models.layers import conv_out_size

# (channels of conv1, conv2, conv3, conv4) per width multiplier; two blocks per stage in every variant
OSNET_CHANNELS = {
    "osnet_x1_0": (64, 256, 384, 512),
    "osnet_x0_75": (48, 192, 288, 384),
    "osnet_x0_5": (32, 128, 192, 256),
    "osnet_x0_25": (16, 64, 96, 128),
}
BLOCKS_PER_STAGE = (2, 2, 2)


class ConvLayer(nn.Module):
    """Conv (no bias) + BN + ReLU; also the 1x1 ``Conv1x1`` of torchreid (same key names)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 padding: int = 0, relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True) if relu else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return x if self.relu is None else self.relu(x)


class LightConv3x3(nn.Module):
    """1x1 conv then a depthwise 3x3 conv, BN, ReLU: the lightweight 3x3 of the paper (Fig. 3)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, groups=out_channels, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv2(self.conv1(x))))


class ChannelGate(nn.Module):
    """The unified aggregation gate: per-channel weights in (0, 1) from the globally pooled input (reduction 16)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)
        self.gate_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        weights = self.gate_activation(self.fc2(self.relu(self.fc1(self.global_avgpool(x)))))
        return x * weights


class OSBlock(nn.Module):
    """Omni-scale residual block: four streams of receptive fields 3, 5, 7 and 9, aggregated by one shared gate."""

    def __init__(self, in_channels: int, out_channels: int, bottleneck_reduction: int = 4) -> None:
        super().__init__()
        mid = out_channels // bottleneck_reduction
        self.conv1 = ConvLayer(in_channels, mid)
        self.conv2a = LightConv3x3(mid, mid)
        self.conv2b = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(2)))
        self.conv2c = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(3)))
        self.conv2d = nn.Sequential(*(LightConv3x3(mid, mid) for _ in range(4)))
        self.gate = ChannelGate(mid)
        self.conv3 = ConvLayer(mid, out_channels, relu=False)
        self.downsample = ConvLayer(in_channels, out_channels, relu=False) if in_channels != out_channels else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        reduced = self.conv1(x)
        streams = (self.conv2a(reduced), self.conv2b(reduced), self.conv2c(reduced), self.conv2d(reduced))
        aggregated = self.gate(streams[0]) + self.gate(streams[1]) + self.gate(streams[2]) + self.gate(streams[3])
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(aggregated) + identity)


class OSNet(nn.Module):
    """OSNet; ``forward_features`` gives the ``conv5`` map, ``forward`` the classifier logits (train) or the 512-d
    ``fc`` feature (eval), as torchreid's model does."""

    head_prefixes = ("fc.", "classifier.")

    def __init__(self, channels: tuple[int, int, int, int], *, num_classes: int = 1000, feature_dim: int = 512,
                 last_stride: int = 1) -> None:
        super().__init__()
        if last_stride != 1:
            raise ValueError(f"OSNet's last stage does not downsample (stride 16: 16x8 maps at 256x128), so "
                             f"last_stride must be 1, got {last_stride}")
        self.last_stride = last_stride
        self.out_channels = channels[3]
        self.conv1 = ConvLayer(3, channels[0], 7, stride=2, padding=3)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = self._stage(channels[0], channels[1], BLOCKS_PER_STAGE[0], transition=True)
        self.conv3 = self._stage(channels[1], channels[2], BLOCKS_PER_STAGE[1], transition=True)
        self.conv4 = self._stage(channels[2], channels[3], BLOCKS_PER_STAGE[2], transition=False)
        self.conv5 = ConvLayer(channels[3], channels[3])
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = feature_dim
        self.fc: nn.Module = nn.Sequential(nn.Linear(channels[3], feature_dim), nn.BatchNorm1d(feature_dim),
                                           nn.ReLU(inplace=True))
        self.classifier: nn.Module = nn.Linear(feature_dim, num_classes)
        self._init_weights()

    @staticmethod
    def _stage(in_channels: int, out_channels: int, blocks: int, *, transition: bool) -> nn.Sequential:
        modules: list[nn.Module] = [OSBlock(in_channels, out_channels)]
        modules += [OSBlock(out_channels, out_channels) for _ in range(1, blocks)]
        if transition:
            modules.append(nn.Sequential(ConvLayer(out_channels, out_channels), nn.AvgPool2d(2, stride=2)))
        return nn.Sequential(*modules)

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def reset_classifier(self, num_classes: int) -> None:
        """New ``num_classes`` classifier on the ``fc`` feature; 0 removes ``fc`` and the classifier (``forward`` then
        returns the pooled ``conv5`` map)."""
        if num_classes > 0:
            self.classifier = nn.Linear(self.feature_dim, num_classes)
        else:
            self.fc = nn.Identity()
            self.classifier = nn.Identity()

    def feature_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """Height and width of the ``conv5`` map for a ``(H, W)`` input (the layer arithmetic, no forward pass)."""
        sizes = []
        for size in input_size:
            size = conv_out_size(conv_out_size(size, 7, 2, 3), 3, 2, 1)  # conv1, maxpool
            sizes.append(conv_out_size(conv_out_size(size, 2, 2, 0), 2, 2, 0))  # the two transitions' pooling
        return sizes[0], sizes[1]

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.conv1(x))
        return self.conv5(self.conv4(self.conv3(self.conv2(x))))

    def forward(self, x: Tensor) -> Tensor:
        feature = self.fc(self.global_avgpool(self.forward_features(x)).flatten(1))
        return feature if not self.training else self.classifier(feature)


def create_osnet(name: str, *, num_classes: int = 1000, last_stride: int = 1) -> OSNet:
    """``osnet_x1_0``, ``osnet_x0_75``, ``osnet_x0_5`` or ``osnet_x0_25``."""
    if name not in OSNET_CHANNELS:
        raise ValueError(f"unknown OSNet {name!r}; expected one of {sorted(OSNET_CHANNELS)}")
    return OSNet(OSNET_CHANNELS[name], num_classes=num_classes, last_stride=last_stride)

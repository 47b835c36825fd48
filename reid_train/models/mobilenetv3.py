"""MobileNetV3-Large and -Small (Howard et al., "Searching for MobileNetV3", ICCV 2019), width 1.0.

Written from the paper's Tables 1-2; module names follow torchvision, so its ImageNet files
(``mobilenet_v3_large-*.pth``, ``mobilenet_v3_small-*.pth``) load by path:

- ``features.0``: 3x3 stride-2 stem (``features.0.0`` conv, ``.1`` BN, ``.2`` hard-swish);
- ``features.1`` .. ``features.N-1``: inverted residual blocks, each a ``block`` sequence of an optional 1x1
  expansion (conv/BN/activation), a depthwise kxk conv (conv/BN/activation), an optional squeeze-and-excitation
  (``fc1``, ``fc2`` 1x1 convs with bias, ReLU, hard-sigmoid) and a 1x1 linear projection (conv/BN);
- ``features.N``: 1x1 conv to 6x the last block width (960 Large, 576 Small) + BN + hard-swish;
- ``classifier``: Linear, hard-swish, Dropout, Linear (``classifier.0``, ``classifier.3``).

BatchNorm uses eps 0.001 and momentum 0.01, as torchvision's. ``last_stride=1`` (the re-ID setting, default) removes
the stride of the last stage's first depthwise conv without changing any weight shape: stride 16, so 256x128 frames
give 16x8 maps (8x4 with ``last_stride=2``).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

from torch import Tensor, nn

from reid_train.models.layers import conv_out_size, make_divisible

_BatchNorm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


class BlockSpec(NamedTuple):
    """One row of the paper's Table 1/2: input width, depthwise kernel, expanded width, output width, SE,
    hard-swish (else ReLU), stride."""

    in_channels: int
    kernel: int
    expanded: int
    out_channels: int
    squeeze_excite: bool
    hard_swish: bool
    stride: int


_LARGE = [BlockSpec(*row) for row in (
    (16, 3, 16, 16, False, False, 1), (16, 3, 64, 24, False, False, 2), (24, 3, 72, 24, False, False, 1),
    (24, 5, 72, 40, True, False, 2), (40, 5, 120, 40, True, False, 1), (40, 5, 120, 40, True, False, 1),
    (40, 3, 240, 80, False, True, 2), (80, 3, 200, 80, False, True, 1), (80, 3, 184, 80, False, True, 1),
    (80, 3, 184, 80, False, True, 1), (80, 3, 480, 112, True, True, 1), (112, 3, 672, 112, True, True, 1),
    (112, 5, 672, 160, True, True, 2), (160, 5, 960, 160, True, True, 1), (160, 5, 960, 160, True, True, 1),
)]
_SMALL = [BlockSpec(*row) for row in (
    (16, 3, 16, 16, True, False, 2), (16, 3, 72, 24, False, False, 2), (24, 3, 88, 24, False, False, 1),
    (24, 5, 96, 40, True, True, 2), (40, 5, 240, 40, True, True, 1), (40, 5, 240, 40, True, True, 1),
    (40, 5, 120, 48, True, True, 1), (48, 5, 144, 48, True, True, 1), (48, 5, 288, 96, True, True, 2),
    (96, 5, 576, 96, True, True, 1), (96, 5, 576, 96, True, True, 1),
)]
# blocks and the width of the classifier's hidden layer
MOBILENETV3_CONFIGS = {"mobilenetv3_large": (_LARGE, 1280), "mobilenetv3_small": (_SMALL, 1024)}


class ConvNormActivation(nn.Sequential):
    """Conv (no bias) + BN (+ activation): keys ``0.weight``, ``1.*`` as torchvision's ``Conv2dNormActivation``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1, groups: int = 1,
                 activation: type[nn.Module] | None = nn.Hardswish) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2,
                      groups=groups, bias=False),
            _BatchNorm(out_channels),
        ]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Channel re-weighting: global pooling, 1x1 reduce + ReLU, 1x1 expand + hard-sigmoid."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise (kxk), optional SE, project (1x1, linear); identity added when shapes allow."""

    def __init__(self, spec: BlockSpec, stride: int) -> None:
        super().__init__()
        activation = nn.Hardswish if spec.hard_swish else nn.ReLU
        layers: list[nn.Module] = []
        if spec.expanded != spec.in_channels:
            layers.append(ConvNormActivation(spec.in_channels, spec.expanded, 1, activation=activation))
        layers.append(ConvNormActivation(spec.expanded, spec.expanded, spec.kernel, stride=stride,
                                         groups=spec.expanded, activation=activation))
        if spec.squeeze_excite:
            layers.append(SqueezeExcitation(spec.expanded, make_divisible(spec.expanded // 4)))
        layers.append(ConvNormActivation(spec.expanded, spec.out_channels, 1, activation=None))
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and spec.in_channels == spec.out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        return out + x if self.use_residual else out


class MobileNetV3(nn.Module):
    """MobileNetV3; ``forward_features`` gives the last ``features`` map (960 or 576 channels)."""

    head_prefixes = ("classifier.",)

    def __init__(self, blocks: list[BlockSpec], last_channel: int, *, num_classes: int = 1000,
                 last_stride: int = 1, dropout: float = 0.2) -> None:
        super().__init__()
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride}")
        self.last_stride = last_stride
        last_stage = max(i for i, spec in enumerate(blocks) if spec.stride == 2)
        self.strides = [spec.stride if i != last_stage else last_stride for i, spec in enumerate(blocks)]
        self.kernels = [spec.kernel for spec in blocks]
        layers: list[nn.Module] = [ConvNormActivation(3, blocks[0].in_channels, 3, stride=2)]
        layers += [InvertedResidual(spec, stride) for spec, stride in zip(blocks, self.strides)]
        self.out_channels = 6 * blocks[-1].out_channels
        layers.append(ConvNormActivation(blocks[-1].out_channels, self.out_channels, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.last_channel = last_channel
        self.dropout = dropout
        self.classifier: nn.Module = self._classifier(num_classes)
        self._init_weights()

    def _classifier(self, num_classes: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(self.out_channels, self.last_channel), nn.Hardswish(inplace=True),
                             nn.Dropout(p=self.dropout, inplace=True), nn.Linear(self.last_channel, num_classes))

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def reset_classifier(self, num_classes: int) -> None:
        """New ``num_classes`` classifier; 0 removes it (``forward`` then returns the pooled feature map)."""
        self.classifier = self._classifier(num_classes) if num_classes > 0 else nn.Identity()

    def feature_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """Height and width of the last map for a ``(H, W)`` input (the layer arithmetic, no forward pass)."""
        sizes = []
        for size in input_size:
            size = conv_out_size(size, 3, 2, 1)
            for kernel, stride in zip(self.kernels, self.strides):
                size = conv_out_size(size, kernel, stride, (kernel - 1) // 2)
            sizes.append(size)
        return sizes[0], sizes[1]

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def create_mobilenetv3(name: str, *, num_classes: int = 1000, last_stride: int = 1) -> MobileNetV3:
    """``mobilenetv3_large`` or ``mobilenetv3_small``."""
    if name not in MOBILENETV3_CONFIGS:
        raise ValueError(f"unknown MobileNetV3 {name!r}; expected one of {sorted(MOBILENETV3_CONFIGS)}")
    blocks, last_channel = MOBILENETV3_CONFIGS[name]
    return MobileNetV3(blocks, last_channel, num_classes=num_classes, last_stride=last_stride)

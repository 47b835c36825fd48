"""ResNet-18/34/50 and a tiny ResNet with torchvision-compatible module names and state-dict keys.

Torchvision ImageNet checkpoints (``resnet50-*.pth`` and friends) load strictly into these models and their state dicts
load into torchvision's. Bottleneck is v1.5 (the stride sits on the 3x3 ``conv2``). ``last_stride=1`` removes the
downsampling of ``layer4`` (stride 1 on ``layer4.0.conv2`` and ``layer4.0.downsample.0``), the usual re-ID setting:
256x128 frames then give 16x8 maps.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from reid_train.models.layers import conv_out_size


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv1x1(in_channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = _conv1x1(channels, channels * self.expansion)
        self.bn3 = nn.BatchNorm2d(channels * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet with a 7x7 stem; ``forward_features`` returns the ``layer4`` map, ``forward`` the ``fc`` output."""

    head_prefixes = ("fc.",)

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        *,
        num_classes: int = 1000,
        last_stride: int = 2,
        width: int = 64,
    ) -> None:
        super().__init__()
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride}")
        self.last_stride = last_stride
        self._in_channels = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0], stride=1)
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=last_stride)
        self.out_channels = width * 8 * block.expansion
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc: nn.Module = nn.Linear(self.out_channels, num_classes)
        self._init_weights()

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], channels: int, blocks: int,
                    stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._in_channels != channels * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self._in_channels, channels * block.expansion, stride),
                nn.BatchNorm2d(channels * block.expansion),
            )
        modules = [block(self._in_channels, channels, stride, downsample)]
        self._in_channels = channels * block.expansion
        modules += [block(self._in_channels, channels) for _ in range(1, blocks)]
        return nn.Sequential(*modules)

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``fc`` by a new ``num_classes`` head; 0 removes it (``forward`` then returns pooled features)."""
        self.fc = nn.Linear(self.out_channels, num_classes) if num_classes > 0 else nn.Identity()

    def feature_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """Height and width of the ``layer4`` map for a ``(H, W)`` input (the conv arithmetic, no forward pass)."""
        down = conv_out_size
        sizes = []
        for size in input_size:
            size = down(down(size, 7, 2, 3), 3, 2, 1)  # conv1, maxpool
            size = down(down(size, 3, 2, 1), 3, 2, 1)  # layer2, layer3
            sizes.append(down(size, 3, self.last_stride, 1))
        return sizes[0], sizes[1]

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.avgpool(self.forward_features(x)), 1))


def resnet18(*, num_classes: int = 1000, last_stride: int = 2, width: int = 64) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes=num_classes, last_stride=last_stride, width=width)


def resnet34(*, num_classes: int = 1000, last_stride: int = 2, width: int = 64) -> ResNet:
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes=num_classes, last_stride=last_stride, width=width)


def resnet50(*, num_classes: int = 1000, last_stride: int = 2, width: int = 64) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, last_stride=last_stride, width=width)


def resnet_tiny(*, num_classes: int = 1000, last_stride: int = 2, width: int = 32) -> ResNet:
    """One BasicBlock per stage: a fast stand-in for tests and demos (width 32: 1.23 M parameters without ``fc``)."""
    return ResNet(BasicBlock, (1, 1, 1, 1), num_classes=num_classes, last_stride=last_stride, width=width)


RESNETS = {"resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50, "resnet_tiny": resnet_tiny}


def create_resnet(name: str, *, num_classes: int = 1000, last_stride: int = 2, width: int | None = None) -> ResNet:
    """Build a backbone by name (see ``RESNETS``); ``width=None`` keeps the family's default base width."""
    if name not in RESNETS:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(RESNETS)}")
    kwargs = {} if width is None else {"width": width}
    return RESNETS[name](num_classes=num_classes, last_stride=last_stride, **kwargs)

"""Clip augmentations on ``(T, 3, H, W)`` float32 tensors of raw 0..255 pixels.

Each random transform draws its parameters once per clip and applies them to every frame, so the
frames of a clip stay aligned. Mean/std normalization is not done here: it lives inside the model.
Random draws use the ``generator`` given at construction, or torch's global RNG when it is ``None``
(then restoring the trainer's RNG state reproduces the augmentations, DataLoader workers included,
since they are seeded from it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

# ImageNet mean RGB in 0..255: after the model's normalization an area filled with it is zero.
IMAGENET_MEAN_PIXEL: tuple[float, float, float] = (123.675, 116.28, 103.53)

ClipTransform = Callable[[torch.Tensor], torch.Tensor]


def _check_clip(clip: torch.Tensor) -> None:
    if clip.dim() != 4 or clip.shape[1] != 3:
        raise ValueError(f"expected a clip of shape (T, 3, H, W), got {tuple(clip.shape)}")


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def _randint(high: int, generator: torch.Generator | None) -> int:
    """A random int in ``[0, high]``."""
    return int(torch.randint(high + 1, (), generator=generator).item())


class Compose:
    """Apply clip transforms in sequence."""

    def __init__(self, transforms: Sequence[ClipTransform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        for transform in self.transforms:
            clip = transform(clip)
        return clip

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"{type(self).__name__}([{inner}\n])"


class Resize:
    """Bilinear (antialiased) resize of every frame to ``size=(H, W)``; a no-op when already that size."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = (int(size[0]), int(size[1]))

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        _check_clip(clip)
        if tuple(clip.shape[-2:]) == self.size:
            return clip
        return F.interpolate(clip, size=self.size, mode="bilinear", align_corners=False, antialias=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class RandomHorizontalFlip:
    """Mirror the whole clip left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        self.p = p
        self.generator = generator

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        _check_clip(clip)
        if torch.rand((), generator=self.generator).item() < self.p:
            return clip.flip(-1)
        return clip

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class PadCrop:
    """Zero-pad every side by ``padding`` pixels, then crop back to the input size at one random offset."""

    def __init__(self, padding: int = 10, generator: torch.Generator | None = None) -> None:
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        self.padding = padding
        self.generator = generator

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        _check_clip(clip)
        pad = self.padding
        if pad == 0:
            return clip
        height, width = clip.shape[-2:]
        top = _randint(2 * pad, self.generator)
        left = _randint(2 * pad, self.generator)
        padded = F.pad(clip, (pad, pad, pad, pad))
        return padded[..., top : top + height, left : left + width].contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(padding={self.padding})"


class RandomErasing:
    """With probability ``p``, fill one random rectangle, the same for every frame of the clip.

    One rectangle for the whole clip imitates an occluder that stays in the frame. Its area is a
    fraction ``area`` of the frame and its height/width ratio is log-uniform in ``aspect``; after 10
    draws that do not fit the clip is returned unchanged. ``value``: ``"mean"`` fills with the ImageNet
    mean pixel, ``"random"`` with uniform 0..255 noise (the same noise in every frame), a number or an
    RGB triple with that colour.
    """

    def __init__(
        self,
        p: float = 0.5,
        area: tuple[float, float] = (0.02, 0.4),
        aspect: tuple[float, float] = (0.3, 3.3),
        value: str | float | Sequence[float] = "mean",
        generator: torch.Generator | None = None,
    ) -> None:
        if not 0 < area[0] <= area[1] <= 1:
            raise ValueError(f"area must satisfy 0 < min <= max <= 1, got {area}")
        if not 0 < aspect[0] <= aspect[1]:
            raise ValueError(f"aspect must satisfy 0 < min <= max, got {aspect}")
        if isinstance(value, str) and value not in ("mean", "random"):
            raise ValueError(f"value must be 'mean', 'random', a number or an RGB triple, got {value!r}")
        self.p = p
        self.area = area
        self.aspect = aspect
        self.value = value
        self.generator = generator

    def _fill(self, height: int, width: int) -> torch.Tensor:
        if self.value == "random":
            return torch.rand((3, height, width), generator=self.generator) * 255.0
        colour = IMAGENET_MEAN_PIXEL if self.value == "mean" else self.value
        return torch.as_tensor(colour, dtype=torch.float32).reshape(-1, 1, 1).expand(3, height, width)

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        _check_clip(clip)
        if torch.rand((), generator=self.generator).item() >= self.p:
            return clip
        frame_h, frame_w = clip.shape[-2:]
        log_aspect = (math.log(self.aspect[0]), math.log(self.aspect[1]))
        for _ in range(10):
            target = frame_h * frame_w * _uniform(*self.area, self.generator)
            ratio = math.exp(_uniform(*log_aspect, self.generator))
            height = round(math.sqrt(target * ratio))
            width = round(math.sqrt(target / ratio))
            if 0 < height < frame_h and 0 < width < frame_w:
                top = _randint(frame_h - height, self.generator)
                left = _randint(frame_w - width, self.generator)
                erased = clip.clone()
                erased[..., top : top + height, left : left + width] = self._fill(height, width).to(clip.dtype)
                return erased
        return clip

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p}, area={self.area}, aspect={self.aspect}, value={self.value!r})"


def build_train_transform(
    size: tuple[int, int],
    flip: bool = True,
    pad: int = 10,
    erasing_p: float = 0.5,
    generator: torch.Generator | None = None,
) -> Compose:
    """The AITL/STA training augmentation: resize, flip, pad + crop, random erasing."""
    transforms: list[ClipTransform] = [Resize(size)]
    if flip:
        transforms.append(RandomHorizontalFlip(0.5, generator=generator))
    if pad > 0:
        transforms.append(PadCrop(pad, generator=generator))
    if erasing_p > 0:
        transforms.append(RandomErasing(erasing_p, generator=generator))
    return Compose(transforms)


def build_test_transform(size: tuple[int, int]) -> Compose:
    """Resize only: test clips are not augmented."""
    return Compose([Resize(size)])

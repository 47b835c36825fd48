"""Decode person-crop frames from disk into RGB uint8 arrays with Pillow."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from reid_runtime.errors import ReidError


class FrameReadError(ReidError):
    """A frame file is missing, is not an image, or is truncated or corrupt."""


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in size):
        raise ValueError(f"size must be two positive ints (height, width), got {size!r}")
    return int(size[0]), int(size[1])


def _decode(path: str | Path, size: tuple[int, int] | None) -> Image.Image:
    try:
        with Image.open(path) as image:
            # convert() forces the full decode, so truncated data fails here rather than later.
            rgb = image.convert("RGB")
    except FileNotFoundError:
        raise FrameReadError(f"{path}: frame file not found") from None
    except IsADirectoryError:
        raise FrameReadError(f"{path}: is a directory, expected an image file") from None
    except UnidentifiedImageError:
        raise FrameReadError(f"{path}: not an image Pillow can identify") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise FrameReadError(f"{path}: cannot decode image, the file is truncated or corrupt ({err})") from err
    if size is not None:
        height, width = size
        if rgb.size != (width, height):
            rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
    return rgb


def load_frame(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """One frame as an ``(H, W, 3)`` uint8 RGB array, bilinearly resized to ``size=(H, W)`` when given.

    Any Pillow mode (L, RGBA, P, CMYK, ...) is converted to RGB; an alpha channel is dropped.
    """
    if size is not None:
        size = _check_size(size)
    return np.asarray(_decode(path, size), dtype=np.uint8)


def load_clip(paths: Sequence[str | Path], size: tuple[int, int]) -> np.ndarray:
    """The frames at ``paths`` resized to ``size=(H, W)``, stacked as a ``(T, H, W, 3)`` uint8 array."""
    if len(paths) == 0:
        raise ValueError("load_clip needs at least one frame path, got none")
    height, width = _check_size(size)
    clip = np.empty((len(paths), height, width, 3), dtype=np.uint8)
    for t, path in enumerate(paths):
        clip[t] = np.asarray(_decode(path, (height, width)))
    return clip

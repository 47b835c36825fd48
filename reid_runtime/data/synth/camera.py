"""Per-camera look: background texture, light and colour cast, sensor noise, blur, scale, mirrored view."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from reid_runtime.data.synth.config import make_rng

_CAMERA_KEY = 1
_TEXTURES = ("wall", "bricks", "street", "foliage")


@dataclass(frozen=True, eq=False)
class Camera:
    """``background`` is a (2H, 4W, 3) uint8 scene that tracklet crops are cut from."""

    index: int
    gain: tuple[float, float, float]
    offset: float
    noise: float
    blur: float
    scale: float
    mirrored: bool
    usual_view: int
    background: np.ndarray


def muted_color(rng: np.random.Generator, low: int = 60, high: int = 190) -> tuple[int, int, int]:
    """A scene colour: uniform RGB in ``low..high`` with its saturation halved."""
    rgb = rng.integers(low, high, 3).astype(float)
    gray = rgb.mean()
    return tuple(int(gray + (c - gray) * 0.5) for c in rgb)  # type: ignore[return-value]


def vary_color(rgb: tuple[int, int, int], rng: np.random.Generator, spread: float) -> tuple[int, int, int]:
    """``rgb`` with Gaussian noise of ``spread`` per channel (one part of an object differs from the next)."""
    return tuple(int(np.clip(c + rng.normal(0, spread), 0, 255)) for c in rgb)  # type: ignore[return-value]


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    h, w = 2 * height, 4 * width
    base, second = muted_color(rng), muted_color(rng)
    image = Image.new("RGB", (w, h), base)
    draw = ImageDraw.Draw(image)
    texture = _TEXTURES[int(rng.integers(len(_TEXTURES)))]
    horizon = int(h * rng.uniform(0.45, 0.7))
    if texture == "wall":
        step = int(rng.integers(width // 4, width // 2 + 2))
        for x in range(0, w, step):
            draw.rectangle((x, 0, x + step // 3, horizon), fill=vary_color(base, rng, 18))
        draw.rectangle((0, horizon, w, h), fill=second)
    elif texture == "bricks":
        bh = max(3, height // 16)
        for row, y in enumerate(range(0, h, bh)):
            offset = (row % 2) * bh
            for x in range(-offset, w, 2 * bh):
                draw.rectangle((x, y, x + 2 * bh - 2, y + bh - 2), fill=vary_color(base, rng, 10))
    elif texture == "street":
        draw.rectangle((0, horizon, w, h), fill=second)
        for _ in range(6):
            x = int(rng.integers(0, w))
            draw.line((x, h, x + int(rng.integers(-w // 2, w // 2)), horizon), fill=vary_color(second, rng, 30),
                      width=max(1, width // 24))
    else:
        for _ in range(40):
            cx, cy, r = rng.integers(0, w), rng.integers(0, h), int(rng.integers(width // 10, width // 3 + 2))
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=vary_color(base, rng, 25))
    # objects in the scene, so tracklets of one camera do not all share the same background colours
    for _ in range(8):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(width // 4, width)), y0 + int(rng.integers(height // 8, height // 2))
        draw.rectangle((x0, y0, x1, y1), fill=muted_color(rng, 30, 230))
    blotches = rng.normal(0.0, 6.0, (h // 8 + 1, w // 8 + 1, 1)).repeat(8, 0).repeat(8, 1)[:h, :w]
    return np.clip(np.asarray(image, dtype=np.float32) + blotches, 0, 255).astype(np.uint8)


def make_camera(seed: int, index: int, size: tuple[int, int]) -> Camera:
    """Camera ``index`` (1-based) of a dataset; depends only on the seed, the index and the frame size."""
    rng = make_rng(seed, _CAMERA_KEY, index)
    brightness = rng.uniform(0.8, 1.15)
    return Camera(
        index=index,
        gain=tuple(float(brightness * g) for g in rng.uniform(0.9, 1.1, 3)),  # type: ignore[arg-type]
        offset=float(rng.uniform(-14, 14)),
        noise=float(rng.uniform(2.5, 7.0)),
        blur=float(rng.choice([0.0, 0.0, 0.5, 0.8])) * size[0] / 128,
        scale=float(rng.uniform(0.88, 1.04)),
        mirrored=bool(rng.random() < 0.5),
        usual_view=int(rng.integers(6)),
        background=_background(rng, *size),
    )

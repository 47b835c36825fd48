"""The settings of one synthetic dataset and the seeded random generators derived from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAYOUTS: tuple[str, ...] = ("mars", "dukev")
DEFAULT_CAMERAS: dict[str, int] = {"mars": 6, "dukev": 8}
# MARS numbers frames with 3 digits (F<fff>) and parsers read its camera from one character
MAX_FRAMES = 999
MAX_CAMERAS = 9


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. ``ids`` identities go to train and as many to test; everything follows from ``seed``."""

    layout: str
    ids: int = 40
    cameras: int | None = None
    seed: int = 0
    size: tuple[int, int] = (128, 64)
    min_len: int = 8
    max_len: int = 24

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if not 2 <= self.ids <= 2000:
            raise ValueError(f"ids must be in 2..2000 (identities per split), got {self.ids}")
        if self.cameras is not None and not 2 <= self.cameras <= MAX_CAMERAS:
            raise ValueError(f"cameras must be in 2..{MAX_CAMERAS}, got {self.cameras}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        height, width = self.size
        if height < 16 or width < 8:
            raise ValueError(f"size must be at least (16, 8) pixels (H, W), got {self.size}")
        if not 1 <= self.min_len <= self.max_len <= MAX_FRAMES:
            raise ValueError(f"need 1 <= min_len <= max_len <= {MAX_FRAMES}, got min_len={self.min_len}, "
                             f"max_len={self.max_len}")

    @property
    def num_cameras(self) -> int:
        return self.cameras if self.cameras is not None else DEFAULT_CAMERAS[self.layout]


def make_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys``, never on how many draws happened elsewhere."""
    return np.random.default_rng([seed, *(k + 2**31 for k in keys)])

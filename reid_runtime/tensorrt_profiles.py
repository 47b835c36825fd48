"""TensorRT optimization profiles over (batch, seq): parsing, validation, choosing one, and sub-batching.

Pure Python (no numpy, no tensorrt) so the exporter and the runtime's TensorRT backend share one planner.

A profile is written ``Bmin-BmaxxTmin-Tmax`` (``1-8x1-4``), a single number standing for a fixed size (``8x4``), with
an optional ``@BxT`` optimum (``1-32x5-8@16x8``). Profiles are buckets over the sequence length: their T ranges must not
overlap, so ``profile_for`` is decided by T alone and the batch is then split into chunks of at most the profile's
``max_batch``. TensorRT tunes kernels for the optimum shape; by default it is ``(max_batch, max_seq)``: the
sub-batching plan sends full chunks of ``max_batch`` under load, and a runtime samples a fixed number of frames per
tracklet, usually the bucket's upper end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reid_runtime.errors import ReidError

INPUT_NAME = "frames"
DEFAULT_PROFILES = "1-32x1-4,1-32x5-8,1-16x9-32"

_PATTERN = re.compile(r"^(\d+)(?:-(\d+))?x(\d+)(?:-(\d+))?(?:@(\d+)x(\d+))?$")


class ProfileError(ReidError, ValueError):
    """A profile string or a (batch, seq) request that the profiles cannot serve."""


@dataclass(frozen=True)
class Profile:
    """One optimization profile of the ``frames`` input ``(batch, seq, 3, H, W)``."""

    min_batch: int
    max_batch: int
    min_seq: int
    max_seq: int
    opt_batch: int = 0  # 0: max_batch
    opt_seq: int = 0    # 0: max_seq

    def __post_init__(self) -> None:
        if self.opt_batch == 0:
            object.__setattr__(self, "opt_batch", self.max_batch)
        if self.opt_seq == 0:
            object.__setattr__(self, "opt_seq", self.max_seq)
        for name in ("min_batch", "max_batch", "min_seq", "max_seq", "opt_batch", "opt_seq"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ProfileError(f"profile {self}: {name} must be an int >= 1, got {value!r}")
        if self.min_batch > self.max_batch:
            raise ProfileError(f"profile {self}: batch range {self.min_batch}-{self.max_batch} is reversed")
        if self.min_seq > self.max_seq:
            raise ProfileError(f"profile {self}: seq range {self.min_seq}-{self.max_seq} is reversed")
        if not self.min_batch <= self.opt_batch <= self.max_batch:
            raise ProfileError(f"profile {self}: optimum batch {self.opt_batch} is outside "
                               f"{self.min_batch}-{self.max_batch}")
        if not self.min_seq <= self.opt_seq <= self.max_seq:
            raise ProfileError(f"profile {self}: optimum seq {self.opt_seq} is outside {self.min_seq}-{self.max_seq}")

    def __str__(self) -> str:
        text = f"{self.min_batch}-{self.max_batch}x{self.min_seq}-{self.max_seq}"
        if (self.opt_batch, self.opt_seq) != (self.max_batch, self.max_seq):
            text += f"@{self.opt_batch}x{self.opt_seq}"
        return text

    def covers(self, batch: int, seq: int) -> bool:
        return self.min_batch <= batch <= self.max_batch and self.min_seq <= seq <= self.max_seq

    def shapes(self, input_size: tuple[int, int]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """``(min, opt, max)`` shapes of ``frames`` for ``IOptimizationProfile.set_shape``."""
        height, width = _check_size(input_size)
        return (
            (self.min_batch, self.min_seq, 3, height, width),
            (self.opt_batch, self.opt_seq, 3, height, width),
            (self.max_batch, self.max_seq, 3, height, width),
        )

    def to_json(self) -> dict[str, Any]:
        return {"batch": [self.min_batch, self.max_batch], "seq": [self.min_seq, self.max_seq],
                "opt": [self.opt_batch, self.opt_seq]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        try:
            (min_batch, max_batch), (min_seq, max_seq), (opt_batch, opt_seq) = data["batch"], data["seq"], data["opt"]
        except (KeyError, TypeError, ValueError):
            raise ProfileError(f"profile entry {data!r}: expected {{'batch': [min, max], 'seq': [min, max], "
                               "'opt': [batch, seq]}}") from None
        return cls(min_batch, max_batch, min_seq, max_seq, opt_batch, opt_seq)


def parse_profile(text: str) -> Profile:
    """``"1-8x1-4"`` / ``"8x4"`` / ``"1-32x5-8@16x8"`` -> :class:`Profile`."""
    match = _PATTERN.match(text.replace(" ", "").lower())
    if not match:
        raise ProfileError(f"profile {text!r} is not Bmin-BmaxxTmin-Tmax[@BxT], e.g. 1-8x1-4 or 1-32x5-8@16x8")
    b0, b1, t0, t1, ob, ot = match.groups()
    return Profile(int(b0), int(b1 or b0), int(t0), int(t1 or t0), int(ob or 0), int(ot or 0))


def parse_profiles(text: str) -> list[Profile]:
    """A comma-separated list of profiles, validated and sorted by sequence length."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise ProfileError(f"no profile in {text!r}; expected e.g. {DEFAULT_PROFILES!r}")
    profiles = sorted((parse_profile(part) for part in parts), key=lambda p: p.min_seq)
    validate_profiles(profiles)
    return profiles


def validate_profiles(profiles: list[Profile]) -> None:
    """At least one profile and non-overlapping T buckets (so T alone picks the profile)."""
    if not profiles:
        raise ProfileError("no optimization profile; a dynamic (batch, seq) input needs at least one")
    ordered = sorted(profiles, key=lambda p: p.min_seq)
    for previous, current in zip(ordered, ordered[1:]):
        if current.min_seq <= previous.max_seq:
            raise ProfileError(
                f"profiles {previous} and {current} overlap in seq ({current.min_seq}-"
                f"{min(previous.max_seq, current.max_seq)}); T buckets must be disjoint, e.g. 1-32x1-4,1-32x5-8"
            )


def profile_for(profiles: list[Profile], batch: int, seq: int) -> int:
    """Index of the profile whose T bucket holds ``seq``; ``batch`` only has to reach its ``min_batch``.

    A batch above ``max_batch`` is fine: :func:`plan_batches` splits it.
    """
    if batch < 1 or seq < 1:
        raise ProfileError(f"batch and seq must be >= 1, got batch {batch}, seq {seq}")
    for index, profile in enumerate(profiles):
        if profile.min_seq <= seq <= profile.max_seq:
            if batch < profile.min_batch:
                raise ProfileError(f"batch {batch} at seq {seq} is below profile {profile}'s minimum batch "
                                   f"{profile.min_batch}; rebuild the engine with a profile starting at batch 1")
            return index
    buckets = ", ".join(f"{p.min_seq}-{p.max_seq}" for p in profiles)
    raise ProfileError(f"seq {seq} is outside every profile of the engine (T buckets {buckets}); sample fewer frames "
                       "per tracklet or rebuild the engine with --profiles covering it")


def plan_batches(profiles: list[Profile], batch: int, seq: int) -> list[tuple[int, int, int]]:
    """Split ``batch`` tracklets of length ``seq`` into ``(profile, start, stop)`` chunks the engine accepts.

    Chunks have ``max_batch`` tracklets except the last; a last chunk below ``min_batch`` borrows from the one
    before it so every chunk is a valid shape.
    """
    index = profile_for(profiles, batch, seq)
    profile = profiles[index]
    bounds = list(range(0, batch, profile.max_batch)) + [batch]
    chunks = [[start, stop] for start, stop in zip(bounds, bounds[1:])]
    if len(chunks) > 1 and chunks[-1][1] - chunks[-1][0] < profile.min_batch:
        shortfall = profile.min_batch - (chunks[-1][1] - chunks[-1][0])
        chunks[-2][1] -= shortfall
        chunks[-1][0] -= shortfall
        if chunks[-2][1] - chunks[-2][0] < profile.min_batch:
            raise ProfileError(f"batch {batch} cannot be split into chunks of {profile.min_batch}-"
                               f"{profile.max_batch} (profile {profile}); use a profile starting at batch 1")
    return [(index, start, stop) for start, stop in chunks]


def profiles_to_json(profiles: list[Profile]) -> list[dict[str, Any]]:
    return [profile.to_json() for profile in profiles]


def profiles_from_json(data: list[dict[str, Any]]) -> list[Profile]:
    profiles = [Profile.from_json(entry) for entry in data]
    validate_profiles(profiles)
    return profiles


def _check_size(input_size: tuple[int, int]) -> tuple[int, int]:
    if len(input_size) != 2 or not all(isinstance(s, int) and s >= 1 for s in input_size):
        raise ProfileError(f"input size must be (height, width) ints, got {input_size!r}")
    return input_size[0], input_size[1]

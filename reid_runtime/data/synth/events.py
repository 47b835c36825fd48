"""ID-irrelevant events of one tracklet (motion, view, occlusion, cut, second person, ...) and their group-0 labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reid_runtime.data.synth.appearance import Appearance, draw_identity
from reid_runtime.data.synth.camera import Camera
from reid_runtime.data.synth.occluders import Occluder, draw_occluder_spec

# action class index -> (limb swing amplitude, walk-cycle advance per frame, forward lean), all radians.
# The ``action`` column has 5 unnamed classes; here: walk, stand, run, stroll, bend.
ACTIONS: tuple[tuple[float, float, float], ...] = (
    (0.45, 0.9, 0.03), (0.03, 0.15, 0.0), (0.8, 1.5, 0.15), (0.25, 0.5, 0.0), (0.12, 0.4, 0.35))
_ACTION_WEIGHTS = (0.55, 0.15, 0.08, 0.15, 0.07)
OCCLUSION_REGIONS: tuple[str, ...] = ("lower", "upper", "left", "right")
ROLES: tuple[str, ...] = ("person", "distractor", "junk")
# role -> probabilities of occlusion, cut, second person, small figure, target change, target miss, wrong target
_RATES: dict[str, tuple[float, ...]] = {
    "person": (0.3, 0.1, 0.12, 0.05, 0.03, 0.03, 0.02),
    "distractor": (0.3, 0.5, 0.3, 0.3, 0.0, 0.0, 0.0),
    "junk": (0.2, 1.0, 0.2, 0.2, 0.0, 0.3, 0.0),
}


@dataclass(frozen=True)
class Occlusion:
    """An object (``occluder``) covering one region of the frame (``extent`` = covered fraction of the frame height
    or width) in a run of frames."""

    region: str
    extent: float
    frames: tuple[int, ...]
    occluder: Occluder


@dataclass(frozen=True)
class TrackletEvents:
    """What happens in one tracklet. ``view`` is the angle label, i.e. the view as it appears in the saved frames."""

    action: int
    view: int
    occlusion: Occlusion | None
    cut: tuple[float, float]  # shift of the figure (fraction of frame W, H) that puts part of it out of the frame
    bystander: Appearance | None
    bystander_side: int
    bystander_in_front: bool
    small: bool
    change_from: int | None
    replacement: Appearance | None
    missing: tuple[int, ...]
    wrong_target: bool

    def labels(self) -> tuple[int, ...]:
        """Group-0 attribute values in CSV order: action, angle, occlusion, cut, multi-person, back-dominant,
        target-change, target-miss, wrongtarget."""
        return (self.action, self.view, int(self.occlusion is not None), int(self.cut != (0.0, 0.0)),
                int(self.bystander is not None), int(self.small), int(self.change_from is not None),
                int(bool(self.missing)), int(self.wrong_target))


def _run(rng: np.random.Generator, n_frames: int, low: float, high: float, limit: int) -> tuple[int, ...]:
    """A contiguous run of frames covering ``low``..``high`` of the tracklet, at most ``limit`` frames long."""
    length = min(limit, max(1, round(n_frames * rng.uniform(low, high))))
    start = int(rng.integers(0, n_frames - length + 1))
    return tuple(range(start, start + length))


def draw_events(rng: np.random.Generator, n_frames: int, camera: Camera, role: str) -> TrackletEvents:
    """Draw the events of one tracklet of ``n_frames`` frames seen by ``camera``."""
    if role not in _RATES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    p_occ, p_cut, p_multi, p_small, p_change, p_miss, p_wrong = _RATES[role]
    action = int(rng.choice(len(ACTIONS), p=_ACTION_WEIGHTS))
    view = camera.usual_view if rng.random() < 0.55 else int(rng.integers(6))

    occlusion = None
    # occlusions hit a minority of the frames: picking the clean frames is what temporal attention learns
    if n_frames >= 3 and rng.random() < p_occ:
        region = OCCLUSION_REGIONS[int(rng.choice(4, p=[0.45, 0.2, 0.175, 0.175]))]
        extent = rng.uniform(0.4, 0.55)
        frames = _run(rng, n_frames, 0.2, 0.45, (n_frames - 1) // 2)
        occlusion = Occlusion(region, float(extent), frames, draw_occluder_spec(rng, region))

    cut = (0.0, 0.0)
    if rng.random() < p_cut:
        depth = rng.uniform(0.5, 0.75) if role == "junk" else rng.uniform(0.2, 0.35)
        if rng.random() < 0.5:
            cut = (0.0, float(depth))
        else:
            cut = (float(rng.choice([-1.4, 1.4]) * depth), 0.0)  # the figure is narrower than tall

    wrong_target = bool(rng.random() < p_wrong)
    bystander = None
    if wrong_target or rng.random() < p_multi:
        bystander = draw_identity(rng, "mars")[0]
    side = int(rng.choice([-1, 1]))
    in_front = bool(rng.random() < 0.5)
    small = bool(rng.random() < p_small)

    change_from, replacement = None, None
    if n_frames >= 4 and rng.random() < p_change:
        change_from = n_frames - len(_run(rng, n_frames, 0.25, 0.4, n_frames // 2))
        replacement = draw_identity(rng, "mars")[0]
    missing: tuple[int, ...] = ()
    if n_frames >= 4 and rng.random() < p_miss:
        missing = _run(rng, n_frames, 0.1, 0.25 if role == "person" else 0.5, n_frames // 2)
    return TrackletEvents(action, view, occlusion, cut, bystander, side, in_front, small, change_from,
                          replacement, missing, wrong_target)

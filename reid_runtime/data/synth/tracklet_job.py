"""One tracklet to generate (who, which camera, how long) and rendering it into frame files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reid_runtime.data.frame_events import EventBox
from reid_runtime.data.synth.appearance import Appearance, draw_identity
from reid_runtime.data.synth.camera import Camera
from reid_runtime.data.synth.config import SynthConfig, make_rng
from reid_runtime.data.synth.events import TrackletEvents, draw_events
from reid_runtime.data.synth.output import save_jpeg
from reid_runtime.data.synth.render import render_tracklet

_TRACKLET_KEY = 4


@dataclass(frozen=True)
class TrackletJob:
    """``key`` seeds the tracklet's own generator; ``look=None`` draws a random passer-by (distractors, junk)."""

    key: tuple[int, ...]
    camera: int
    n_frames: int
    role: str = "person"
    look: Appearance | None = None


@dataclass(frozen=True)
class Rendered:
    """What a rendered tracklet holds: its tracklet-level events and, per frame, the events it shows."""

    events: TrackletEvents
    frame_events: list[list[EventBox]]

    def rows(self, root: Path, paths: Sequence[Path]) -> list[tuple[str, EventBox]]:
        """The frame events as ``(path relative to root, event)`` rows of ``frame_events.csv``."""
        return [(path.relative_to(root).as_posix(), item) for path, items in zip(paths, self.frame_events)
                for item in items]


def render_job(job: TrackletJob, cameras: dict[int, Camera], config: SynthConfig,
               paths: Sequence[Path]) -> Rendered:
    """Render the tracklet, save its frames as ``paths`` (one per frame) and return its events."""
    if len(paths) != job.n_frames:
        raise ValueError(f"tracklet {job.key} has {job.n_frames} frames but {len(paths)} paths were given")
    rng = make_rng(config.seed, _TRACKLET_KEY, *job.key)
    look = job.look if job.look is not None else draw_identity(rng, config.layout)[0]
    events = draw_events(rng, job.n_frames, cameras[job.camera], job.role)
    frames, frame_events = render_tracklet(look, events, cameras[job.camera], job.n_frames, config.size, rng)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for frame, path in zip(frames, paths):
        save_jpeg(frame, path)
    return Rendered(events, frame_events)

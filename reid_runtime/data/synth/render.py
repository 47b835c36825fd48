"""Render the frames of one tracklet: background crop, figures in their walk cycle, occluder, camera light and noise."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from reid_runtime.data.frame_events import DIGITS, EventBox
from reid_runtime.data.synth.appearance import Appearance
from reid_runtime.data.synth.camera import Camera
from reid_runtime.data.synth.events import ACTIONS, TrackletEvents
from reid_runtime.data.synth.figure import MIRRORED_VIEW, Box, Pose, draw_figure
from reid_runtime.data.synth.occluders import draw_occluder

_FIGURE_HEIGHT = 0.86  # of the frame height: detector boxes are tight around the person


def _event(kind: str, box: Box, size: tuple[int, int], mirrored: bool, detail: str = "") -> list[EventBox]:
    """``box`` (pixels, unclipped) as a normalised :class:`EventBox` of the saved frame; none when off the frame."""
    height, width = size
    x0, x1 = max(0.0, box[0]) / width, min(float(width), box[2]) / width
    y0, y1 = max(0.0, box[1]) / height, min(float(height), box[3]) / height
    if mirrored:
        x0, x1 = 1.0 - x1, 1.0 - x0
    normalised = tuple(round(v, DIGITS) for v in (x0, y0, x1, y1))
    if normalised[2] <= normalised[0] or normalised[3] <= normalised[1]:
        return []
    return [EventBox(kind, normalised, detail)]  # type: ignore[arg-type]


def _vacated(box: Box, cut: tuple[float, float], size: tuple[int, int]) -> Box:
    """The part of the figure's un-cut box that the cut's shift left empty (where the person is missing)."""
    height, width = size
    dx, dy = cut[0] * width, cut[1] * height
    x0, y0, x1, y1 = box[0] - dx, box[1] - dy, box[2] - dx, box[3] - dy
    if dy > 0:
        return (x0, y0, x1, min(y1, y0 + dy))
    if dx > 0:
        return (x0, y0, min(x1, x0 + dx), y1)
    return (max(x0, x1 + dx), y0, x1, y1)


def render_tracklet(look: Appearance, events: TrackletEvents, camera: Camera, n_frames: int,
                    size: tuple[int, int], rng: np.random.Generator
                    ) -> tuple[list[Image.Image], list[list[EventBox]]]:
    """The ``n_frames`` RGB frames of one tracklet of ``look`` under ``events``, as seen by ``camera``, and per frame
    the events it shows with their boxes as rendered (normalised coordinates of the saved, possibly mirrored, frame).

    Events are what is not ``look`` at the place of ``look``: an occluder (``occlusion``), the part of the person's
    box a cut left empty (``cut``), another figure beside it (``second_person``), the figure the tracker followed
    instead (``wrong_target``), the person that replaced it (``replacement``), and where it would be in a frame
    without it (``missing``).
    """
    height, width = size
    swing, cadence, lean = ACTIONS[events.action]
    view = MIRRORED_VIEW[events.view] if camera.mirrored else events.view
    phase0 = rng.uniform(0, 2 * np.pi)
    cadence *= rng.uniform(0.85, 1.15)
    brightness = rng.uniform(0.92, 1.08)
    bg_h, bg_w = camera.background.shape[:2]
    bg_x, bg_y = int(rng.integers(0, bg_w - width + 1)), int(rng.integers(0, bg_h - height + 1))
    drift = int(rng.choice([-1, 1])) * max(1, width // 64)
    base_x = width / 2 + rng.normal(0, 0.03) * width + events.cut[0] * width
    base_feet = height * 0.97 + events.cut[1] * height
    scale = _FIGURE_HEIGHT * camera.scale * rng.uniform(0.96, 1.04) * (0.62 if events.small else 1.0)
    side_view, side_phase = int(rng.integers(6)), rng.uniform(0, 2 * np.pi)
    side_offset = events.bystander_side * width * rng.uniform(0.42, 0.6)
    # when the tracker followed a bystander instead (wrong_target), the bystander is centred and the target is the
    # figure at the side
    centre, side_look = (events.bystander, look) if events.wrong_target else (look, events.bystander)
    gain = np.asarray(camera.gain, dtype=np.float32) * brightness
    # one noise field per tracklet, cut at a new offset each frame (drawing fresh noise per frame is the slow part)
    pad = 16
    noise = rng.standard_normal((height + pad, width + pad, 3), dtype=np.float32) * camera.noise

    frames, labels = [], []
    for i in range(n_frames):
        x = (bg_x + drift * i) % (bg_w - width + 1)
        crop = camera.background[bg_y:bg_y + height, x:x + width]
        image = Image.fromarray(np.ascontiguousarray(crop))
        draw = ImageDraw.Draw(image)
        pose = Pose(phase0 + cadence * i, swing, lean)
        fx = base_x + rng.normal(0, 0.012) * width
        feet = base_feet + rng.normal(0, 0.008) * height
        fh = height * scale * (1 + rng.normal(0, 0.012))
        bob = abs(np.sin(pose.phase)) * swing * 0.03 * fh
        main = centre
        if events.change_from is not None and i >= events.change_from:
            main = events.replacement
        side_args = None
        if side_look is not None:
            side_pose = Pose(side_phase + cadence * i, swing, 0.0)
            side_args = (side_look, side_pose, side_view, fx + side_offset,
                         feet, height * _FIGURE_HEIGHT * camera.scale * side_look.height)
        boxes: dict[str, Box] = {}
        if side_args is not None and not events.bystander_in_front:
            boxes["side"] = draw_figure(draw, *side_args)
        main_args = (pose, view, fx, feet - bob, fh * main.height) if main is not None else None
        if main_args is not None and i not in events.missing:
            boxes["main"] = draw_figure(draw, main, *main_args)
        if side_args is not None and events.bystander_in_front:
            boxes["side"] = draw_figure(draw, *side_args)
        found: list[EventBox] = []
        occlusion = events.occlusion
        if occlusion is not None and i in occlusion.frames:
            drawn = draw_occluder(draw, occlusion.occluder, occlusion.region, occlusion.extent, i, width, height)
            found += _event("occlusion", drawn, size, camera.mirrored, occlusion.occluder.kind)
        own = "side" if events.wrong_target else "main"
        if own in boxes and (own == "side" or main is look) and events.cut != (0.0, 0.0):
            found += _event("cut", _vacated(boxes[own], events.cut, size), size, camera.mirrored)
        if "main" in boxes and main is not look:
            kind = "wrong_target" if main is centre else "replacement"
            found += _event(kind, boxes["main"], size, camera.mirrored)
        if "side" in boxes and side_look is not look:
            found += _event("second_person", boxes["side"], size, camera.mirrored)
        if main is look and main_args is not None and i in events.missing:
            found += _event("missing", draw_figure(None, main, *main_args), size, camera.mirrored)
        if camera.blur > 0:
            image = image.filter(ImageFilter.GaussianBlur(camera.blur))
        pixels = np.asarray(image, dtype=np.float32) * gain + camera.offset
        ny, nx = rng.integers(0, pad + 1, 2)
        pixels += noise[ny:ny + height, nx:nx + width]
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
        if camera.mirrored:
            pixels = pixels[:, ::-1]
        frames.append(Image.fromarray(np.ascontiguousarray(pixels)))
        labels.append(found)
    return frames, labels

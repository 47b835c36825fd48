"""Render the frames of one tracklet: background crop, figures in their walk cycle, occluder, camera light and noise."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from reid_runtime.data.synth.appearance import Appearance
from reid_runtime.data.synth.camera import Camera
from reid_runtime.data.synth.events import ACTIONS, Occlusion, TrackletEvents
from reid_runtime.data.synth.figure import MIRRORED_VIEW, Pose, draw_figure

_FIGURE_HEIGHT = 0.86  # of the frame height: detector boxes are tight around the person


def _draw_occluder(draw: ImageDraw.ImageDraw, occlusion: Occlusion, width: int, height: int) -> None:
    color = occlusion.color
    edge = tuple(int(c * 0.6) for c in color)
    if occlusion.region == "lower":
        box = (0, round(height * (1 - occlusion.extent)), width, height)
    elif occlusion.region == "upper":
        box = (0, 0, width, round(height * occlusion.extent))
    elif occlusion.region == "left":
        box = (0, 0, round(width * occlusion.extent), height)
    else:
        box = (round(width * (1 - occlusion.extent)), 0, width, height)
    draw.rectangle(box, fill=color, outline=edge, width=max(1, width // 32))
    # a little structure (panels, slats) so the occluder is an object, not a flat patch
    x0, y0, x1, y1 = box
    step = max(4, (y1 - y0) // 4) if occlusion.region in ("lower", "upper") else max(4, (x1 - x0) // 3)
    if occlusion.region in ("lower", "upper"):
        for y in range(y0 + step, y1, step):
            draw.line((x0, y, x1, y), fill=edge, width=1)
    else:
        for x in range(x0 + step, x1, step):
            draw.line((x, y0, x, y1), fill=edge, width=1)


def render_tracklet(look: Appearance, events: TrackletEvents, camera: Camera, n_frames: int,
                    size: tuple[int, int], rng: np.random.Generator) -> list[Image.Image]:
    """The ``n_frames`` RGB frames of one tracklet of ``look`` under ``events``, as seen by ``camera``."""
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
    # the target, drawn off-centre when the tracker followed a bystander instead
    target_dx = side_offset if events.wrong_target else 0.0
    centre, side_look = (events.bystander, look) if events.wrong_target else (look, events.bystander)
    gain = np.asarray(camera.gain, dtype=np.float32) * brightness
    # one noise field per tracklet, cut at a new offset each frame (drawing fresh noise per frame is the slow part)
    pad = 16
    noise = rng.standard_normal((height + pad, width + pad, 3), dtype=np.float32) * camera.noise

    frames = []
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
            side_args = (side_look, side_pose, side_view, fx + side_offset - target_dx,
                         feet, height * _FIGURE_HEIGHT * camera.scale * side_look.height)
        if side_args is not None and not events.bystander_in_front:
            draw_figure(draw, *side_args)
        if main is not None and i not in events.missing:
            draw_figure(draw, main, pose, view, fx + target_dx, feet - bob, fh * main.height)
        if side_args is not None and events.bystander_in_front:
            draw_figure(draw, *side_args)
        if events.occlusion is not None and i in events.occlusion.frames:
            _draw_occluder(draw, events.occlusion, width, height)
        if camera.blur > 0:
            image = image.filter(ImageFilter.GaussianBlur(camera.blur))
        pixels = np.asarray(image, dtype=np.float32) * gain + camera.offset
        ny, nx = rng.integers(0, pad + 1, 2)
        pixels += noise[ny:ny + height, nx:nx + width]
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
        if camera.mirrored:
            pixels = pixels[:, ::-1]
        frames.append(Image.fromarray(np.ascontiguousarray(pixels)))
    return frames

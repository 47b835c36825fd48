"""Objects that occlude a tracked person in surveillance footage: other people, luggage, poles, cars, scene clutter.

An occlusion covers one region of the crop (``lower``, ``upper``, ``left``, ``right``) to an ``extent`` (fraction of
the frame height or width); the object drawn there is one that plausibly sits on that side of a person seen by an
elevated camera: a closer person, a car body, luggage or a bench in front of the legs; a sign, an awning or branches
above; a passer-by, a pole, a car end or a plant beside. Colours come from the distributions the rest of the scene
uses (``camera.muted_color`` for scene objects, ``appearance.clothing_color`` for luggage, ``draw_identity`` for
people, a muted car-paint palette), shaded by a light from above, and pass through the same camera model (gain,
offset, blur, sensor noise) as the person. ``draw_occluder`` returns the pixel box of what it drew.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from reid_runtime.data.synth.appearance import RGB, Appearance, clothing_color, draw_identity
from reid_runtime.data.synth.camera import muted_color, vary_color
from reid_runtime.data.synth.figure import Box, Painter, Pose, draw_figure, shade

OCCLUDER_KINDS: tuple[str, ...] = ("person", "bag", "pole", "car", "clutter")
# region -> (kind, weight): what sits on that side of a person in a crop from an elevated camera
_KINDS: dict[str, tuple[tuple[str, float], ...]] = {
    "lower": (("person", 0.2), ("car", 0.25), ("bag", 0.25), ("clutter", 0.3)),
    "upper": (("clutter", 1.0),),
    "left": (("person", 0.35), ("pole", 0.3), ("car", 0.1), ("clutter", 0.25)),
    "right": (("person", 0.35), ("pole", 0.3), ("car", 0.1), ("clutter", 0.25)),
}
VARIANTS = 3  # shapes per kind, read per region (lower clutter: bench / bin / planter; upper: sign / branches / awning)
# car paint: white, silver, grey, black, dark blue, dark red, beige (most cars on the road are achromatic)
_PAINT: tuple[RGB, ...] = ((212, 212, 206), (168, 170, 172), (108, 110, 114), (34, 34, 38), (46, 58, 92),
                           (118, 38, 36), (178, 162, 132))
_PAINT_WEIGHTS = (0.24, 0.18, 0.18, 0.2, 0.08, 0.06, 0.06)
_GLASS: RGB = (52, 58, 66)
_RUBBER: RGB = (28, 28, 30)
_PERSON_VIEWS = (0, 1, 4, 5)  # passers-by face or leave the camera, or walk diagonally


@dataclass(frozen=True)
class Occluder:
    """The object of one occlusion: ``kind`` (one of ``OCCLUDER_KINDS``), ``variant`` (a shape of that kind),
    ``colors`` (body, detail, leaves), for a person their ``look``, ``view`` and walk ``phase``; ``offset`` (-1..1)
    moves it along the region, ``scale`` sizes it, ``seed`` places leaves."""

    kind: str
    variant: int
    colors: tuple[RGB, ...]
    look: Appearance | None = None
    view: int = 0
    phase: float = 0.0
    offset: float = 0.0
    scale: float = 1.0
    seed: int = 0


def draw_occluder_spec(rng: np.random.Generator, region: str) -> Occluder:
    """Draw the object that covers ``region`` and its look."""
    kinds, weights = zip(*_KINDS[region])
    kind = kinds[int(rng.choice(len(kinds), p=np.asarray(weights) / sum(weights)))]
    variant = int(rng.integers(VARIANTS))
    offset, scale, phase = float(rng.uniform(-1, 1)), float(rng.uniform(0.9, 1.12)), float(rng.uniform(0, 2 * np.pi))
    seed = int(rng.integers(2**31))
    if kind == "person":
        look = draw_identity(rng, "mars")[0]
        view = _PERSON_VIEWS[int(rng.integers(len(_PERSON_VIEWS)))]
        return Occluder(kind, variant, (), look, view, phase, offset, scale, seed)
    if kind == "bag":
        body, detail = clothing_color(rng), clothing_color(rng)
    elif kind == "car":
        paint = _PAINT[int(rng.choice(len(_PAINT), p=np.asarray(_PAINT_WEIGHTS) / sum(_PAINT_WEIGHTS)))]
        body, detail = vary_color(paint, rng, 8), vary_color(_GLASS, rng, 8)
    else:
        body, detail = muted_color(rng, 40, 210), muted_color(rng, 40, 210)
    base = muted_color(rng)  # leaves: a muted colour pulled towards green
    leaf = vary_color(((base[0] + 70) // 2, (base[1] + 120) // 2, (base[2] + 60) // 2), rng, 10)
    colors = (body, detail, leaf)
    return Occluder(kind, variant, colors, None, 0, phase, offset, scale, seed)


class _Canvas(Painter):
    """Pixel drawing (the figure painter at unit scale, so it keeps the box of everything drawn)."""

    def __init__(self, draw: ImageDraw.ImageDraw) -> None:
        super().__init__(draw, 0.0, 0.0, 1.0)

    def line(self, x0: float, y0: float, x1: float, y1: float, color: RGB, width: float) -> None:  # type: ignore[override]
        super().line((x0, y0), (x1, y1), width, color)

    def lit(self, x0: float, y0: float, x1: float, y1: float, color: RGB, bands: int = 4, across: bool = False,
            spread: float = 0.14) -> None:
        """A surface lit from above (bands darker downwards), or a cylinder (``across``: brightest in the middle)."""
        for i in range(bands):
            t = (i + 0.5) / bands
            factor = 1 + spread * (0.6 - 1.6 * abs(t - 0.5)) if across else 1 + spread * (0.5 - t)
            if across:
                self.rect(x0 + (x1 - x0) * i / bands, y0, x0 + (x1 - x0) * (i + 1) / bands, y1, shade(color, factor))
            else:
                self.rect(x0, y0 + (y1 - y0) * i / bands, x1, y0 + (y1 - y0) * (i + 1) / bands, shade(color, factor))


def region_box(region: str, extent: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The part of the frame an occlusion of ``region`` and ``extent`` covers, in pixels (x0, y0, x1, y1)."""
    if region == "lower":
        return (0, round(height * (1 - extent)), width, height)
    if region == "upper":
        return (0, 0, width, round(height * extent))
    if region == "left":
        return (0, 0, round(width * extent), height)
    return (round(width * (1 - extent)), 0, width, height)


def draw_occluder(draw: ImageDraw.ImageDraw, occluder: Occluder, region: str, extent: float, frame: int,
                  width: int, height: int) -> Box:
    """Draw ``occluder`` over ``region`` of a ``width`` x ``height`` frame (``frame``: index in the tracklet, for a
    walking person's cycle); returns the pixel box of what was drawn, not clipped to the frame."""
    box = region_box(region, extent, width, height)
    if occluder.kind == "person":
        return _person(draw, occluder, region, box, frame, width, height)
    canvas = _Canvas(draw)
    side = region in ("left", "right")
    if occluder.kind == "car":
        if side:
            _car_side(canvas, occluder, region, box, height)
        else:
            _car_front(canvas, occluder, box, width, height)
    elif occluder.kind == "bag":
        _luggage(canvas, occluder, box, width, height)
    elif occluder.kind == "pole":
        _pole(canvas, occluder, box, width, height)
    elif region == "upper":
        _overhead(canvas, occluder, box, width, height)
    elif side:
        _beside(canvas, occluder, box, width, height)
    else:
        _in_front(canvas, occluder, box, width, height)
    return canvas.box


def _person(draw: ImageDraw.ImageDraw, occluder: Occluder, region: str, box: tuple[int, int, int, int], frame: int,
            width: int, height: int) -> Box:
    """Another person: closer to the camera (head and shoulders over the lower body) or passing beside."""
    if occluder.look is None:
        raise ValueError("a person occluder needs a look")
    pose = Pose(occluder.phase + 0.9 * frame, 0.45, 0.03)
    look, view = occluder.look, occluder.view
    if region == "lower":
        tall = height * 1.35 * occluder.scale * look.height
        top = draw_figure(None, look, pose, view, 0.0, 0.0, tall)[1]
        x = width * (0.5 + 0.18 * occluder.offset)
        return draw_figure(draw, look, pose, view, x, box[1] - top, tall)
    tall = height * 0.95 * occluder.scale * look.height
    feet = height * (0.97 + 0.25 * (occluder.scale - 1))
    x0, _, x1, _ = draw_figure(None, look, pose, view, 0.0, feet, tall)
    x = box[2] - x1 if region == "left" else box[0] - x0
    return draw_figure(draw, look, pose, view, x, feet, tall)


def _car_front(canvas: _Canvas, occluder: Occluder, box: tuple[int, int, int, int], width: int, height: int) -> None:
    """A car body across the lower part of the crop: its side (window, door, wheel), or its front / rear."""
    paint, glass, _ = occluder.colors
    x0, y0, x1, y1 = -0.05 * width, box[1], 1.05 * width, height + 1
    depth = y1 - y0
    if occluder.variant == 0:  # side: a window band on top, a door seam, a wheel at the bottom
        window = y0 + 0.3 * depth
        canvas.polygon([(x0, window), (x0 + 0.08 * width, y0), (x1 - 0.2 * width, y0), (x1, window)], glass)
        canvas.lit(x0, window, x1, y1, paint, bands=4)
        seam = width * (0.5 + 0.3 * occluder.offset)
        canvas.line(seam, window, seam, y1, shade(paint, 0.78), width / 48)
        canvas.line(x0, window + 0.35 * (y1 - window), x1, window + 0.35 * (y1 - window), shade(paint, 1.1),
                    width / 40)
        wheel_r = min(0.2 * width, 0.45 * depth)
        canvas.ellipse(width * (0.5 - 0.3 * occluder.offset), y1 + 0.2 * wheel_r, wheel_r, wheel_r, _RUBBER)
    else:  # front or rear: bonnet / boot lid, bumper, lamps, plate
        canvas.polygon([(x0, y0 + 0.12 * depth), (x0 + 0.1 * width, y0), (x1 - 0.1 * width, y0),
                        (x1, y0 + 0.12 * depth), (x1, y1), (x0, y1)], paint)
        canvas.lit(x0, y0 + 0.12 * depth, x1, y1, paint, bands=3, spread=0.18)
        bumper = y0 + 0.62 * depth
        canvas.rect(x0, bumper, x1, bumper + 0.12 * depth, shade(paint, 0.72))
        lamp = (236, 232, 214) if occluder.variant == 1 else (150, 52, 44)
        for lx in (0.05 * width, 0.75 * width):
            canvas.rect(lx, y0 + 0.3 * depth, lx + 0.2 * width, y0 + 0.42 * depth, shade(lamp, 0.85))
        canvas.rect(0.36 * width, bumper - 0.14 * depth, 0.64 * width, bumper - 0.02 * depth, (196, 196, 188))


def _car_side(canvas: _Canvas, occluder: Occluder, region: str, box: tuple[int, int, int, int], height: int) -> None:
    """The front or rear end of a car beside the person: roof line below the head, glass, body, a wheel."""
    paint, glass, _ = occluder.colors
    x0, _, x1, _ = box
    top = height * (0.32 + 0.08 * occluder.offset)
    inner, outer = (x1, x0 - 2) if region == "left" else (x0, x1 + 2)
    step = 0.25 * (inner - outer)
    canvas.polygon([(outer, top), (inner - step, top), (inner, top + 0.18 * height), (outer, top + 0.18 * height)],
                   glass)
    canvas.lit(min(outer, inner), top + 0.18 * height, max(outer, inner), height + 1, paint, bands=4)
    wheel_r = 0.09 * height
    wx = inner - 0.55 * (inner - outer)
    canvas.ellipse(wx, height - 0.4 * wheel_r, wheel_r, wheel_r, _RUBBER)


def _luggage(canvas: _Canvas, occluder: Occluder, box: tuple[int, int, int, int], width: int, height: int) -> None:
    """Suitcases, a holdall or stacked luggage standing in front of the legs."""
    body, second, _ = occluder.colors
    y0, y1 = box[1], height + 1
    cx = width * (0.5 + 0.2 * occluder.offset)
    if occluder.variant == 0:  # upright suitcases with ribs, a pulled-out handle and castors
        cases = [(cx - 0.22 * width * occluder.scale, body)]
        if occluder.offset > 0:
            cases.append((cx + 0.24 * width * occluder.scale, second))
        for centre, color in cases:
            half = 0.2 * width * occluder.scale
            top = y0 + 0.1 * (y1 - y0)
            canvas.line(centre - 0.4 * half, y0, centre - 0.4 * half, top, (70, 70, 72), width / 48)
            canvas.line(centre + 0.4 * half, y0, centre + 0.4 * half, top, (70, 70, 72), width / 48)
            canvas.line(centre - 0.45 * half, y0, centre + 0.45 * half, y0, _RUBBER, width / 32)
            canvas.lit(centre - half, top, centre + half, y1 - 0.04 * height, color, bands=3)
            for rib in (-0.5, 0.0, 0.5):
                canvas.line(centre + rib * half, top + 2, centre + rib * half, y1 - 0.05 * height,
                            shade(color, 0.85), width / 64)
            for wx in (centre - 0.7 * half, centre + 0.7 * half):
                canvas.ellipse(wx, y1 - 0.03 * height, 0.02 * width + 1, 0.02 * width + 1, _RUBBER)
    elif occluder.variant == 1:  # a holdall: rounded body, strap, zip
        half = 0.42 * width * occluder.scale
        top = y0 + 0.25 * (y1 - y0)
        canvas.line(cx - 0.5 * half, top, cx, y0, shade(body, 0.7), width / 40)
        canvas.line(cx, y0, cx + 0.5 * half, top, shade(body, 0.7), width / 40)
        canvas.ellipse(cx - half * 0.75, (top + y1) / 2, half * 0.3, (y1 - top) / 2, shade(body, 0.9))
        canvas.ellipse(cx + half * 0.75, (top + y1) / 2, half * 0.3, (y1 - top) / 2, shade(body, 0.9))
        canvas.lit(cx - half * 0.75, top, cx + half * 0.75, y1, body, bands=3)
        canvas.line(cx - half * 0.7, top + 0.15 * (y1 - top), cx + half * 0.7, top + 0.15 * (y1 - top),
                    shade(body, 0.75), width / 64)
    else:  # luggage stacked on a trolley
        half = 0.4 * width * occluder.scale
        middle = (y0 + y1) / 2
        canvas.lit(cx - half * 0.8, y0, cx + half * 0.8, middle, second, bands=2)
        canvas.lit(cx - half, middle, cx + half, y1 - 0.05 * height, body, bands=2)
        canvas.line(cx - half, y1 - 0.04 * height, cx + half, y1 - 0.04 * height, (90, 90, 94), width / 32)


def _pole(canvas: _Canvas, occluder: Occluder, box: tuple[int, int, int, int], width: int, height: int) -> None:
    """A post, a square column or a tree trunk filling the side band from top to bottom."""
    body, detail, _ = occluder.colors
    x0, _, x1, _ = box
    if occluder.variant == 0:  # round post: cylinder shading, a collar and a base
        canvas.lit(x0, -1, x1, height + 1, body, bands=5, across=True, spread=0.3)
        canvas.rect(x0, height * (0.3 + 0.1 * occluder.offset), x1, height * (0.34 + 0.1 * occluder.offset),
                    shade(body, 0.8))
        canvas.rect(x0 - 0.02 * width, height * 0.9, x1 + 0.02 * width, height + 1, shade(body, 0.75))
    elif occluder.variant == 1:  # square column: a lit face and a face in shadow, a plinth
        split = x0 + (x1 - x0) * (0.55 + 0.2 * occluder.offset)
        canvas.lit(x0, -1, split, height + 1, body, bands=3, spread=0.1)
        canvas.lit(split, -1, x1, height + 1, shade(body, 0.78), bands=3, spread=0.1)
        canvas.rect(x0, height * 0.88, x1, height + 1, detail)
    else:  # tree trunk: bark streaks
        bark = ((body[0] + 110) // 2, (body[1] + 88) // 2, (body[2] + 62) // 2)
        canvas.lit(x0, -1, x1, height + 1, bark, bands=4, across=True, spread=0.25)
        for i in range(3):
            sx = x0 + (x1 - x0) * (0.2 + 0.3 * i + 0.05 * occluder.offset)
            canvas.line(sx, -1, sx + 0.03 * width * occluder.offset, height + 1, shade(bark, 0.75), width / 48)


def _overhead(canvas: _Canvas, occluder: Occluder, box: tuple[int, int, int, int], width: int, height: int) -> None:
    """Above the person: a hanging sign, branches, or an awning."""
    _, _, _, y1 = box
    if occluder.variant == 0:  # sign board: frame, panel, lines of lettering
        body, detail, _ = occluder.colors
        x0 = -0.1 * width + 0.15 * width * occluder.offset
        canvas.rect(x0, -1, width * 1.1, y1, shade(body, 0.7))
        canvas.lit(x0 + 0.04 * width, 0.04 * height, width * 1.1, y1 - 0.03 * height, body, bands=3, spread=0.1)
        rows = max(1, int((y1 - 0.08 * height) // (0.09 * height)))
        for r in range(rows):
            ly = 0.08 * height + r * 0.09 * height
            canvas.rect(x0 + 0.12 * width, ly, width * (0.6 + 0.25 * (r % 2)), ly
                        + 0.035 * height, detail)
    elif occluder.variant == 1:  # branches and leaves hanging into the crop
        rng = np.random.default_rng(occluder.seed)
        for _ in range(14):
            cx, cy = rng.uniform(-0.1, 1.1) * width, rng.uniform(0.0, 0.75) * y1
            r = rng.uniform(0.1, 0.22) * width
            canvas.ellipse(cx, cy, r, r * rng.uniform(0.6, 1.0), shade(occluder.colors[2], rng.uniform(0.8, 1.15)))
    else:  # awning: stripes of two colours, a scalloped edge
        body, detail, _ = occluder.colors
        stripe = width / 6
        for i in range(-1, 8):
            canvas.polygon([(i * stripe, -1), ((i + 1) * stripe, -1), ((i + 1.2) * stripe, y1 - 0.06 * height),
                            ((i + 0.2) * stripe, y1 - 0.06 * height)], body if i % 2 else detail)
            canvas.ellipse((i + 0.7) * stripe, y1 - 0.06 * height, stripe / 2, 0.06 * height,
                           shade(body if i % 2 else detail, 0.85))


def _beside(canvas: _Canvas, occluder: Occluder, box: tuple[int, int, int, int], width: int, height: int) -> None:
    """Beside the person: a bush, a kiosk / vending machine, or a sign on a stand."""
    x0, _, x1, _ = box
    if occluder.variant == 1:  # a bush
        rng = np.random.default_rng(occluder.seed)
        for _ in range(16):
            cx, cy = rng.uniform(x0, x1), rng.uniform(0.25, 1.0) * height
            r = rng.uniform(0.12, 0.25) * width
            canvas.ellipse(cx, cy, r * 0.8, r, shade(occluder.colors[2], rng.uniform(0.8, 1.15)))
        return
    body, detail, _ = occluder.colors
    if occluder.variant == 0:  # kiosk / vending machine: a panel with a lighter window and a slot
        top = height * (0.08 + 0.06 * occluder.offset)
        canvas.lit(x0, top, x1, height + 1, body, bands=4)
        canvas.rect(x0 + 0.15 * (x1 - x0), top + 0.1 * height, x1 - 0.15 * (x1 - x0), top + 0.45 * height,
                    shade(detail, 1.1))
        canvas.rect(x0 + 0.3 * (x1 - x0), top + 0.55 * height, x1 - 0.3 * (x1 - x0), top + 0.58 * height, _RUBBER)
    else:  # sign on a stand: a post and a board over the middle of the band
        post = (x0 + x1) / 2 + 0.2 * (x1 - x0) * occluder.offset
        canvas.rect(post - 0.03 * width, 0.2 * height, post + 0.03 * width, height + 1, shade(detail, 0.8))
        canvas.lit(x0, 0.15 * height, x1, 0.55 * height, body, bands=3)
        canvas.rect(x0 + 0.1 * (x1 - x0), 0.22 * height, x1 - 0.1 * (x1 - x0), 0.26 * height, detail)


def _in_front(canvas: _Canvas, occluder: Occluder, box: tuple[int, int, int, int], width: int,
              height: int) -> None:
    """In front of the legs: a bench or railing, a bin, or a planter with a plant."""
    body, detail, _ = occluder.colors
    y0, y1 = box[1], height + 1
    depth = y1 - y0
    if occluder.variant == 0:  # bench / railing: rails and posts, the legs show between the rails
        for r in range(3):
            ry = y0 + depth * (0.05 + 0.32 * r)
            canvas.lit(-1, ry, width + 1, ry + 0.16 * depth, body, bands=2)
        for px in (0.15 * width, 0.85 * width):
            canvas.rect(px - 0.04 * width, y0, px + 0.04 * width, y1, shade(detail, 0.8))
    elif occluder.variant == 1:  # a bin: body, darker lid, a slot
        cx = width * (0.5 + 0.2 * occluder.offset)
        half = 0.3 * width * occluder.scale
        canvas.lit(cx - half, y0 + 0.12 * depth, cx + half, y1, body, bands=4, across=True, spread=0.25)
        canvas.rect(cx - half * 1.08, y0, cx + half * 1.08, y0 + 0.14 * depth, shade(detail, 0.8))
        canvas.rect(cx - half * 0.5, y0 + 0.2 * depth, cx + half * 0.5, y0 + 0.26 * depth, _RUBBER)
    else:  # planter: a pot with leaves above it
        cx = width * (0.5 + 0.2 * occluder.offset)
        half = 0.34 * width * occluder.scale
        rim = y0 + 0.45 * depth
        canvas.polygon([(cx - half, rim), (cx + half, rim), (cx + half * 0.8, y1), (cx - half * 0.8, y1)], body)
        leaf = occluder.colors[2]
        rng = np.random.default_rng(occluder.seed)
        for i in range(8):
            lx, ly = cx + rng.uniform(-1, 1) * half, rng.uniform(y0 + 0.1 * depth, rim)
            r = rng.uniform(0.1, 0.2) * width
            canvas.ellipse(lx, ly, r, r * 0.7, shade(leaf, 0.85 + 0.1 * (i % 3)))

"""Draw one person-like figure (head, hair, torso, arms, legs, bags) with PIL.ImageDraw in a given view and pose."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import ImageDraw

from reid_runtime.data.synth.appearance import RGB, Appearance

# angle class index -> view; the MARS/Duke ``angle`` column has 6 unnamed classes, this is the generator's meaning
VIEWS: tuple[str, ...] = ("front", "back", "left", "right", "front-diagonal", "back-diagonal")
# view -> (body width factor, how much limb swing shows in the image plane, facing direction, front visible)
_VIEW_GEOMETRY: dict[str, tuple[float, float, int, bool]] = {
    "front": (1.0, 0.12, 0, True),
    "back": (1.0, 0.12, 0, False),
    "left": (0.55, 1.0, -1, False),
    "right": (0.55, 1.0, 1, False),
    "front-diagonal": (0.8, 0.5, 1, True),
    "back-diagonal": (0.8, 0.5, -1, False),
}
MIRRORED_VIEW: dict[int, int] = {0: 0, 1: 1, 2: 3, 3: 2, 4: 4, 5: 5}


@dataclass(frozen=True)
class Pose:
    """Walk-cycle phase and limb swing amplitude (radians), forward lean of the upper body (radians)."""

    phase: float
    swing: float
    lean: float


def shade(rgb: RGB, factor: float = 0.6) -> RGB:
    """``rgb`` scaled by ``factor`` (darker below 1), clamped to 0..255."""
    return tuple(int(min(255, max(0, c * factor))) for c in rgb)  # type: ignore[return-value]


class Painter:
    """Figure-relative drawing: (dx, dy) in units of the figure height, feet at dy = 0, head top near dy = -1.

    Keeps the pixel box of everything it draws (``box``); with ``draw=None`` it only measures.
    """

    def __init__(self, draw: ImageDraw.ImageDraw | None, x: float, feet_y: float, height: float) -> None:
        self.draw, self.x, self.y, self.u = draw, x, feet_y, height
        self.xs: list[float] = []
        self.ys: list[float] = []

    def pt(self, dx: float, dy: float, pad: float = 0.0) -> tuple[float, float]:
        x, y = self.x + dx * self.u, self.y + dy * self.u
        if pad:
            self.xs += (x - pad, x + pad)
            self.ys += (y - pad, y + pad)
        else:
            self.xs.append(x)
            self.ys.append(y)
        return (x, y)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (min(self.xs), min(self.ys), max(self.xs), max(self.ys))

    def px(self, size: float) -> int:
        return max(1, round(size * self.u))

    def polygon(self, points: list[tuple[float, float]], color: RGB) -> None:
        xy = [self.pt(dx, dy) for dx, dy in points]
        if self.draw is not None:
            self.draw.polygon(xy, fill=color)

    def rect(self, dx0: float, dy0: float, dx1: float, dy1: float, color: RGB, outline: RGB | None = None) -> None:
        (x0, y0), (x1, y1) = self.pt(min(dx0, dx1), min(dy0, dy1)), self.pt(max(dx0, dx1), max(dy0, dy1))
        if self.draw is not None:
            self.draw.rectangle((x0, y0, x1, y1), fill=color, outline=outline)

    def ellipse(self, dx: float, dy: float, rx: float, ry: float, color: RGB) -> None:
        (x0, y0), (x1, y1) = self.pt(dx - rx, dy - ry), self.pt(dx + rx, dy + ry)
        if self.draw is not None:
            self.draw.ellipse((x0, y0, x1, y1), fill=color)

    def pieslice(self, dx: float, dy: float, r: float, start: float, end: float, color: RGB) -> None:
        (x0, y0), (x1, y1) = self.pt(dx - r, dy - r), self.pt(dx + r, dy + r)
        if self.draw is not None:
            self.draw.pieslice((x0, y0, x1, y1), start, end, fill=color)

    def line(self, p0: tuple[float, float], p1: tuple[float, float], width: float, color: RGB) -> None:
        pixels = self.px(width)
        xy = [self.pt(*p0, pad=pixels / 2), self.pt(*p1, pad=pixels / 2)]
        if self.draw is not None:
            self.draw.line(xy, fill=color, width=pixels)

    def limb(self, p0: tuple[float, float], p1: tuple[float, float], width: float,
             bands: list[tuple[float, RGB]]) -> None:
        """A straight limb coloured in consecutive bands; ``bands`` holds (end fraction, colour) pairs."""
        start = 0.0
        for end, color in bands:
            a = (p0[0] + (p1[0] - p0[0]) * start, p0[1] + (p1[1] - p0[1]) * start)
            b = (p0[0] + (p1[0] - p0[0]) * end, p0[1] + (p1[1] - p0[1]) * end)
            self.line(a, b, width, color)
            start = end


def _garment_bands(colors: tuple[RGB, ...], cover: float, rest: RGB, stripes: int = 4) -> list[tuple[float, RGB]]:
    """Bands of a limb covered by a garment up to ``cover``; a patterned garment alternates its colours."""
    if len(colors) == 1:
        bands = [(cover, colors[0])]
    else:
        bands = [(cover * (i + 1) / stripes, colors[i % len(colors)]) for i in range(stripes)]
    if cover < 1.0:
        bands.append((1.0, rest))
    return bands


def _banded_trapezoid(p: Painter, cx0: float, y0: float, half0: float, cx1: float, y1: float, half1: float,
                      colors: tuple[RGB, ...], stripes: int = 5) -> None:
    """A trapezoid from (top centre, half width) to (bottom centre, half width), striped if patterned."""
    n = 1 if len(colors) == 1 else stripes
    for i in range(n):
        t0, t1 = i / n, (i + 1) / n
        top_c, top_h = cx0 + (cx1 - cx0) * t0, half0 + (half1 - half0) * t0
        bot_c, bot_h = cx0 + (cx1 - cx0) * t1, half0 + (half1 - half0) * t1
        ya, yb = y0 + (y1 - y0) * t0, y0 + (y1 - y0) * t1
        p.polygon([(top_c - top_h, ya), (top_c + top_h, ya), (bot_c + bot_h, yb), (bot_c - bot_h, yb)],
                  colors[i % len(colors)])


Box = tuple[float, float, float, float]


def draw_figure(draw: ImageDraw.ImageDraw | None, look: Appearance, pose: Pose, view: int, x: float, feet_y: float,
                height: float) -> Box:
    """Draw ``look`` with its feet centred at (x, feet_y) and ``height`` pixels tall, seen from ``VIEWS[view]``.

    Returns the pixel box ``(x0, y0, x1, y1)`` of what was drawn (not clipped to the image); ``draw=None`` draws
    nothing and only returns the box, i.e. where the figure would be.
    """
    width_factor, side_factor, facing, front = _VIEW_GEOMETRY[VIEWS[view]]
    back = VIEWS[view] in ("back", "back-diagonal")
    side = VIEWS[view] in ("left", "right")
    p = Painter(draw, x, feet_y, height)
    # the person's own left/right appears swapped when seen from behind
    bag_side = -look.bag_side if back else look.bag_side
    build = look.build * (0.92 if look.female else 1.0)
    lean = pose.lean + look.stoop
    forward = facing if facing else 1
    shift = forward * math.sin(lean) * 0.25 if facing else 0.0
    drop = (1 - math.cos(lean)) * 0.4 + (0.0 if facing else math.sin(lean) * 0.08)

    shoulder_y, hip_y = -0.80 + drop, -0.47
    shoulder_half = (0.135 if look.female else 0.158) * build * width_factor
    hip_half = (0.124 if look.female else 0.108) * build * width_factor
    leg_w, arm_w = 0.1 * build, 0.06 * build
    head_r = 0.082 if look.height < 0.8 else 0.068
    head_x, head_y = shift + forward * 0.02 * abs(facing), shoulder_y - 0.035 - head_r
    swing = pose.swing * math.sin(pose.phase)

    # legs: (hip x, swing angle, length) per leg; in front/back views the swing shows as a lifted foot
    leg_spread = hip_half * (0.15 if side else 0.5)
    legs = []
    for sign in (-1, 1):
        angle = sign * swing * side_factor * forward
        lift = 0.0 if side else 0.14 * max(0.0, sign * math.sin(pose.phase)) * min(1.0, pose.swing / 0.45)
        legs.append((sign * leg_spread, angle, -hip_y * (1 - lift)))
    leg_cover = 1.0 if look.dress else (0.9 if look.long_bottom else 0.42)
    leg_colors = (look.skin,) if look.dress else look.bottom
    feet = []
    for hx, angle, length in legs:
        foot = (hx + length * math.sin(angle), hip_y + length * math.cos(angle))
        p.limb((hx, hip_y), foot, leg_w, _garment_bands(leg_colors, leg_cover, look.skin))
        feet.append(foot)
    for fx, fy in feet:
        if look.boots:
            p.line((fx, fy - 0.15), (fx, fy - 0.01), leg_w * 1.1, look.shoes)
        p.ellipse(fx + forward * 0.02 * abs(facing), fy - 0.015, 0.05, 0.022, look.shoes)
    if look.dress:
        skirt_end = -0.1 if look.long_bottom else -0.27
        _banded_trapezoid(p, shift * 0.3, hip_y - 0.02, hip_half, 0.0, skirt_end, hip_half * 1.7, look.bottom)

    # arms swing against the legs; in side views the far arm is drawn before the torso
    arm_len = 0.36
    arm_cover = 0.92 if look.long_sleeves else 0.34
    arm_bands = _garment_bands(look.top, arm_cover, look.skin, stripes=2)
    arms = []
    for sign in (-1, 1):
        angle = -sign * swing * side_factor * forward * 1.1
        sx = shift + (sign * shoulder_half * 0.25 if side else sign * (shoulder_half + arm_w * 0.35))
        hand = (sx + arm_len * math.sin(angle) + (0 if side else sign * 0.02), shoulder_y + 0.03
                + arm_len * math.cos(angle))
        arms.append(((sx, shoulder_y + 0.03), hand))

    def draw_arm(arm: tuple[tuple[float, float], tuple[float, float]]) -> None:
        p.limb(arm[0], arm[1], arm_w, arm_bands)
        p.ellipse(arm[1][0], arm[1][1], arm_w * 0.55, arm_w * 0.55, look.skin)

    far, near = (arms[0], arms[1]) if forward > 0 else (arms[1], arms[0])
    if side:
        draw_arm(far)
    if look.backpack and side:
        back_edge = shift - forward * shoulder_half
        p.rect(back_edge, shoulder_y + 0.04, back_edge - forward * 0.1, hip_y - 0.06, look.bag, shade(look.bag))
    if look.long_hair and not back:
        p.rect(head_x - head_r * 1.05, head_y, head_x + head_r * 1.05, shoulder_y + 0.09, look.hair)

    _banded_trapezoid(p, shift, shoulder_y, shoulder_half, shift * 0.3, hip_y + 0.02, hip_half * 1.05, look.top)
    if look.belt is not None and not look.dress:
        p.line((shift * 0.3 - hip_half, hip_y + 0.01), (shift * 0.3 + hip_half, hip_y + 0.01), 0.02, look.belt)
    if front and look.logo != "none":
        lx, ly, s = shift + look.logo_offset * shoulder_half * 0.6, shoulder_y + 0.11, 0.035
        if look.logo == "circle":
            p.ellipse(lx, ly, s, s, look.logo_color)
        elif look.logo == "square":
            p.rect(lx - s, ly - s, lx + s, ly + s, look.logo_color)
        elif look.logo == "bar":
            p.rect(shift - shoulder_half * 0.85, ly - s * 0.5, shift + shoulder_half * 0.85, ly + s * 0.5,
                   look.logo_color)
        elif look.logo == "triangle":
            p.polygon([(lx, ly - s), (lx + s, ly + s), (lx - s, ly + s)], look.logo_color)
        else:
            p.line((lx - s, ly), (lx + s, ly), 0.018, look.logo_color)
            p.line((lx, ly - s), (lx, ly + s), 0.018, look.logo_color)
    if look.backpack and not side:
        if back:
            half = shoulder_half * 0.78
            p.rect(shift - half, shoulder_y + 0.035, shift + half, hip_y - 0.05, look.bag, shade(look.bag))
        else:
            for sign in (-1, 1):
                sx = shift + sign * shoulder_half * 0.55
                p.line((sx, shoulder_y), (sx, shoulder_y + 0.17), 0.018, shade(look.bag))
    if look.shoulder_bag:
        p.line((shift - bag_side * shoulder_half * 0.7, shoulder_y + 0.01),
               (bag_side * hip_half, hip_y - 0.02), 0.016, shade(look.bag))
        bx = bag_side * (hip_half + 0.03) if not side else -forward * hip_half * 0.6
        p.rect(bx - 0.05, hip_y - 0.06, bx + 0.05, hip_y + 0.03, look.bag, shade(look.bag))

    if side:
        draw_arm(near)
    else:
        draw_arm(arms[0])
        draw_arm(arms[1])
    if look.handbag:
        hx, hy = (near if side else arms[0 if bag_side < 0 else 1])[1]
        p.rect(hx - 0.035, hy + 0.01, hx + 0.035, hy + 0.085, look.bag, shade(look.bag))

    # head and hair; the face shows only in front views
    p.line((head_x, head_y), (shift, shoulder_y + 0.01), 0.04, look.skin)
    if back:
        p.ellipse(head_x, head_y, head_r, head_r * 1.1, look.hair)
        if look.long_hair:
            p.rect(head_x - head_r, head_y, head_x + head_r, shoulder_y + 0.1, look.hair)
    else:
        p.ellipse(head_x, head_y, head_r, head_r * 1.1, look.skin)
        if side:
            start = 90.0 if forward > 0 else 270.0
            p.pieslice(head_x, head_y - head_r * 0.1, head_r * 1.02, start, start + 180.0, look.hair)
            p.pieslice(head_x, head_y - head_r * 0.1, head_r * 1.02, 180.0, 360.0, look.hair)
        else:
            p.pieslice(head_x, head_y - head_r * 0.12, head_r * 1.04, 180.0, 360.0, look.hair)
    if look.hat:
        brim_front = forward * head_r * 0.6 if facing else 0.0
        p.rect(head_x - head_r * 1.25 + min(brim_front, 0), head_y - head_r * 0.75,
               head_x + head_r * 1.25 + max(brim_front, 0), head_y - head_r * 0.5, look.hat_color)
        p.rect(head_x - head_r * 0.85, head_y - head_r * 1.45, head_x + head_r * 0.85, head_y - head_r * 0.6,
               look.hat_color)
    return p.box

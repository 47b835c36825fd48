"""The look of one identity, drawn from its ID-relevant attribute values plus a few per-identity details.

Value meanings used here (the datasets leave binary columns undocumented, so these are this generator's choices):

- MARS ``upcolor`` / ``downcolor``: the published names (reference section 4.1); ``complex`` draws a two-colour pattern.
  Duke ``topcolor`` (9) / ``downcolor`` (8) have no published names; this generator uses the palettes below.
- ``up`` / ``down``: 0 = long sleeves / long bottom, 1 = short. Duke ``top``: 0 = short sleeves, 1 = long.
- ``bag``, ``backpack``, ``handbag``, ``hat`` (Duke ``shoulder bag`` ...): 1 = carried / worn.
- ``hair``: 1 = long hair. ``gender``: 1 = female (narrower shoulders, wider hips). ``btype``: 1 = dress / skirt.
- ``age``: 0..3 = young, teenager, adult, old, drawn as body height (and a stoop for old).
- Duke ``boots``: 1 = tall boots; ``shoes``: 1 = light-coloured shoes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reid_runtime.data.attribute_schema import SCHEMAS

RGB = tuple[int, int, int]

_RGB: dict[str, RGB] = {
    "black": (28, 28, 32), "purple": (112, 52, 136), "green": (48, 122, 62), "blue": (40, 72, 156),
    "gray": (122, 122, 128), "white": (226, 226, 220), "yellow": (222, 196, 58), "red": (184, 40, 42),
    "pink": (226, 142, 176), "brown": (112, 76, 44),
}

# name per class index and sampling weight (dark and blue clothes dominate, as in street scenes)
MARS_TOP = ("black", "purple", "green", "blue", "gray", "white", "yellow", "red", "complex")
MARS_BOTTOM = ("white", "purple", "black", "green", "gray", "pink", "yellow", "blue", "brown", "complex")
DUKE_TOP = ("black", "white", "red", "purple", "gray", "blue", "green", "brown", "complex")
DUKE_BOTTOM = ("black", "white", "red", "gray", "blue", "green", "brown", "complex")
_TOP_WEIGHT = {"black": 28, "purple": 4, "green": 6, "blue": 12, "gray": 16, "white": 14, "yellow": 4, "red": 8,
               "brown": 5, "complex": 8}
_BOTTOM_WEIGHT = {"white": 5, "purple": 2, "black": 36, "green": 4, "gray": 15, "pink": 2, "yellow": 2, "blue": 22,
                  "brown": 6, "red": 2, "complex": 6}
_HAIR = ((24, 20, 18), (58, 40, 26), (96, 66, 38), (150, 118, 70))
_SKIN = ((236, 200, 172), (214, 168, 132), (176, 124, 92), (118, 80, 58))
_LOGOS = ("none", "circle", "square", "bar", "triangle", "cross")
_AGE_HEIGHT = (0.74, 0.9, 1.0, 0.95)


@dataclass(frozen=True)
class Appearance:
    """Visible properties of a figure. ``top``/``bottom`` hold one colour, or several for a patterned garment."""

    top: tuple[RGB, ...]
    bottom: tuple[RGB, ...]
    long_sleeves: bool
    long_bottom: bool
    dress: bool
    shoulder_bag: bool
    backpack: bool
    handbag: bool
    hat: bool
    long_hair: bool
    female: bool
    height: float
    stoop: float
    build: float
    skin: RGB
    hair: RGB
    shoes: RGB
    boots: bool
    bag: RGB
    hat_color: RGB
    logo: str
    logo_color: RGB
    logo_offset: float
    belt: RGB | None
    bag_side: int


def _choice(rng: np.random.Generator, names: tuple[str, ...], weights: dict[str, int]) -> int:
    p = np.array([weights[n] for n in names], dtype=float)
    return int(rng.choice(len(names), p=p / p.sum()))


def _shade(rng: np.random.Generator, rgb: RGB, spread: float = 14.0) -> RGB:
    """The same named colour, slightly different per identity (two 'blue' shirts are not identical)."""
    jitter = rng.normal(0.0, spread, 3)
    return tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(rgb, jitter))  # type: ignore[return-value]


def _garment(rng: np.random.Generator, name: str, palette: tuple[str, ...]) -> tuple[RGB, ...]:
    if name != "complex":
        return (_shade(rng, _RGB[name]),)
    plain = [n for n in palette if n != "complex"]
    picks = rng.choice(len(plain), size=2, replace=False)
    return tuple(_shade(rng, _RGB[plain[int(i)]]) for i in picks)


def clothing_color(rng: np.random.Generator) -> RGB:
    """A plain colour as street clothes and luggage have them (dark, grey and blue dominate), shaded per object."""
    names = tuple(n for n in MARS_BOTTOM if n != "complex")
    return _shade(rng, _RGB[names[_choice(rng, names, _BOTTOM_WEIGHT)]])


def _random_rgb(rng: np.random.Generator) -> RGB:
    return tuple(int(v) for v in rng.integers(20, 236, 3))  # type: ignore[return-value]


def draw_identity(rng: np.random.Generator, layout: str) -> tuple[Appearance, tuple[int, ...]]:
    """Draw one identity: its look and its ID-relevant attribute values in the layout's CSV column order."""
    if layout not in SCHEMAS:
        raise ValueError(f"layout must be one of {tuple(SCHEMAS)}, got {layout!r}")
    top_names, bottom_names = (MARS_TOP, MARS_BOTTOM) if layout == "mars" else (DUKE_TOP, DUKE_BOTTOM)
    top_idx = _choice(rng, top_names, _TOP_WEIGHT)
    bottom_idx = _choice(rng, bottom_names, _BOTTOM_WEIGHT)
    female = bool(rng.random() < 0.4)
    age = int(rng.choice(4, p=[0.06, 0.16, 0.66, 0.12]))
    long_hair = bool(rng.random() < (0.75 if female else 0.08))
    dress = bool(female and rng.random() < 0.35)
    long_sleeves = bool(rng.random() < 0.55)
    long_bottom = bool(rng.random() < (0.5 if dress else 0.72))
    shoulder_bag = bool(rng.random() < 0.25)
    backpack = bool(rng.random() < 0.3)
    handbag = bool(rng.random() < (0.25 if female else 0.1))
    hat = bool(rng.random() < 0.12)
    boots = bool(rng.random() < (0.22 if female else 0.08))
    light_shoes = bool(rng.random() < 0.3)
    shoes = _shade(rng, (214, 214, 210) if light_shoes else (40, 36, 34), 18.0)
    logo = _LOGOS[int(rng.integers(len(_LOGOS)))]
    look = Appearance(
        top=_garment(rng, top_names[top_idx], top_names),
        bottom=_garment(rng, bottom_names[bottom_idx], bottom_names),
        long_sleeves=long_sleeves,
        long_bottom=long_bottom,
        dress=dress,
        shoulder_bag=shoulder_bag,
        backpack=backpack,
        handbag=handbag,
        hat=hat,
        long_hair=long_hair,
        female=female,
        height=_AGE_HEIGHT[age] * float(rng.uniform(0.95, 1.05)),
        stoop=0.12 if age == 3 else 0.0,
        build=float(rng.uniform(0.88, 1.14)),
        skin=_SKIN[int(rng.integers(len(_SKIN)))],
        hair=(168, 168, 164) if age == 3 else _HAIR[int(rng.integers(len(_HAIR)))],
        shoes=shoes,
        boots=boots,
        bag=_random_rgb(rng),
        hat_color=_random_rgb(rng),
        logo=logo,
        logo_color=_random_rgb(rng),
        logo_offset=float(rng.uniform(-0.5, 0.5)),
        belt=_random_rgb(rng) if rng.random() < 0.4 else None,
        bag_side=int(rng.choice([-1, 1])),
    )
    if layout == "mars":
        values = (top_idx, bottom_idx, age, int(not long_sleeves), int(not long_bottom), int(shoulder_bag),
                  int(backpack), int(hat), int(handbag), int(long_hair), int(female), int(dress))
    else:
        values = (int(backpack), int(shoulder_bag), int(handbag), int(boots), int(female), int(hat),
                  int(light_shoes), int(long_sleeves), bottom_idx, top_idx)
    return look, values

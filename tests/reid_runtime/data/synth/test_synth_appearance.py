"""Identity looks follow their attribute values, and every attribute is visible in the drawing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageDraw

from reid_runtime.data.attribute_schema import SCHEMAS
from reid_runtime.data.synth.appearance import _RGB, DUKE_TOP, MARS_BOTTOM, MARS_TOP, draw_identity
from reid_runtime.data.synth.figure import Pose, draw_figure


@pytest.mark.parametrize("layout", ["mars", "dukev"])
def test_attribute_values_in_range_and_shared_between_ids(layout: str) -> None:
    schema = SCHEMAS[layout]
    classes = np.asarray(schema.group_classes(1))
    values = np.asarray([draw_identity(np.random.default_rng(i), layout)[1] for i in range(300)])
    assert values.shape == (300, len(classes))
    assert (values >= 0).all() and (values < classes).all()
    assert all(len(set(column)) > 1 for column in values.T)  # every attribute varies
    # ids are not told apart by the attribute vector alone: several share it
    assert len({tuple(v) for v in values}) < len(values)


def test_mars_look_follows_the_values() -> None:
    columns = SCHEMAS["mars"].columns[9:]
    for i in range(200):
        look, values = draw_identity(np.random.default_rng(i), "mars")
        v = dict(zip(columns, values))
        assert (look.long_sleeves, look.long_bottom) == (not v["up"], not v["down"])
        assert (look.shoulder_bag, look.backpack, look.hat, look.handbag) == (
            bool(v["bag"]), bool(v["backpack"]), bool(v["hat"]), bool(v["handbag"]))
        assert (look.long_hair, look.female, look.dress) == (bool(v["hair"]), bool(v["gender"]), bool(v["btype"]))
        for garment, names, value in ((look.top, MARS_TOP, v["upcolor"]), (look.bottom, MARS_BOTTOM, v["downcolor"])):
            if names[value] == "complex":
                assert len(garment) == 2
            else:
                assert len(garment) == 1 and np.abs(np.subtract(garment[0], _RGB[names[value]])).max() < 70
        assert look.height < 0.8 if v["age"] == 0 else look.height > 0.8


def test_duke_colour_columns_use_the_duke_palette() -> None:
    for i in range(50):
        look, values = draw_identity(np.random.default_rng(i), "dukev")
        name = DUKE_TOP[values[-1]]
        assert name == "complex" or np.abs(np.subtract(look.top[0], _RGB[name])).max() < 70


def _render(look, view: int) -> np.ndarray:
    image = Image.new("RGB", (64, 128), (128, 128, 128))
    draw_figure(ImageDraw.Draw(image), look, Pose(0.8, 0.45, 0.0), view, 32, 124, 110)
    return np.asarray(image)


@pytest.mark.parametrize("field", ["long_sleeves", "long_bottom", "dress", "shoulder_bag", "backpack", "handbag",
                                   "hat", "long_hair", "boots"])
def test_each_attribute_changes_the_drawing(field: str) -> None:
    look, _ = draw_identity(np.random.default_rng(3), "mars")
    look = dataclasses.replace(look, top=((200, 30, 30),), bottom=((30, 30, 200),), skin=(230, 190, 160),
                               hair=(20, 20, 20), shoes=(250, 250, 250), bag=(30, 200, 30), hat_color=(250, 250, 0))
    toggled = dataclasses.replace(look, **{field: not getattr(look, field)})
    assert any(not np.array_equal(_render(look, view), _render(toggled, view)) for view in range(6))


def test_top_colour_fills_the_torso() -> None:
    look, _ = draw_identity(np.random.default_rng(5), "mars")
    look = dataclasses.replace(look, top=((200, 30, 30),), logo="none", backpack=False, shoulder_bag=False,
                               long_hair=False, belt=None)
    torso = _render(look, 1)[42:68, 28:36].reshape(-1, 3)
    assert (np.all(torso == (200, 30, 30), axis=1)).mean() > 0.9

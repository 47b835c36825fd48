"""Recipes: built-in names, overrides, and errors that suggest the right key."""

from __future__ import annotations

import pytest

from reid_runtime.errors import ReidError
from reid_train.engine.config import list_recipes, load_config


def test_builtin_recipes_load():
    assert {"sta_mars", "sta_dukev", "asta_aitl_mars", "tp_mars", "demo"} <= set(list_recipes())
    for name in list_recipes():
        cfg = load_config(name)
        assert cfg["data"]["seq_len"] >= 1


def test_paper_settings_of_sta_recipe():
    cfg = load_config("sta_mars")
    assert cfg["model"]["name"] == "sta_resnet50"
    assert (cfg["data"]["p"], cfg["data"]["k"], cfg["data"]["seq_len"]) == (16, 4, 4)
    assert cfg["optim"]["lr"] == pytest.approx(3e-4) and cfg["optim"]["milestones"] == [200, 400]
    assert cfg["loss"]["triplet_margin"] == pytest.approx(0.3)


def test_path_form_resolves_builtin_recipe():
    assert load_config("configs/demo.yaml")["model"]["name"] == "sta_tiny"


def test_overrides_are_parsed_as_yaml():
    cfg = load_config("demo", ["optim.epochs=3", "data.input_size=[64, 32]", "model.pretrained=null"])
    assert cfg["optim"]["epochs"] == 3 and cfg["data"]["input_size"] == [64, 32]
    assert cfg["model"]["pretrained"] is None


def test_unknown_key_suggests_close_match():
    with pytest.raises(ReidError, match="Did you mean 'optim.epochs'"):
        load_config("demo", ["optim.epoch=3"])


def test_unknown_recipe_is_named():
    with pytest.raises(ReidError, match="sta_mras"):
        load_config("sta_mras")


def test_bad_values_are_rejected():
    with pytest.raises(ReidError, match="data.seq_len"):
        load_config("demo", ["data.seq_len=0"])
    with pytest.raises(ReidError, match="key=value"):
        load_config("demo", ["optim.lr"])

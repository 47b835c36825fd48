"""Recipes: built-in names, overrides, errors that suggest the right key, and the whole recipe validated (types,
ranges, known keys) in one line naming the recipe file or the ``--set`` item, the key, the value and what was
expected."""

from __future__ import annotations

import json

import pytest

from reid_runtime.errors import ReidError
from reid_train.engine.config import (
    RESUME_FREE_KEYS,
    describe_changes,
    flatten,
    list_recipes,
    load_config,
    recipe_changes,
)


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


# ---- the whole recipe validated (pydantic), one line naming where the value came from ------------------------
@pytest.mark.parametrize(("override", "message"), [
    ("optim.lr=fast", "--set optim.lr=fast: optim.lr is 'fast', expected a number"),
    ("optim.epochs=2.5", "--set optim.epochs=2.5: optim.epochs is 2.5, expected an integer"),
    ("optim.epochs=true", "optim.epochs is True, expected an integer"),
    ("train.checkpoint_every=0", "--set train.checkpoint_every=0: train.checkpoint_every is 0, expected a value >= 1"),
    ("optim.lr=-1", "optim.lr is -1, expected a value > 0"),
    ("optim.lr=.inf", "optim.lr is inf, expected a finite number"),
    ("data.erasing_p=1.5", "data.erasing_p is 1.5, expected a value <= 1"),
    ("data.input_size=[64]", "data.input_size is [64], expected at least 2 values"),
    ("data.input_size=[64, 0]", "data.input_size is [64, 0], expected a value >= 1"),
    ("data.train_sampling=evenly",
     "data.train_sampling is 'evenly', expected one of random, restricted or consecutive"),
    ("data.protocol=offical", "data.protocol is 'offical', expected a protocol of mars: standard, with-query"),
    ("train.amp=maybe", "train.amp is 'maybe', expected true or false"),
    ("train.device=gpu", "train.device is 'gpu', expected auto, cpu, mps, cuda or cuda:N"),
    ("optim.milestones=[10, 0]", "optim.milestones is [10, 0], expected a value >= 1"),
    ("model.name=sta_tiy", "model.name is 'sta_tiy', expected a registered model (did you mean 'sta_tiny'?)"),
    ("model.kwargs={embeding_dim: 8}", "sta_tiny takes no argument 'embeding_dim' (did you mean 'embedding_dim'?)"),
    ("model.kwargs=3", "model.kwargs is 3, expected a mapping"),
    ("data.root=2024", "data.root is 2024, expected a string"),
    ("optim=3", "--set optim=3: config key 'optim' must be a mapping, got 3"),
    ("optim.lr=[1", "--set 'optim.lr=[1': the value is not valid YAML"),
])
def test_a_bad_value_is_one_line_naming_the_setting(override, message):
    with pytest.raises(ReidError) as info:
        load_config("demo", [override])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_bad_value_in_a_recipe_file_names_the_file(tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("model:\n  name: sta_tiny\noptim:\n  lr: fast\n  epochs: 2.5\n")
    with pytest.raises(ReidError) as info:
        load_config(recipe)
    assert str(info.value) == (f"{recipe}: optim.lr is 'fast', expected a number (and 1 more: {recipe}: optim.epochs "
                               "is 2.5, expected an integer)")


def test_the_culprit_is_the_last_setting_of_the_key(tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("optim:\n  lr: fast\n")
    assert load_config(recipe, ["optim.lr=0.01"])["optim"]["lr"] == 0.01  # the override wins, nothing to refuse
    with pytest.raises(ReidError, match=r"^--set optim\.lr=slow: "):
        load_config("demo", ["optim.lr=0.01", "optim.lr=slow"])


def test_a_recipe_given_as_a_dict_is_validated_too():
    recipe = load_config("demo")
    recipe["train"]["checkpoint_every"] = 0
    with pytest.raises(ReidError, match="the recipe: train.checkpoint_every is 0"):
        load_config(recipe)


def test_values_are_normalised():
    # YAML reads 3e-4 (no dot) as a string: it is the number 0.0003 in the recipe the trainer gets
    cfg = load_config("demo", ["optim.lr=3e-4", "data.root=data/mars", "optim.gamma=1"])
    assert cfg["optim"]["lr"] == pytest.approx(3e-4) and isinstance(cfg["optim"]["gamma"], float)
    assert cfg == load_config(cfg) and json.loads(json.dumps(cfg)) == cfg  # config.json round-trips


def test_every_builtin_recipe_is_valid_and_complete():
    for name in list_recipes():
        cfg = load_config(name)
        assert set(cfg) == {"model", "data", "loss", "optim", "train"}
        assert cfg["train"]["checkpoint_every"] >= 1 and cfg["optim"]["epochs"] >= 1


def test_recipe_changes_separate_the_recipe_from_free_settings():
    saved = load_config("demo", ["data.root=/a"])
    current = load_config("demo", ["data.root=/b", "optim.epochs=20", "optim.lr=0.002",
                                   "model.kwargs={num_regions: 4, embedding_dim: 128, last_stride: 1, width: 16}"])
    changes, free = recipe_changes(saved, current)
    assert describe_changes(changes) == "model.kwargs.width (not set) -> 16, optim.lr 0.001 -> 0.002"
    assert [key for key, _, _ in free] == ["data.root", "optim.epochs"]
    assert set(RESUME_FREE_KEYS) <= set(flatten(current))
    assert recipe_changes(saved, saved) == ([], [])


def test_a_cosine_schedule_spans_the_run_so_its_length_is_part_of_the_recipe():
    saved = load_config("demo", ["optim.scheduler=cosine"])
    changes, free = recipe_changes(saved, load_config("demo", ["optim.scheduler=cosine", "optim.epochs=20"]))
    assert [key for key, _, _ in changes] == ["optim.epochs"] and free == []


def test_optimizer_schedule_and_fixbase_settings_are_validated():
    config = load_config("demo", ["optim.optimizer=amsgrad", "optim.scheduler=cosine", "optim.fixbase_epochs=3"])
    assert (config["optim"]["optimizer"], config["optim"]["scheduler"], config["optim"]["fixbase_epochs"]) == (
        "amsgrad", "cosine", 3)
    with pytest.raises(ReidError, match="optim.optimizer is 'sgd', expected one of adam or amsgrad"):
        load_config("demo", ["optim.optimizer=sgd"])
    with pytest.raises(ReidError, match="optim.fixbase_epochs"):
        load_config("demo", ["optim.fixbase_epochs=-1"])

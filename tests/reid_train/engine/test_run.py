"""The training service ``train()``: a typed result pointing at what the run folder holds, a recipe given as a dict,
and bad input refused in one line."""

from __future__ import annotations

import json

import pytest

from reid_runtime.errors import ReidError
from reid_train.engine.config import load_config
from reid_train.engine.run import TrainResult, train

TINY = [
    "model.name=sta_tiny", "model.kwargs={num_regions: 4, embedding_dim: 32, width: 16}",
    "data.input_size=[64, 32]", "data.p=3", "data.k=2", "data.num_workers=0", "data.test_max_clips=2",
    "optim.milestones=[1]", "train.eval_every=0", "train.max_steps_per_epoch=2", "optim.epochs=1",
]


def test_result_describes_the_run_folder(tiny_mars, tmp_path):
    lines: list[str] = []
    result = train("demo", tiny_mars, tmp_path / "run", overrides=TINY, progress=False, log=lines.append)
    assert isinstance(result, TrainResult) and result.completed
    assert result.last == tmp_path / "run" / "last.pt" and result.last.is_file()
    assert result.best == tmp_path / "run" / "best.pt" and result.best.is_file()
    assert (result.epochs, result.epochs_run, result.iterations) == (1, 1, 2)
    assert result.model == "sta_tiny" and result.parameters > 0 and result.seconds > 0
    assert result.best_map == pytest.approx(result.final["mAP"]) and 0 < result.best_map <= 100
    records = [json.loads(line) for line in result.metrics_file.read_text().splitlines()]
    assert records[-1]["eval_mAP"] == pytest.approx(result.final["mAP"])
    assert json.loads(result.config_file.read_text())["data"]["root"] == str(tiny_mars)
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["last"] == str(result.last) and payload["best_map"] == result.best_map
    assert len(lines) == 1 and "sta_tiny" in lines[0] and str(tmp_path / "run") in lines[0]


def test_a_recipe_given_as_a_dict_trains_like_its_name(tiny_mars, tmp_path):
    recipe = load_config("demo")
    by_dict = train(recipe, tiny_mars, tmp_path / "dict", overrides=TINY, progress=False)
    by_name = train("demo", tiny_mars, tmp_path / "name", overrides=TINY, progress=False)
    assert by_dict.final == by_name.final


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"data_root": "missing"}, "missing: no such folder"),
    ({"overrides": ["optim.epoch=3"]}, "Did you mean 'optim.epochs'"),
    ({"config": "nope"}, "neither a YAML file nor a built-in recipe"),
    ({"resume": True}, "nothing to resume"),
])
def test_bad_input_is_one_line(tiny_mars, tmp_path, kwargs, message):
    args = {"config": "demo", "data_root": tiny_mars, "out": tmp_path / "run", **kwargs}
    if args["data_root"] == "missing":
        args["data_root"] = tmp_path / "missing"
    with pytest.raises(ReidError, match=message) as info:
        train(args.pop("config"), args.pop("data_root"), args.pop("out"), **args)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run" / "last.pt").exists()


# ---- run folders: never clobbered, logs consistent with the checkpoint resumed ---------------------------------
def test_a_folder_holding_a_run_needs_resume_or_overwrite(tiny_mars, tmp_path):
    out = tmp_path / "run"
    train("demo", tiny_mars, out, overrides=TINY, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ReidError, match=r"holds a run \(last.pt, best.pt, metrics.jsonl, config.json\); pass "
                                        r"--resume to continue it, or --overwrite to discard it"):
        train("demo", tiny_mars, out, overrides=TINY, progress=False)
    with pytest.raises(ReidError, match="pass only one"):
        train("demo", tiny_mars, out, overrides=TINY, resume=True, overwrite=True)
    with pytest.raises(ReidError, match="--accept-changes applies to --resume only"):
        train("demo", tiny_mars, out, overrides=TINY, accept_changes=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    lines: list[str] = []
    result = train("demo", tiny_mars, out, overrides=[*TINY, "optim.lr=0.002"], overwrite=True, progress=False,
                   log=lines.append)
    assert result.completed and lines[0].startswith(f"Discarding the previous run in {out}")
    assert json.loads(result.config_file.read_text())["optim"]["lr"] == 0.002
    assert [r["event"] for r in map(json.loads, result.metrics_file.read_text().splitlines())] == ["epoch"]


def test_resume_cuts_the_log_back_to_its_checkpoint(tiny_mars, tmp_path):
    (tmp_path / "2024").symlink_to(tiny_mars)  # a dataset folder named like a number stays a path
    out = tmp_path / "run"
    first = train("demo", tmp_path / "2024", out, overrides=TINY, progress=False)
    assert json.loads(first.config_file.read_text())["data"]["root"] == str(tmp_path / "2024")
    # a run killed after logging epochs 2 and 3 (and half a line) but before their checkpoints
    with open(first.metrics_file, "a") as log:
        log.write('{"event": "epoch", "epoch": 2, "loss": 9}\n{"event": "epoch", "epoch": 3, "loss": 9}\n{"event": "ep')
    train("demo", tmp_path / "2024", out, overrides=[*TINY, "optim.epochs=2"], resume=True, progress=False)
    records = [json.loads(line) for line in first.metrics_file.read_text().splitlines()]
    assert [(r["event"], r["epoch"]) for r in records] == [("epoch", 1), ("resume", 1), ("epoch", 2)]
    assert records[-1]["loss"] != 9


def test_a_real_backbone_from_random_weights_is_warned_about():
    from reid_train.engine.run import random_init_warning

    warning = random_init_warning(load_config("sta_mars"))
    assert warning.startswith("WARNING: sta_resnet50 starts from random weights")
    assert "--set model.pretrained=resnet50-0676ba61.pth" in warning
    assert "osnet_x1_0_imagenet.pth" in random_init_warning(load_config("sta_osnet_mars"))
    assert random_init_warning(load_config("sta_mars", ["model.pretrained=r50.pth"])) is None
    assert random_init_warning(load_config("demo")) is None  # the tiny test backbone has no ImageNet weights

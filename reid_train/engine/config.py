"""Training recipes: YAML files with defaults, ``--set key=value`` overrides and validation with suggestions."""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml

from reid_runtime.errors import ReidError

RECIPE_DIR = Path(__file__).resolve().parents[1] / "configs"

DEFAULTS: dict[str, Any] = {
    "model": {
        "name": "sta_resnet50",
        "pretrained": None,          # path to a torchvision-format ImageNet state dict
        "kwargs": {},                # extra create_model arguments (num_regions, embedding_dim, last_stride, ...)
    },
    "data": {
        "dataset": "mars",
        "root": None,
        "protocol": "standard",
        "input_size": [256, 128],
        "seq_len": 4,
        "train_sampling": "restricted",
        "test_sampling": "dense",
        "test_seq_len": 4,
        "test_max_clips": None,
        "p": 16,
        "k": 4,
        "num_workers": 2,
        "flip": True,
        "pad": 10,
        "erasing_p": 0.5,
        "min_seq_len": 0,
    },
    "loss": {
        "ce_weight": 1.0,
        "label_smooth": 0.1,
        "triplet_weight": 1.0,
        "triplet_margin": 0.3,
        "triplet_metric": "euclidean",
        "inter_frame_weight": 0.0,   # STA Eq. 7 lambda; 0 disables the inter-frame regularization
        "aitl_weight": 0.0,          # AITL term (ASTA recipes)
        "attribute_weight": 0.0,     # attribute BCE (ASTA recipes)
        "attribute_mode": "bce",
    },
    "optim": {
        "lr": 3.0e-4,
        "weight_decay": 5.0e-4,
        "epochs": 800,
        "milestones": [200, 400],
        "gamma": 0.1,
    },
    "train": {
        "seed": 0,
        "amp": True,                 # only on CUDA
        "eval_every": 50,            # epochs; 0 = only at the end
        "checkpoint_every": 1,
        "max_steps_per_epoch": None, # cap on iterations per epoch (tiny recipes)
        "device": "auto",
        "threads": None,
    },
}


def _deep_merge(base: dict, override: dict, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}{key}"
        if key not in base:
            close = difflib.get_close_matches(key, list(base), n=1)
            hint = f" Did you mean '{where}{close[0]}'?" if close else f" Valid keys: {', '.join(sorted(base))}."
            raise ReidError(f"unknown config key '{path}'.{hint}")
        if isinstance(base[key], dict) and key != "kwargs":
            if not isinstance(value, dict):
                raise ReidError(f"config key '{path}' must be a mapping, got {value!r}")
            out[key] = _deep_merge(base[key], value, f"{path}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_recipe(name_or_path: str | Path) -> Path:
    """A recipe name (``sta_mars``) or a YAML path; ``configs/sta_mars.yaml`` also finds the built-in recipe."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = RECIPE_DIR / f"{path.stem}.yaml"
    if candidate.is_file():
        return candidate
    names = list_recipes()
    close = difflib.get_close_matches(path.stem, names, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ReidError(f"config '{name_or_path}' is neither a YAML file nor a built-in recipe ({', '.join(names)}).{hint}")


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def parse_override(item: str) -> tuple[list[str], Any]:
    """``optim.lr=1e-4`` -> (['optim', 'lr'], 0.0001); values are parsed as YAML."""
    if "=" not in item:
        raise ReidError(f"--set '{item}': expected key=value, e.g. optim.lr=0.0001")
    key, raw = item.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw)


def load_config(recipe: str | Path | dict | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Defaults <- recipe (a name, a YAML file or the same mapping as a dict) <- ``key=value`` overrides, validated
    against the default keys."""
    config = copy.deepcopy(DEFAULTS)
    if isinstance(recipe, dict):
        config = _deep_merge(config, {k: v for k, v in recipe.items() if k != "description"})
    elif recipe is not None:
        path = resolve_recipe(recipe)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ReidError(f"{path}: not valid YAML ({exc})") from exc
        if not isinstance(loaded, dict):
            raise ReidError(f"{path}: expected a mapping of sections (model, data, loss, optim, train)")
        loaded.pop("description", None)
        config = _deep_merge(config, loaded)
    for item in overrides:
        keys, value = parse_override(item)
        nested: dict = value
        for key in reversed(keys):
            nested = {key: nested}
        config = _deep_merge(config, nested)
    validate_config(config)
    return config


def validate_config(config: dict) -> None:
    data, optim = config["data"], config["optim"]
    for key in ("seq_len", "p", "k", "test_seq_len"):
        if not isinstance(data[key], int) or data[key] < 1:
            raise ReidError(f"data.{key} must be a positive integer, got {data[key]!r}")
    size = data["input_size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise ReidError(f"data.input_size must be [H, W], got {size!r}")
    if optim["epochs"] < 1:
        raise ReidError(f"optim.epochs must be >= 1, got {optim['epochs']}")
    if config["loss"]["triplet_metric"] not in ("euclidean", "cosine"):
        raise ReidError(f"loss.triplet_metric must be euclidean or cosine, got {config['loss']['triplet_metric']!r}")

"""Training recipes: YAML files with defaults and ``--set key=value`` overrides, validated whole before any work.

The recipe is five sections (``model``, ``data``, ``loss``, ``optim``, ``train``), each a pydantic model below that
fixes the keys, their types and their ranges. :func:`load_config` merges defaults <- recipe <- overrides, refuses an
unknown key with the closest known one, then validates every value: a wrong type (``optim.lr: fast``,
``optim.epochs=2.5``) or an out-of-range value (``train.checkpoint_every=0``) is one :class:`ReidError` line naming
where the value came from (the recipe file or the ``--set`` item), the key, the value and what was expected. It
returns the plain dict the trainer uses, every value normalised (``--set optim.lr=3e-4``, a string to YAML, becomes
the number 0.0003).
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from reid_runtime.data.registry import DATASETS
from reid_runtime.data.sampling import TEST_MODES, TRAIN_MODES
from reid_runtime.errors import ReidError

RECIPE_DIR = Path(__file__).resolve().parents[1] / "configs"


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic's lax float would take true as 1.0
        raise ValueError("expected a number, got a boolean")
    return value


# Integers: no floats (2.5 or 2.0), no booleans, no strings. Numbers: ints, floats and numeric strings (YAML reads
# 3e-4 without a dot as a string), finite, no booleans. Flags: true / false only.
Int = Annotated[int, Strict()]
Number = Annotated[float, BeforeValidator(_not_bool), Field(allow_inf_nan=False)]
Flag = Annotated[bool, Strict()]
Text = Annotated[str, Strict()]
PositiveInt = Annotated[int, Strict(), Field(ge=1)]
Count = Annotated[int, Strict(), Field(ge=0)]
Weight = Annotated[float, BeforeValidator(_not_bool), Field(ge=0, allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ModelSection(_Section):
    name: Text = "sta_resnet50"
    pretrained: Text | None = None          # path to a torchvision-format ImageNet state dict
    kwargs: dict[str, Any] = {}             # extra create_model arguments (num_regions, embedding_dim, ...)

    @field_validator("name")
    @classmethod
    def _known_model(cls, name: str) -> str:
        from reid_train.models import list_models

        names = list_models()
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"expected a registered model{hint}: {', '.join(names)}")
        return name

    @field_validator("kwargs")
    @classmethod
    def _known_arguments(cls, kwargs: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        import inspect

        from reid_train.models.registry import _REGISTRY

        name = info.data.get("name")
        if name not in _REGISTRY:
            return kwargs  # the name's own error is reported
        builder, fixed = _REGISTRY[name]
        accepted = [p for p in inspect.signature(builder).parameters
                    if p not in fixed and p not in ("num_classes", "pretrained")]
        for key in kwargs:
            if key not in accepted:
                close = difflib.get_close_matches(str(key), accepted, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ValueError(f"{name} takes no argument '{key}'{hint}; it takes {', '.join(accepted)}")
        return kwargs


class DataSection(_Section):
    dataset: Literal[tuple(DATASETS)] = "mars"  # type: ignore[valid-type]
    root: Text | None = None
    protocol: Text = "standard"
    input_size: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] = [256, 128]
    seq_len: PositiveInt = 4
    train_sampling: Literal[TRAIN_MODES] = "restricted"  # type: ignore[valid-type]
    test_sampling: Literal[TEST_MODES] = "dense"  # type: ignore[valid-type]
    test_seq_len: PositiveInt = 4
    test_max_clips: PositiveInt | None = None
    p: PositiveInt = 16
    k: PositiveInt = 4
    epoch_size: Literal["tracklets", "identities"] = "tracklets"  # an epoch: every tracklet once, or k per identity
    num_workers: Count = 2
    flip: Flag = True
    pad: Count = 10
    erasing_p: Annotated[Weight, Field(le=1)] = 0.5
    min_seq_len: Count = 0

    @field_validator("protocol")
    @classmethod
    def _protocol_of_dataset(cls, protocol: str, info: ValidationInfo) -> str:
        dataset = info.data.get("dataset")
        if dataset in DATASETS and protocol not in DATASETS[dataset].protocols:
            raise ValueError(f"expected a protocol of {dataset}: {', '.join(DATASETS[dataset].protocols)}")
        return protocol


class LossSection(_Section):
    ce_weight: Weight = 1.0
    label_smooth: Annotated[Weight, Field(lt=1)] = 0.1
    triplet_weight: Weight = 1.0
    triplet_margin: Weight = 0.3
    triplet_metric: Literal["euclidean", "cosine"] = "euclidean"
    inter_frame_weight: Weight = 0.0        # STA Eq. 7 lambda; 0 disables the inter-frame regularization
    aitl_weight: Weight = 0.0               # AITL term (ASTA recipes)
    aitl_selection: Literal["predicted", "labels"] = "predicted"  # attribute vectors AITL selects positives by
    attribute_weight: Weight = 0.0          # attribute BCE (ASTA recipes)
    attribute_mode: Literal["bce", "ce"] = "bce"


class OptimSection(_Section):
    optimizer: Literal["adam", "amsgrad"] = "adam"
    lr: Annotated[Number, Field(gt=0)] = 3.0e-4
    weight_decay: Weight = 5.0e-4
    epochs: PositiveInt = 800
    scheduler: Literal["multistep", "cosine"] = "multistep"  # cosine: from lr to 0 over the epochs
    milestones: list[PositiveInt] = [200, 400]              # multistep: lr x gamma at each
    gamma: Annotated[Number, Field(gt=0)] = 0.1
    fixbase_epochs: Count = 0               # first epochs train the head only (backbone frozen, BN statistics too)


class TrainSection(_Section):
    seed: Count = 0
    amp: Flag = True                        # only on CUDA
    eval_every: Count = 50                  # epochs; 0 = only at the end
    checkpoint_every: PositiveInt = 1       # epochs between two last.pt (the last epoch always writes one)
    max_steps_per_epoch: PositiveInt | None = None  # cap on iterations per epoch (tiny recipes)
    device: Annotated[Text, Field(pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")] = "auto"
    threads: PositiveInt | None = None


class Recipe(BaseModel):
    """A whole training recipe; ``Recipe.model_validate(config).model_dump()`` is what the trainer reads."""

    model_config = ConfigDict(extra="forbid")

    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    loss: LossSection = LossSection()
    optim: OptimSection = OptimSection()
    train: TrainSection = TrainSection()


DEFAULTS: dict[str, Any] = Recipe().model_dump()
OPAQUE = {"model.kwargs"}  # mappings replaced whole by a recipe or an override, not merged key by key


def _deep_merge(base: dict, override: dict, source: str, sources: dict[str, str], where: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}{key}"
        if key not in base:
            close = difflib.get_close_matches(str(key), list(base), n=1)
            hint = f" Did you mean '{where}{close[0]}'?" if close else f" Valid keys: {', '.join(sorted(base))}."
            raise ReidError(f"{source}: unknown config key '{path}'.{hint}")
        if isinstance(base[key], dict) and path not in OPAQUE:
            if not isinstance(value, dict):
                raise ReidError(f"{source}: config key '{path}' must be a mapping, got {value!r}")
            out[key] = _deep_merge(base[key], value, source, sources, f"{path}.")
        else:
            out[key] = copy.deepcopy(value)
            sources[path] = source
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
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = str(getattr(exc, "problem", None) or "not valid YAML")
        raise ReidError(f"--set '{item}': the value is not valid YAML ({problem})") from exc
    return key.strip().split("."), value


def load_config(recipe: str | Path | dict | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Defaults <- recipe (a name, a YAML file or the same mapping as a dict) <- ``key=value`` overrides; every key
    known and every value valid (:class:`Recipe`), else one :class:`ReidError` line naming the recipe or the ``--set``
    item, the key and what was expected. Returns the normalised recipe as a plain dict."""
    config = copy.deepcopy(DEFAULTS)
    sources: dict[str, str] = {}
    if isinstance(recipe, dict):
        config = _deep_merge(config, {k: v for k, v in recipe.items() if k != "description"}, "the recipe", sources)
    elif recipe is not None:
        path = resolve_recipe(recipe)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ReidError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from exc
        if not isinstance(loaded, dict):
            raise ReidError(f"{path}: expected a mapping of sections (model, data, loss, optim, train)")
        loaded.pop("description", None)
        config = _deep_merge(config, loaded, str(path), sources)
    for item in overrides:
        keys, value = parse_override(item)
        nested: dict = value
        for key in reversed(keys):
            nested = {key: nested}
        config = _deep_merge(config, nested, f"--set {item}", sources)
    return validate_config(config, sources)


def validate_config(config: dict, sources: dict[str, str] | None = None) -> dict:
    """The recipe ``config`` checked whole (:class:`Recipe`) and normalised; ``sources`` (dotted key -> where the
    value came from) names the culprit in the error."""
    try:
        return Recipe.model_validate(config).model_dump()
    except ValidationError as exc:
        raise ReidError(_one_line(exc, config, sources or {})) from None


_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
    "bool_type": "true or false", "bool_parsing": "true or false", "string_type": "a string",
    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
}


def _expected(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}"
    bounds = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"), "less_than_equal": ("<=", "le"),
              "less_than": ("<", "lt")}
    if kind in bounds:
        sign, name = bounds[kind]
        return f"expected a value {sign} {ctx[name]}"
    if kind == "literal_error":
        return f"expected one of {ctx['expected']}".replace("'", "")
    if kind == "too_short":
        return f"expected at least {ctx['min_length']} values"
    if kind == "too_long":
        return f"expected at most {ctx['max_length']} values"
    if kind == "string_pattern_mismatch":
        return "expected auto, cpu, mps, cuda or cuda:N"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"]).replace("Input should be", "expected").replace("input should be", "expected")


def _one_line(exc: ValidationError, config: dict, sources: dict[str, str]) -> str:
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        # the recipe key: a list item ('data', 'input_size', '0') or a union branch ('threads', 'int') is its field's
        depth = min(len(loc), 2)
        key = ".".join(loc[:depth])
        value = config
        for part in loc[:depth]:
            value = value.get(part) if isinstance(value, dict) else None
        source = next((sources[k] for k in (".".join(loc[:n]) for n in range(len(loc), 0, -1)) if k in sources),
                      "the defaults")
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        problem = f"{source}: {key} is {shown}, {_expected(error)}"
        if problem not in problems:
            problems.append(problem)
    more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:3])})" if len(problems) > 1 else ""
    return problems[0] + more


# ---- comparing a resumed run's recipe with the saved one ------------------------------------------------------
# Keys that may differ when a run is resumed: where the data lives (its content is compared as the training
# identities), how the work is run (device, threads, loader workers), how often it evaluates and checkpoints, and the
# run's length (optim.epochs: a longer or shorter schedule replays the same epochs; it must exceed the epochs done).
# Every other key is the recipe: a difference is listed and refused unless accepted.
RESUME_FREE_KEYS = ("data.root", "data.num_workers", "train.device", "train.threads", "train.eval_every",
                    "train.checkpoint_every", "optim.epochs")


def flatten(config: dict, where: str = "") -> dict[str, Any]:
    """``{'optim': {'lr': 1}}`` -> ``{'optim.lr': 1}`` (nested mappings, model.kwargs included, down to the leaves)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{where}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = list(value) if isinstance(value, tuple) else value
    return flat


def recipe_changes(saved: dict, current: dict) -> tuple[list[tuple[str, Any, Any]], list[tuple[str, Any, Any]]]:
    """The differences between a saved recipe and the current one, as ``(key, saved, current)``: those of the recipe
    proper, then those of :data:`RESUME_FREE_KEYS`. A key one side lacks shows as ``MISSING``. A cosine schedule
    spans the run, so there ``optim.epochs`` is part of the recipe."""
    old, new = flatten(saved), flatten(current)
    free_keys = set(RESUME_FREE_KEYS)
    if "cosine" in (old.get("optim.scheduler"), new.get("optim.scheduler")):
        free_keys.discard("optim.epochs")
    changes: list[tuple[str, Any, Any]] = []
    free: list[tuple[str, Any, Any]] = []
    for key in [*new, *(k for k in old if k not in new)]:
        before, after = old.get(key, MISSING), new.get(key, MISSING)
        if before != after:
            (free if key in free_keys else changes).append((key, before, after))
    return changes, free


class _Missing:
    def __repr__(self) -> str:
        return "(not set)"


MISSING: Any = _Missing()


def describe_changes(changes: list[tuple[str, Any, Any]]) -> str:
    """``optim.lr 0.001 -> 0.002, data.p 3 -> 4``."""
    return ", ".join(f"{key} {_short(before)} -> {_short(after)}" for key, before, after in changes)


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, _Missing)) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."

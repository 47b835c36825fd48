"""Checkpoints: written atomically, holding everything a resumed run needs to continue bit-for-bit, and loaded
without running code.

A checkpoint holds tensors, numbers, strings, lists, tuples and dicts only -- the RNG states (Python ``random``,
numpy, torch, CUDA) and the scheduler / optimizer / scaler states included -- so every load goes through
``torch.load(..., weights_only=True)``, whose unpickler refuses any other Python object before it is built: a
hostile ``.pt`` whose pickle calls ``os.system`` is refused in one line, nothing of it runs.

Checkpoints of the first format (``reid-toolkit-checkpoint/1``) stored the RNG states as Python / numpy objects and
do not load that way; they are refused with a one-line hint, and :func:`convert_checkpoint` (``reid checkpoint
convert --model OLD.pt --out NEW.pt --trust-this-file``) rewrites one in the current format on explicit request.
Even then nothing beyond numpy's array reconstruction is allowed in (see :data:`OLD_FORMAT_GLOBALS`).
"""

from __future__ import annotations

import io
import os
import pickle
import random
import re
import warnings
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reid_runtime import __version__
from reid_runtime.errors import ReidError
from reid_runtime.io import write_bytes_atomic

FORMAT = "reid-toolkit-checkpoint/2"
OLD_FORMAT = "reid-toolkit-checkpoint/1"
READABLE_FORMATS = (FORMAT, OLD_FORMAT)  # a format-1 file that loads with weights_only=True (no RNG objects) is fine
CONVERT_HINT = "reid checkpoint convert --model {path} --out NEW.pt --trust-this-file"

# What the pickle of a format-1 checkpoint references beyond torch's own allow-list: numpy arrays (the numpy RNG
# state) and numpy scalars, under numpy 1.x and 2.x module names. Rebuilding these only allocates an array / scalar
# from the (already safely unpickled) shape, dtype and bytes; torch's documentation allow-lists the same names for
# numpy arrays. They are allowed only inside convert_checkpoint, never for an ordinary load.
OLD_FORMAT_GLOBALS = {
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.ndarray", "numpy.dtype",
}
_PLAIN_SCALARS = (bool, int, float, str, type(None))


def _numpy_globals() -> list[tuple[Any, str]]:
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray

    allowed: list[tuple[Any, str]] = [(np.ndarray, "numpy.ndarray"), (np.dtype, "numpy.dtype")]
    for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
                 "float32", "float64", "complex64", "complex128"):  # a dtype's state is set on its own class
        kind = type(np.dtype(name))
        if kind is not np.dtype:  # numpy >= 1.25: one class per dtype
            allowed.append((kind, f"{kind.__module__}.{kind.__qualname__}"))
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed += [(multiarray._reconstruct, f"{module}._reconstruct"), (multiarray.scalar, f"{module}.scalar")]
    return allowed


# ---- RNG, scheduler and plain-value checks ------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """The process's RNG states as tensors, numbers and strings (loadable with ``weights_only=True``)."""
    version, internal, gauss_next = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": None if gauss_next is None else float(gauss_next)},
        "numpy": {"bit_generator": str(np_state["bit_generator"]),
                  "key": torch.from_numpy(np.asarray(np_state["state"]["key"], dtype=np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned (tensors may sit on any device)."""
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(x) for x in py["state"].tolist()), py["gauss_next"]))
    n = state["numpy"]
    np.random.set_state({"bit_generator": n["bit_generator"],
                         "state": {"key": np.asarray(n["key"].cpu().numpy(), dtype=np.uint32), "pos": int(n["pos"])},
                         "has_gauss": int(n["has_gauss"]), "gauss": float(n["gauss"])})
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def scheduler_state(scheduler: Any) -> dict[str, Any]:
    """``scheduler.state_dict()`` with ``Counter`` values (MultiStepLR's milestones) as plain dicts."""
    return {k: dict(v) if isinstance(v, Counter) else v for k, v in scheduler.state_dict().items()}


def load_scheduler_state(scheduler: Any, state: dict[str, Any]) -> None:
    """Inverse of :func:`scheduler_state`: a plain dict becomes a ``Counter`` again where the scheduler keeps one."""
    restored = {k: Counter(v) if isinstance(getattr(scheduler, k, None), Counter) and isinstance(v, dict) else v
                for k, v in state.items()}
    scheduler.load_state_dict(restored)


def check_plain(value: Any, where: str = "checkpoint") -> None:
    """Raise ``TypeError`` naming the first value that is not a tensor, number, string, None, list, tuple or dict
    (anything else would need unsafe unpickling to load)."""
    kind = type(value)
    if isinstance(value, torch.Tensor) or kind in _PLAIN_SCALARS:
        return
    if kind in (list, tuple):
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
        return
    if kind in (dict, OrderedDict):
        for key, item in value.items():
            if type(key) not in _PLAIN_SCALARS:
                raise TypeError(f"{where}: key {key!r} is a {type(key).__module__}.{type(key).__qualname__}")
            check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(f"{where} is a {kind.__module__}.{kind.__qualname__}; a checkpoint holds tensors, numbers, "
                    "strings, lists and dicts only (so it loads with weights_only=True)")


def _to_plain(value: Any) -> Any:
    """A format-1 value made plain: numpy arrays -> tensors, numpy scalars -> numbers, Counters -> dicts."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, OrderedDict):  # a state dict: keep its _metadata (module versions)
        ordered = OrderedDict((_to_plain(k), _to_plain(v)) for k, v in value.items())
        if hasattr(value, "_metadata"):
            ordered._metadata = _to_plain(value._metadata)  # type: ignore[attr-defined]
        return ordered
    if isinstance(value, dict):  # Counter included
        return {_to_plain(k): _to_plain(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_to_plain(v) for v in value)
    return value


# ---- save / load --------------------------------------------------------------------------------------------
def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """torch.save into a temp file beside ``path`` and rename: a kill never leaves a truncated checkpoint."""
    content = {"format": FORMAT, "toolkit_version": __version__, **payload}
    check_plain(content)
    buffer = io.BytesIO()
    torch.save(content, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _torch_reason(exc: BaseException) -> str:
    """The cause inside torch's long weights-only message (without its advice to load the file unsafely)."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation", 1)[0]
    return _one_line(text) or type(exc).__name__


def _unsafe_globals(path: Path) -> list[str] | None:
    """The Python objects a file's pickle names beyond torch's allow-list, read without unpickling (None: unknown)."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        return None
    return ["".join(c if c.isprintable() else "?" for c in str(name))[:80] for name in names]


def _refusal(path: Path, what: str, exc: BaseException) -> str:
    names = _unsafe_globals(path)
    if not names:  # the zip could not be scanned (legacy format...): the global torch stopped at, if it says
        names = re.findall(r"GLOBAL ([\w.]+)", str(exc))[:1] or None
    if names is None:
        return (f"{path}: refused: not a {what} that loads safely ({_torch_reason(exc)}): its pickle holds something "
                "other than tensors and plain values, or it is damaged")
    if what == "checkpoint" and set(names) <= OLD_FORMAT_GLOBALS:
        return (f"{path}: a checkpoint of the old format ({OLD_FORMAT}: numpy objects inside, it would need unsafe "
                f"unpickling), not loaded; if you trust this file, convert it once: "
                + CONVERT_HINT.format(path=path))
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return (f"{path}: refused: loading this {what} would import or call Python objects ({shown}); a {what} holds "
            "tensors and plain values only, and nothing else is unpickled")


def torch_load_safe(path: str | Path, map_location: str | torch.device = "cpu", *, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain values only, any other object is refused before it
    is built. Errors are one-line :class:`ReidError` s naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ReidError(f"{path}: {what} not found")
    try:
        with warnings.catch_warnings():  # e.g. "pickle protocol 4 detected": the answer stays one line
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ReidError(_refusal(path, what, exc)) from None
    except Exception as exc:  # torch raises several types for a damaged or foreign file
        raise ReidError(f"{path}: not a readable PyTorch {what} ({_torch_reason(exc)})") from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A ``reid train`` checkpoint, loaded with ``weights_only=True``; a one-line :class:`ReidError` otherwise."""
    path = Path(path)
    ckpt = torch_load_safe(path, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") not in READABLE_FORMATS:
        raise ReidError(f"{path}: not a reid-toolkit checkpoint (expected format '{FORMAT}', as written by reid train)")
    return ckpt


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model stored in a checkpoint, in eval mode; returns (model, checkpoint)."""
    from reid_train.models import create_model

    ckpt = load_checkpoint(path, map_location)
    try:
        model = create_model(**ckpt["model_config"])
        model.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ReidError(f"{path}: the checkpoint's model does not rebuild ({_one_line(exc)})") from None
    return model.eval(), ckpt


# ---- conversion of format 1 ---------------------------------------------------------------------------------
def _upgrade_rng(rng: dict[str, Any]) -> dict[str, Any]:
    """Format-1 RNG states (``random.getstate()`` tuple, ``np.random.get_state()`` tuple) as format-2 values."""
    out = dict(rng)
    py = rng.get("python")
    if isinstance(py, tuple):
        version, internal, gauss_next = py
        out["python"] = {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                         "gauss_next": None if gauss_next is None else float(gauss_next)}
    npy = rng.get("numpy")
    if isinstance(npy, tuple):
        name, key, pos, has_gauss, gauss = npy
        out["numpy"] = {"bit_generator": str(name), "key": torch.from_numpy(np.asarray(key, dtype=np.int64)),
                        "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)}
    return _to_plain(out)


def convert_checkpoint(old: str | Path, new: str | Path, *, trust: bool = False) -> Path:
    """Rewrite a format-1 checkpoint ``old`` in the current format at ``new`` (which must differ from ``old``).

    Reading a format-1 file means rebuilding numpy objects from its pickle, so it happens only with ``trust=True``
    (the user vouches for the file). Even then only numpy's array / scalar reconstruction is allowed in
    (:data:`OLD_FORMAT_GLOBALS`); a file naming anything else (``os.system``...) is refused and nothing of it runs.
    """
    old, new = Path(old), Path(new)
    if not old.is_file():
        raise ReidError(f"{old}: checkpoint not found")
    if new.resolve() == old.resolve() or (new.exists() and os.path.samefile(new, old)):
        raise ReidError(f"{new}: --out must differ from --model (the original is kept as it is)")
    if not trust:
        raise ReidError(f"{old}: converting an old checkpoint rebuilds the numpy objects in its pickle; do it only for "
                        "a file you trust, by adding --trust-this-file")
    names = _unsafe_globals(old)
    if names is None:
        raise ReidError(f"{old}: not a readable PyTorch checkpoint (its pickle cannot be inspected)")
    foreign = sorted(set(names) - OLD_FORMAT_GLOBALS)
    if foreign:
        raise ReidError(f"{old}: refused even with --trust-this-file: its pickle names {', '.join(foreign[:5])}, "
                        "which no reid-toolkit checkpoint holds; nothing was loaded")
    try:
        with torch.serialization.safe_globals(_numpy_globals()), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ckpt = torch.load(old, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ReidError(f"{old}: not a readable PyTorch checkpoint ({_torch_reason(exc)})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") not in READABLE_FORMATS:
        raise ReidError(f"{old}: not a reid-toolkit checkpoint (expected format '{OLD_FORMAT}' or '{FORMAT}')")
    payload = {k: v for k, v in ckpt.items() if k not in ("format", "toolkit_version")}
    if isinstance(payload.get("rng"), dict):
        payload["rng"] = _upgrade_rng(payload["rng"])
    payload = _to_plain(payload)
    payload["converted_from"] = {"format": str(ckpt["format"]), "toolkit_version": str(ckpt.get("toolkit_version"))}
    try:
        check_plain(payload)
    except TypeError as exc:
        raise ReidError(f"{old}: cannot convert: {exc}") from None
    save_checkpoint(new, payload)
    load_checkpoint(new)  # what was written loads the safe way
    return new

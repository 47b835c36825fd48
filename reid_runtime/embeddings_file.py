"""Embeddings files (``.npz``) and resumable embedding of many tracklets into one.

A file holds ``embeddings`` (n, D) float32, ``pids`` and ``camids`` (int64, -1 when unknown), ``tids`` and ``paths``
(str: the tracklet id and its first frame or folder) and ``meta``, a JSON string (model file and metadata, sampling,
backend, dataset / split, skipped tracklets). Rows of skipped tracklets are NaN.

``embed_to_file`` works in chunks persisted to ``<out>.partial/``: after a kill, the same command skips the tracklets
already embedded (keyed by tid and path) and finishes; the final file is written atomically, then the folder removed.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.errors import ReidError
from reid_runtime.io import write_atomic, write_json_atomic

FORMAT = "reid-embeddings/1"
KEYS = ("embeddings", "pids", "camids", "tids", "paths", "meta")


@dataclass
class Embeddings:
    """The content of an embeddings file."""

    embeddings: np.ndarray
    pids: np.ndarray
    camids: np.ndarray
    tids: np.ndarray
    paths: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.embeddings = np.asarray(self.embeddings, dtype=np.float32)
        self.pids = np.asarray(self.pids, dtype=np.int64)
        self.camids = np.asarray(self.camids, dtype=np.int64)
        self.tids = np.asarray(self.tids, dtype=str)
        self.paths = np.asarray(self.paths, dtype=str)
        n = len(self.embeddings)
        if self.embeddings.ndim != 2:
            raise ValueError(f"embeddings must be (n, D), got shape {self.embeddings.shape}")
        for name in ("pids", "camids", "tids", "paths"):
            if getattr(self, name).shape != (n,):
                shape = getattr(self, name).shape
                raise ValueError(f"{name} must have one entry per embedding ({n}), got shape {shape}")

    def __len__(self) -> int:
        return len(self.embeddings)

    @property
    def metric(self) -> str | None:
        """The distance the model was trained for, from the meta (None when the file does not say)."""
        return self.meta.get("metric") or self.meta.get("model_info", {}).get("metric")

    def valid(self) -> np.ndarray:
        """Rows with finite embeddings (skipped tracklets are NaN)."""
        return np.isfinite(self.embeddings).all(axis=1)

    def subset(self, rows: np.ndarray) -> Embeddings:
        return Embeddings(self.embeddings[rows], self.pids[rows], self.camids[rows], self.tids[rows],
                          self.paths[rows], self.meta)


@dataclass(frozen=True)
class Record:
    """The labels of one tracklet to embed."""

    tid: str
    pid: int = -1
    camid: int = -1
    path: str = ""

    @property
    def key(self) -> str:
        return f"{self.tid}\t{self.path}"


def save_embeddings(path: str | Path, embeddings: Embeddings) -> Path:
    """Write an embeddings file atomically."""
    meta = {"format": FORMAT, **embeddings.meta}
    arrays = {
        "embeddings": embeddings.embeddings,
        "pids": embeddings.pids,
        "camids": embeddings.camids,
        "tids": embeddings.tids,
        "paths": embeddings.paths,
        "meta": np.array(json.dumps(meta, default=str)),
    }
    return write_atomic(path, lambda f: np.savez(f, **arrays))


def load_embeddings(path: str | Path) -> Embeddings:
    """Read a file written by ``save_embeddings`` (``reid embed``); errors name the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ReidError(f"{path}: embeddings file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in KEYS if k not in data.files]
            if missing:
                raise ReidError(f"{path}: not a reid embeddings file (missing arrays: {', '.join(missing)})")
            arrays = {k: data[k] for k in KEYS}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ReidError(f"{path}: not a readable .npz embeddings file ({exc})") from exc
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError as exc:
        raise ReidError(f"{path}: the 'meta' entry is not JSON ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise ReidError(f"{path}: meta format is {meta.get('format')!r}, expected {FORMAT!r}")
    try:
        return Embeddings(**arrays, meta=meta)
    except ValueError as exc:
        raise ReidError(f"{path}: inconsistent arrays ({exc})") from exc


class _Partial:
    """The chunks of an unfinished ``embed_to_file`` run, in ``<out>.partial/``."""

    def __init__(self, out: Path, meta: dict[str, Any]) -> None:
        self.folder = out.with_name(out.name + ".partial")
        self.meta = json.loads(json.dumps(meta, default=str))  # the form it takes once stored

    def load(self) -> dict[str, tuple[np.ndarray, str | None]]:
        """key -> (embedding, error or None) of the tracklets done by earlier runs."""
        if not self.folder.is_dir():
            return {}
        stored_path = self.folder / "meta.json"
        stored = json.loads(stored_path.read_text()) if stored_path.is_file() else None
        if stored != self.meta:
            changed = sorted(k for k in set(self.meta) | set(stored or {}) if (stored or {}).get(k) != self.meta.get(k))
            raise ReidError(
                f"{self.folder}: holds partial results of a run with other settings ({', '.join(changed)} differ); "
                "delete that folder to start over, or rerun with the original settings to resume"
            )
        done: dict[str, tuple[np.ndarray, str | None]] = {}
        for chunk in sorted(self.folder.glob("chunk-*.npz")):
            with np.load(chunk, allow_pickle=False) as data:
                errors = json.loads(str(data["errors"]))
                for key, row in zip(data["keys"], data["embeddings"]):
                    done[str(key)] = (row, errors.get(str(key)))
        return done

    def write(self, keys: list[str], embeddings: np.ndarray, errors: dict[str, str]) -> None:
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True)
            write_json_atomic(self.folder / "meta.json", self.meta)
        numbers = [int(p.stem.split("-")[1]) for p in self.folder.glob("chunk-*.npz")]
        target = self.folder / f"chunk-{max(numbers, default=0) + 1:06d}.npz"
        arrays = {"keys": np.asarray(keys, dtype=str), "embeddings": embeddings,
                  "errors": np.array(json.dumps(errors))}
        write_atomic(target, lambda f: np.savez(f, **arrays))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def embed_to_file(
    model: Any,
    records: Sequence[Record],
    source: Callable[[list[int]], Iterable[tuple[int, Any]]],
    out: str | Path,
    meta: dict[str, Any],
    *,
    chunk_size: int = 256,
    max_chunk_frames: int = 4096,
    progress: bool = False,
    **embed_options: Any,
) -> Embeddings:
    """Embed ``records`` with ``model.embed`` and write the embeddings file ``out``, resumably.

    ``source(indices)`` yields ``(index, tracklet)`` for the record indices still to do, in any order (a MOT
    sequence yields tracks as they end); ``tracklet`` is anything ``model.embed`` takes. ``meta`` describes the
    run; a rerun resumes only when it is equal. A chunk ends at ``chunk_size`` tracklets or ``max_chunk_frames``
    frames, which bounds the memory of sources that hand over decoded frames. ``embed_options`` go to
    ``model.embed``.
    """
    out = Path(out)
    keys = [r.key for r in records]
    seen: set[str] = set()
    for record in records:
        if record.key in seen:
            raise ReidError(f"two tracklets share tid {record.tid!r} and path {record.path!r}; they must be unique")
        seen.add(record.key)
    partial = _Partial(out, meta)
    done = partial.load()
    todo = [i for i, key in enumerate(keys) if key not in done]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(records), initial=len(records) - len(todo), unit="tracklet", desc="embed")
    try:
        for chunk in _chunks(source(todo), chunk_size, max_chunk_frames):
            indices = [i for i, _ in chunk]
            embeddings = model.embed([item for _, item in chunk], **embed_options)
            errors = {keys[indices[e.index]]: e.error for e in model.last_errors}
            partial.write([keys[i] for i in indices], embeddings, errors)
            done.update({keys[i]: (row, errors.get(keys[i])) for i, row in zip(indices, embeddings)})
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    missing = [records[i].tid for i, key in enumerate(keys) if key not in done]
    if missing:
        raise ReidError(f"{len(missing)} tracklets were never produced by the input (first: {missing[0]!r})")
    dim = next(iter(done.values()))[0].shape[0] if done else 0
    result = Embeddings(
        embeddings=np.stack([done[k][0] for k in keys]) if keys else np.zeros((0, dim), np.float32),
        pids=[r.pid for r in records],
        camids=[r.camid for r in records],
        tids=[r.tid for r in records],
        paths=[r.path for r in records],
        meta={**meta, "count": len(records), "errors": [
            {"tid": r.tid, "path": r.path, "error": done[r.key][1]} for r in records if done[r.key][1]
        ]},
    )
    save_embeddings(out, result)
    partial.remove()
    return result


def _chunks(items: Iterable[tuple[int, Any]], size: int, max_frames: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    frames = 0
    for item in items:
        chunk.append(item)
        frames += len(item[1])
        if len(chunk) == size or frames >= max_frames:
            yield chunk
            chunk, frames = [], 0
    if chunk:
        yield chunk

"""Embeddings files (``.npz``) and resumable embedding of many tracklets into one.

A file holds ``embeddings`` (n, D) float32, ``pids`` and ``camids`` (int64, -1 when unknown), ``tids`` and ``paths``
(str: the tracklet id and its first frame or folder) and ``meta``, a JSON string (model file and metadata, the model's
``fingerprint`` -- see :func:`model_fingerprint` --, sampling, backend, dataset / split, skipped tracklets). Rows of
skipped tracklets are NaN.

``embed_to_file`` works in chunks persisted to ``<out>.partial/``: after a kill, the same command skips the tracklets
already embedded (keyed by tid and path) and finishes; the final file is written atomically, then the folder removed.
The chunks are reused only by a run with the same model content, data and settings; an empty or damaged partial
state is reported in one line and redone (see :class:`_Partial`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.errors import ReidError
from reid_runtime.io import make_folder, write_atomic, write_json_atomic

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


HASH_BLOCK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def model_fingerprint(model: Any) -> dict[str, Any]:
    """What identifies the model that computed embeddings: ``id`` (``sha256:`` of the content of its file(s): both
    graphs of a split export, an engine and its sidecar, whichever file was given; ``name:<name>@HxW`` for a
    registry name, an untrained model built with a fixed seed), ``architecture``, ``precision`` and the sha256 of
    each file (``files``, by name). Two embeddings files can be compared when their ``id`` is equal."""
    from reid_runtime.services.checks import companion_files

    info = model.info
    path = Path(model.path)
    base = {"architecture": str(info.architecture), "precision": str(getattr(info, "precision", "fp32"))}
    if not path.is_file():
        height, width = (int(v) for v in info.input_size)
        return {"id": f"name:{path}@{height}x{width}", **base, "files": {}}
    files = [path, *companion_files(path)]
    companion = getattr(info, "companion", "")
    if companion and path.with_name(companion) not in files:
        files.append(path.with_name(companion))
    hashes = {f.name: file_sha256(f) for f in files if f.is_file()}
    combined = hashlib.sha256("\n".join(sorted(hashes.values())).encode("ascii")).hexdigest()
    return {"id": f"sha256:{combined}", **base, "files": hashes}


def describe_fingerprint(fingerprint: dict[str, Any] | None) -> str:
    """A short human form: ``sta_tiny fp32 sha256:1a2b3c4d5e6f``."""
    if not fingerprint:
        return "no fingerprint"
    ident = str(fingerprint.get("id", "?"))
    short = ident[:19] if ident.startswith("sha256:") else ident
    return f"{fingerprint.get('architecture', '?')} {fingerprint.get('precision', '?')} {short}"


PARTIAL_FORMAT = "reid-embed-partial/2"
# options of ``model.embed`` that change how the work is batched, not its result: a rerun may change them and resume
NEUTRAL_OPTIONS = ("batch_size", "progress")
_DAMAGE = (OSError, ValueError, KeyError, EOFError, TypeError, IndexError, struct.error, zipfile.BadZipFile)


def records_digest(records: Sequence[Record]) -> str:
    """sha256 of the tracklets to embed (tid, pid, camid, path, in order): a resumed run must have the same data."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps([record.tid, record.pid, record.camid, record.path]).encode("utf-8") + b"\n")
    return digest.hexdigest()


class _Partial:
    """The chunks of an unfinished ``embed_to_file`` run, in ``<out>.partial/``.

    ``meta.json`` holds the run's key: the file's meta (model fingerprint, settings, input), the digest of the
    records and the result-changing options of ``model.embed``. A rerun resumes only from a folder with the same
    key; any other folder (another model file at the same path, other settings or data, an empty folder left by a
    run that died before its first chunk, a damaged ``meta.json``) is reported in one line and started over. A
    damaged chunk (truncated, unreadable, inconsistent) is reported, deleted and its tracklets embedded again.
    """

    def __init__(self, out: Path, key: dict[str, Any], log: Callable[[str], None]) -> None:
        self.folder = out.with_name(out.name + ".partial")
        self.key = json.loads(json.dumps(key, default=str))  # the form it takes once stored
        self.log = log

    def load(self) -> dict[str, tuple[np.ndarray, str | None]]:
        """key -> (embedding, error or None) of the tracklets done by earlier runs of the same key."""
        if not self.folder.exists() and not self.folder.is_symlink():
            return {}
        if not self.folder.is_dir():
            raise ReidError(f"{self.folder}: exists and is not a folder; embed keeps its partial results there "
                            "(move that file away)")
        why = self._mismatch()
        if why is not None:
            self.log(f"{self.folder}: {why}; starting over")
            self.remove()
            return {}
        done: dict[str, tuple[np.ndarray, str | None]] = {}
        damaged: list[tuple[Path, str]] = []
        dim: int | None = None
        for chunk in sorted(self.folder.glob("chunk-*.npz")):
            try:
                keys, embeddings, errors = _read_chunk(chunk, dim)
            except _DAMAGE as exc:
                damaged.append((chunk, " ".join(str(exc).split()) or type(exc).__name__))
                continue
            dim = embeddings.shape[1]
            for key, row in zip(keys, embeddings):
                done[key] = (row, errors.get(key))
        if damaged:
            names = ", ".join(path.name for path, _ in damaged)
            self.log(f"{self.folder}: {len(damaged)} damaged chunk{'s' if len(damaged) > 1 else ''} ({names}: "
                     f"{damaged[0][1]}); embedding {'their' if len(damaged) > 1 else 'its'} tracklets again")
            for path, _ in damaged:
                path.unlink(missing_ok=True)
        if done:
            self.log(f"{self.folder}: resuming, {len(done)} tracklets were embedded by an earlier run")
        return done

    def _mismatch(self) -> str | None:
        """Why the folder's chunks cannot be reused by this run (None when they can)."""
        stored_path = self.folder / "meta.json"
        if not stored_path.is_file():
            if not any(self.folder.iterdir()):
                return "empty (an earlier run stopped before its first chunk, e.g. on a full disk)"
            return "holds no meta.json describing its run (damaged, or not written by this version)"
        try:
            stored = json.loads(stored_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return f"its meta.json is damaged ({exc})"
        if not isinstance(stored, dict) or stored.get("format") != PARTIAL_FORMAT:
            return "holds partial results of an older version, which cannot be checked against this run"
        if stored == self.key:
            return None
        ours = {**self.key["meta"], **self.key["options"], "tracklets": self.key["records"]}
        theirs = {**_as_dict(stored.get("meta")), **_as_dict(stored.get("options")), "tracklets": stored.get("records")}
        changed = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        if "fingerprint" in changed:
            changed[changed.index("fingerprint")] = "the model file's content (fingerprint)"
        return f"holds partial results of another run ({', '.join(changed) or 'its key'} differ)"

    def start(self) -> None:
        """Create the folder with its ``meta.json`` (before any work, so an unwritable ``out`` fails at once)."""
        if (self.folder / "meta.json").is_file():
            return
        make_folder(self.folder)
        try:
            write_json_atomic(self.folder / "meta.json", self.key)
        except BaseException:
            self.remove()  # an empty folder would only puzzle the next run
            raise

    def write(self, keys: list[str], embeddings: np.ndarray, errors: dict[str, str]) -> None:
        numbers = [int(p.stem.split("-")[1]) for p in self.folder.glob("chunk-*.npz") if p.stem[6:].isdigit()]
        target = self.folder / f"chunk-{max(numbers, default=0) + 1:06d}.npz"
        arrays = {"keys": np.asarray(keys, dtype=str), "embeddings": embeddings,
                  "errors": np.array(json.dumps(errors))}
        write_atomic(target, lambda f: np.savez(f, **arrays))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _read_chunk(path: Path, dim: int | None) -> tuple[list[str], np.ndarray, dict[str, str]]:
    """The keys, embeddings and errors of one chunk; raises one of ``_DAMAGE`` when it is damaged."""
    with np.load(path, allow_pickle=False) as data:
        keys, embeddings, errors = data["keys"], data["embeddings"], json.loads(str(data["errors"]))
    if keys.ndim != 1 or keys.dtype.kind != "U":
        raise ValueError(f"keys are {keys.dtype} {keys.shape}, expected strings")
    if embeddings.ndim != 2 or embeddings.dtype.kind != "f" or len(embeddings) != len(keys):
        raise ValueError(f"embeddings are {embeddings.dtype} {embeddings.shape} for {len(keys)} keys")
    if dim is not None and embeddings.shape[1] != dim:
        raise ValueError(f"{embeddings.shape[1]}-d embeddings, the other chunks hold {dim}-d")
    if not isinstance(errors, dict):
        raise ValueError("errors is not a JSON object")
    return [str(k) for k in keys], embeddings.astype(np.float32), {str(k): str(v) for k, v in errors.items()}


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
    log: Callable[[str], None] | None = None,
    **embed_options: Any,
) -> Embeddings:
    """Embed ``records`` with ``model.embed`` and write the embeddings file ``out``, resumably.

    ``source(indices)`` yields ``(index, tracklet)`` for the record indices still to do, in any order (a MOT
    sequence yields tracks as they end); ``tracklet`` is anything ``model.embed`` takes. ``meta`` describes the
    run and goes into the file; for a loaded ``ReidModel`` it gets the model's ``fingerprint``
    (:func:`model_fingerprint`) unless it has one. A rerun resumes from ``<out>.partial/`` only when the meta, the
    records and the options of ``model.embed`` that change results (all but ``batch_size``) are equal; otherwise,
    or when that folder is empty or damaged, it says so on ``log`` (one line) and redoes what it cannot reuse. A
    chunk ends at ``chunk_size`` tracklets or ``max_chunk_frames`` frames, which bounds the memory of sources that
    hand over decoded frames. ``embed_options`` go to ``model.embed``.
    """
    out = Path(out)
    if "fingerprint" not in meta and hasattr(model, "backend") and hasattr(model, "info"):
        meta = {**meta, "fingerprint": model_fingerprint(model)}
    keys = [r.key for r in records]
    seen: set[str] = set()
    for record in records:
        if record.key in seen:
            raise ReidError(f"two tracklets share tid {record.tid!r} and path {record.path!r}; they must be unique")
        seen.add(record.key)
    options = {k: v for k, v in sorted(embed_options.items()) if k not in NEUTRAL_OPTIONS}
    key = {"format": PARTIAL_FORMAT, "meta": meta, "records": records_digest(records), "options": options}
    partial = _Partial(out, key, log or (lambda line: None))
    done = partial.load()
    partial.start()
    todo = [i for i, key in enumerate(keys) if key not in done]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(records), initial=len(records) - len(todo), unit="tracklet", desc="embed")
    try:
        for chunk in _chunks(source(todo), chunk_size, max_chunk_frames):
            # a source may yield an exception for a tracklet it could not produce (a MOT track on a broken frame)
            failed = {i: item for i, item in chunk if isinstance(item, Exception)}
            if failed and embed_options.get("strict"):
                raise next(iter(failed.values()))
            ready = [(i, item) for i, item in chunk if i not in failed]
            indices = [i for i, _ in ready]
            errors: dict[str, str] = {}
            if ready:
                embeddings = model.embed([item for _, item in ready], **embed_options)
                errors = {keys[indices[e.index]]: e.error for e in model.last_errors}
            else:
                embeddings = np.zeros((0, model.embedding_dim), np.float32)
            if failed:
                errors.update({keys[i]: str(exc) for i, exc in failed.items()})
                indices += list(failed)
                embeddings = np.concatenate([embeddings, np.full((len(failed), embeddings.shape[1]), np.nan,
                                                                 np.float32)])
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
        frames += 0 if isinstance(item[1], Exception) else len(item[1])
        if len(chunk) == size or frames >= max_frames:
            yield chunk
            chunk, frames = [], 0
    if chunk:
        yield chunk

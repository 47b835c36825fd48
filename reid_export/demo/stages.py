"""The stages of ``reid demo``, one function each, and :func:`run_demo`, which runs them in order.

A stage takes the :class:`Demo` being run and the records of the stages before it, writes its files under
``<out>/<stage>/`` and returns a :class:`StageOutput`. :func:`run_demo` stores that as ``<out>/<stage>/done.json``
(with the plan and the time taken) and prints its summary line. A rerun reuses a stage when its ``done.json`` was
written under the same plan, the files it lists still exist and no stage before it was redone in this run; ``force``
redoes them all. Paths in the results are relative to ``<out>``, so a moved demo folder is still reused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime import __version__
from reid_runtime.errors import ReidError
from reid_runtime.io import write_atomic, write_json_atomic, write_text_atomic

SEED = 0
REF_SEQ_LEN = 4                     # the demo recipe's test T: TP evaluation, ONNX embedding, search
BENCH_SHAPES = ((1, 4), (8, 4))     # (B, T) of the latency comparison
MARKER = "demo.json"                # marks a folder as written by reid demo (its stage folders may be replaced)
DONE = "done.json"


@dataclass(frozen=True)
class DemoPlan:
    """How much the demo does. Every plan runs the same stages and code; only these sizes differ."""

    name: str
    ids: int                              # identities in train and in test, each
    size: tuple[int, int]                 # frame and model input size (H, W)
    epochs: int | None                    # None: the demo recipe's
    seq_lens: tuple[int, ...]             # STA evaluation sweep (must hold REF_SEQ_LEN)
    max_clips: int                        # dense test clips per tracklet
    pictures: int                         # queries drawn as ranked lists and attention overlays
    bench_seconds: float                  # least timed seconds per latency figure
    trims: str = ""                       # what the plan leaves out compared with the default, for people
    model_kwargs: dict[str, Any] = field(default_factory=dict)   # extra architecture arguments (STA and TP)
    train_sets: tuple[str, ...] = ()      # further --set overrides of the demo recipe
    verify_seq_lengths: tuple[int, ...] | None = None   # None: reid_export.verify's full grid
    verify_batch_sizes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if REF_SEQ_LEN not in self.seq_lens:
            raise ValueError(f"plan {self.name!r}: seq_lens {self.seq_lens} must include T={REF_SEQ_LEN}")

    def as_json(self) -> dict[str, Any]:
        """The plan as stored in every ``done.json`` (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


PLANS: dict[str, DemoPlan] = {
    "default": DemoPlan("default", ids=40, size=(128, 64), epochs=None, seq_lens=(2, 4, 8), max_clips=4,
                        pictures=6, bench_seconds=1.0),
    "fast": DemoPlan("fast", ids=16, size=(128, 64), epochs=8, seq_lens=(4, 8), max_clips=4, pictures=3,
                     bench_seconds=0.5,
                     trims="16 + 16 identities instead of 40 + 40, 8 training epochs instead of 12, STA evaluated "
                           "at T = 4, 8 instead of 2, 4, 8, 3 pictures instead of 6, 0.5 s per latency figure"),
    # For the test suite only (reid demo --tiny): narrow models on 64x32 frames, one training step per epoch.
    "tiny": DemoPlan("tiny", ids=8, size=(64, 32), epochs=1, seq_lens=(2, 4), max_clips=2, pictures=2,
                     bench_seconds=0.05, trims="test-suite size: 8 + 8 identities, 64x32 frames, width-16 models, "
                                               "one training step",
                     model_kwargs={"width": 16}, train_sets=("train.max_steps_per_epoch=1",),
                     verify_seq_lengths=(1, 4), verify_batch_sizes=(1, 2)),
}


@dataclass
class StageOutput:
    """What a stage returns: a one-line summary, its results, the files it made and the commands that redo it."""

    summary: str
    results: dict[str, Any]
    outputs: list[str]                    # files under <out> that later stages or the report rely on
    commands: list[str]                   # the same stage by hand, with the reid command
    details: list[str] = field(default_factory=list)   # extra lines printed under the summary


class Demo:
    """One demo run: its folder, plan and options, and path helpers shared by the stages."""

    def __init__(self, out: str | Path, plan: DemoPlan, *, progress: bool = False) -> None:
        self.out = Path(out)
        self.plan = plan
        self.progress = progress  # training progress bars

    def folder(self, stage: str) -> Path:
        return self.out / stage

    def rel(self, path: str | Path) -> str:
        """``path`` relative to the demo folder, as stored in the records."""
        return Path(path).relative_to(self.out).as_posix()

    def path(self, rel: str) -> Path:
        return self.out / rel

    def claim(self) -> None:
        """Create the demo folder, or check that an existing one was written by ``reid demo``."""
        marker = self.out / MARKER
        if self.out.is_dir() and any(self.out.iterdir()) and not marker.is_file():
            raise ReidError(f"{self.out}: the folder exists and was not written by reid demo (no {MARKER}); "
                            "pass a new or empty --out folder")
        if self.out.exists() and not self.out.is_dir():
            raise ReidError(f"{self.out}: exists and is not a folder; pass a folder for --out")
        if not marker.is_file():
            write_json_atomic(marker, {"generator": "reid demo", "toolkit_version": __version__})

    def finished(self, stage: str) -> dict[str, Any] | None:
        """The stored record of ``stage`` when it can be reused under this plan, else None."""
        path = self.folder(stage) / DONE
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if record.get("plan") != self.plan.as_json():
            return None
        if not all(self.path(rel).exists() for rel in record.get("outputs", [])):
            return None
        return record


def _command(*parts: object) -> str:
    return " ".join(shlex.quote(str(part)) for part in parts)


def _pct(value: float) -> str:
    return f"{value:.1f}"


# ---- 1. data -----------------------------------------------------------------------------------------------------
def data_stage(demo: Demo, done: dict[str, dict]) -> StageOutput:
    """Synthetic MARS-layout dataset with attributes (``reid data synth``), read back with the real reader."""
    from reid_runtime.data.registry import load_dataset
    from reid_runtime.data.summary import summarize
    from reid_runtime.data.synth import SynthConfig, synthesize

    plan = demo.plan
    root = demo.folder("data") / "mars"
    report = synthesize(SynthConfig(layout="mars", ids=plan.ids, seed=SEED, size=plan.size), root)
    splits = load_dataset("mars", root)
    rows = summarize(splits)
    by_split = {row["split"]: row for row in rows}
    counts = report["counts"]
    height, width = plan.size
    summary = (f"synthetic MARS layout: {plan.ids} + {plan.ids} identities, {by_split['train']['tracklets']} train / "
               f"{by_split['query']['tracklets']} query / {by_split['gallery']['tracklets']} gallery tracklets "
               f"({by_split['query']['valid_queries']} valid queries), {height}x{width} frames, "
               f"{counts['attribute_rows']} attribute rows -> {root}")
    return StageOutput(
        summary=summary,
        results={"root": demo.rel(root), "ids": plan.ids, "size": list(plan.size), "counts": counts,
                 "splits": rows, "notes": splits.notes, "attributes": splits.attribute_schema is not None},
        outputs=[demo.rel(root / "info")],
        commands=[_command("reid", "data", "synth", "--layout", "mars", "--out", root, "--ids", plan.ids,
                           "--size", f"{height}x{width}", "--seed", SEED),
                  _command("reid", "data", "summary", "--dataset", "mars", "--data-root", root)],
    )


# ---- 2. train ----------------------------------------------------------------------------------------------------
def train_sets(plan: DemoPlan, arch: str) -> list[str]:
    """The ``--set`` overrides of the demo recipe for ``arch`` (``sta`` or ``tp``) under ``plan``."""
    from reid_train.engine.config import load_config

    recipe = load_config("demo")
    # Evaluation happens in the eval stage; the trainer still scores the final epoch.
    sets = ["train.eval_every=0"]
    if plan.epochs is not None and plan.epochs != recipe["optim"]["epochs"]:
        sets += [f"optim.epochs={plan.epochs}", f"optim.milestones=[{max(1, plan.epochs * 2 // 3)}]"]
    if list(plan.size) != list(recipe["data"]["input_size"]):
        sets.append(f"data.input_size=[{plan.size[0]}, {plan.size[1]}]")
    if plan.max_clips != recipe["data"]["test_max_clips"]:
        sets.append(f"data.test_max_clips={plan.max_clips}")
    sets += plan.train_sets
    if arch == "tp":  # same backbone, data and budget; TP has no inter-frame term
        kwargs = {"last_stride": 1, **plan.model_kwargs}
        sets += ["model.name=tp_tiny", "loss.inter_frame_weight=0.0"]
    else:
        kwargs = {**recipe["model"]["kwargs"], **plan.model_kwargs} if plan.model_kwargs else None
    if kwargs is not None:
        sets.append("model.kwargs={" + ", ".join(f"{k}: {v}" for k, v in kwargs.items()) + "}")
    return sets


def train_stage(demo: Demo, done: dict[str, dict]) -> StageOutput:
    """STA with the tiny CPU recipe ``demo`` and a TP baseline with the same data, budget and seed."""
    import click

    from reid_train.engine.config import load_config
    from reid_train.engine.trainer import Trainer

    root = demo.path(done["data"]["results"]["root"])
    runs, commands, outputs = {}, [], []
    for arch in ("sta", "tp"):
        sets = train_sets(demo.plan, arch)
        folder = demo.folder("train") / arch
        config = load_config("demo", [f"data.root={root}", *sets])
        started = time.perf_counter()
        trainer = Trainer(config, folder, progress=demo.progress)
        try:
            metrics = trainer.fit()
        finally:
            trainer.close()
        if "interrupted" in metrics:
            raise click.Abort()
        runs[arch] = {
            "model": config["model"]["name"],
            "checkpoint": demo.rel(folder / "last.pt"),
            "parameters": sum(p.numel() for p in trainer.model.parameters()),
            "epochs": config["optim"]["epochs"],
            "iterations": trainer.global_step,
            "batch": f"P={config['data']['p']} x K={config['data']['k']} tracklets of T={config['data']['seq_len']}",
            "seconds": round(time.perf_counter() - started, 1),
            "final_eval": metrics,
        }
        outputs.append(runs[arch]["checkpoint"])
        commands.append(_command("reid", "train", "--config", "demo", "--data-root", root, "--out", folder,
                                 *(part for item in sets for part in ("--set", item))))
    sta, tp = runs["sta"], runs["tp"]
    summary = (f"STA ({sta['model']}, {sta['parameters'] / 1e6:.2f} M parameters) and the TP baseline, "
               f"{sta['epochs']} epochs / {sta['iterations']} iterations each in {sta['seconds']:.0f} s + "
               f"{tp['seconds']:.0f} s; final mAP STA {_pct(sta['final_eval']['mAP'])}, "
               f"TP {_pct(tp['final_eval']['mAP'])} -> {demo.folder('train')}")
    return StageOutput(summary=summary, results={"runs": runs}, outputs=outputs, commands=commands)


# ---- 3. eval -----------------------------------------------------------------------------------------------------
def eval_stage(demo: Demo, done: dict[str, dict]) -> StageOutput:
    """CMC / mAP / mINP per test T (STA at every plan T, TP at T=4), ranked lists and STA attention overlays."""
    import reid_runtime
    from reid_runtime.data.registry import load_dataset
    from reid_runtime.evaluation import results_markdown, score, write_results_json

    plan = demo.plan
    root = demo.path(done["data"]["results"]["root"])
    splits = load_dataset("mars", root, attributes=False)
    tracklets = splits.query + splits.gallery  # the standard protocol's query and gallery are disjoint
    n_query = len(splits.query)
    tables, pictures, commands, outputs = {}, {}, [], []
    for arch, lengths in (("sta", plan.seq_lens), ("tp", (REF_SEQ_LEN,))):
        checkpoint = demo.path(done["train"]["results"]["runs"][arch]["checkpoint"])
        model = reid_runtime.load(checkpoint, backend="torch")
        rows, last = [], None
        for length in lengths:
            emb = model.embed(tracklets, seq_len=length, sampling="dense", max_clips=plan.max_clips)
            if np.isnan(emb).any():
                raise ReidError(f"{root}: {int(np.isnan(emb).any(axis=1).sum())} tracklets could not be embedded")
            last = score(emb[:n_query], emb[n_query:], splits.query, splits.gallery, metric=model.metric,
                         return_distances=True)
            row = {k: v for k, v in last.items() if k not in ("distmat", "gallery")}
            rows.append({"seq_len": length, "sampling": "dense", "backend": model.backend_name,
                         "model": checkpoint.name, "dataset": "mars", **row, "cmc": row["cmc"][:20]})
        folder = demo.folder("eval") / arch
        title = f"mars (standard protocol) - {arch.upper()} {checkpoint.name} on {model.backend_name}"
        write_results_json(folder / "eval.json", {"model": str(checkpoint), "dataset": "mars",
                                                  "data_root": str(root), "protocol": "standard",
                                                  "notes": splits.notes, "results": rows})
        write_text_atomic(folder / "eval.md", results_markdown(rows, title))
        tables[arch] = rows
        outputs.append(demo.rel(folder / "eval.json"))
        visualize = arch == "sta"
        commands.append(_command(
            "reid", "eval", "--model", checkpoint, "--data-root", root, "--dataset", "mars",
            "--seq-lens", ",".join(map(str, lengths)), "--max-clips", plan.max_clips, "--out", folder,
            *(("--visualize", "--num-visualize", plan.pictures) if visualize else ())))
        if visualize:
            pictures = _eval_pictures(demo, model, splits.query, last, folder, lengths[-1])
    sta = {row["seq_len"]: row for row in tables["sta"]}
    others = ", ".join(f"T={t}: {_pct(sta[t]['mAP'])}" for t in plan.seq_lens if t != REF_SEQ_LEN)
    tp = tables["tp"][0]
    summary = (f"STA mAP {_pct(sta[REF_SEQ_LEN]['mAP'])} / R1 {_pct(sta[REF_SEQ_LEN]['R1'])} at T={REF_SEQ_LEN}"
               + (f" (mAP {others})" if others else "")
               + f"; TP mAP {_pct(tp['mAP'])} / R1 {_pct(tp['R1'])} at T={REF_SEQ_LEN}; "
               f"{len(pictures['ranked_lists'])} ranked lists and {len(pictures['attention'])} attention overlays "
               f"-> {demo.folder('eval')}")
    return StageOutput(summary=summary, results={"tables": tables, "pictures": pictures,
                                                 "valid_queries": tp["num_valid_queries"], "queries": n_query},
                       outputs=outputs, commands=commands)


def _eval_pictures(demo: Demo, model, queries: list, result: dict, folder: Path, seq_len: int) -> dict[str, list]:
    """Ranked lists of evenly spread queries and STA's region scores over an evenly sampled clip of each."""
    from reid_runtime.data.frames import load_clip
    from reid_runtime.data.sampling import sample_test_clips
    from reid_runtime.visualize import attention_overlay_image, save_ranked_lists

    picks = np.linspace(0, len(queries) - 1, num=min(demo.plan.pictures, len(queries))).round().astype(int)
    ranked = save_ranked_lists(folder / "ranked_lists", queries, result["gallery"], result["distmat"], picks)
    overlays = []
    for q in picks:
        tracklet = queries[q]
        index = sample_test_clips(len(tracklet), max(seq_len, 8), "evenly")[0]
        frames = load_clip([tracklet.frames[i] for i in index], model.input_size)
        scores, _ = model.backend.run_backbone(frames.transpose(0, 3, 1, 2).astype(np.float32))
        scores = scores / np.maximum(scores.sum(axis=0, keepdims=True), 1e-12)
        image = attention_overlay_image(frames, scores)
        path = folder / "attention" / f"attention_q{q}_pid{tracklet.pid}_c{tracklet.camid}.png"
        overlays.append(write_atomic(path, lambda f, im=image: im.save(f, format="PNG")))
    return {"ranked_lists": [demo.rel(p) for p in ranked], "attention": [demo.rel(p) for p in overlays]}


# ---- 4. export ---------------------------------------------------------------------------------------------------
def export_stage(demo: Demo, done: dict[str, dict]) -> StageOutput:
    """ONNX with dynamic batch and seq axes, and the split backbone + head pair, both verified against PyTorch;
    then a query streamed frame by frame through the split export, against its offline embedding."""
    from reid_export.onnx_export import DEFAULT_OPSET, export_checkpoint

    plan = demo.plan
    checkpoint = demo.path(done["train"]["results"]["runs"]["sta"]["checkpoint"])
    folder = demo.folder("export")
    grid = {k: v for k, v in (("seq_lengths", plan.verify_seq_lengths), ("batch_sizes", plan.verify_batch_sizes))
            if v is not None}
    exports = {}
    for name, out, split in (("full", folder / "sta.onnx", False), ("split", folder / "split" / "sta.onnx", True)):
        with _exporter_warnings_off():
            result = export_checkpoint(checkpoint, out, split=split, **grid)
        report = result.verification
        exports[name] = {
            "files": [demo.rel(p) for p in result.files],
            "bytes": [p.stat().st_size for p in result.files],
            "seconds": round(result.seconds, 1),
            "verification": {
                "passed": report.passed, "cases": len(report.cases), "seq_lengths": report.seq_lengths,
                "batch_sizes": report.batch_sizes, "max_abs_diff": max(c.max_abs for c in report.cases),
                "min_cosine": min(c.min_cosine for c in report.cases), "tolerance": str(report.tolerance),
            },
        }
    root = demo.path(done["data"]["results"]["root"])
    stream = _stream_check(demo.path(exports["split"]["files"][0]), root)
    full, split = exports["full"], exports["split"]
    check = full["verification"]
    summary = (f"sta.onnx ({full['bytes'][0] / 1e6:.1f} MB, dynamic batch and seq) and the split backbone + head, "
               f"verified against PyTorch at T {check['seq_lengths']} x B {check['batch_sizes']}: max abs diff "
               f"{max(check['max_abs_diff'], split['verification']['max_abs_diff']):.2g}, min cosine "
               f"{min(check['min_cosine'], split['verification']['min_cosine']):.6f}; a query streamed "
               f"{stream['chunk']} frames at a time matches its offline embedding (cosine {stream['cosine']:.6f}) "
               f"-> {folder}")
    return StageOutput(
        summary=summary, results={"exports": exports, "opset": DEFAULT_OPSET, "stream": stream},
        outputs=full["files"] + split["files"],
        commands=[_command("reid", "export", "onnx", "--checkpoint", checkpoint, "--out", folder / "sta.onnx"),
                  _command("reid", "export", "onnx", "--checkpoint", checkpoint, "--out",
                           folder / "split" / "sta.onnx", "--split")],
    )


@contextlib.contextmanager
def _exporter_warnings_off():
    """Silence the exporter's logged warnings (e.g. that torchvision ops are not registered): noise in a demo."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _stream_check(backbone: Path, root: Path, chunk: int = 3) -> dict[str, Any]:
    """Feed the longest query tracklet to a :class:`TrackletStream` in chunks, as a tracker would."""
    import reid_runtime
    from reid_runtime.data.registry import load_dataset

    model = reid_runtime.load(backbone)
    tracklet = max(load_dataset("mars", root, attributes=False).query, key=len)
    stream = reid_runtime.TrackletStream(model)
    for start in range(0, len(tracklet), chunk):
        stream.update(tracklet.tid, tracklet.frames[start:start + chunk])
    streamed = stream.close(tracklet.tid)
    offline = model.embed([tracklet.frames], sampling="all")[0]
    cosine = float(streamed @ offline / max(np.linalg.norm(streamed) * np.linalg.norm(offline), 1e-12))
    return {"tracklet": tracklet.frames[0], "frames": len(tracklet), "chunk": chunk, "cosine": cosine}


# ---- 5. embed ----------------------------------------------------------------------------------------------------
def embed_stage(demo: Demo, done: dict[str, dict]) -> StageOutput:
    """Query and gallery embedded with ONNX Runtime into .npz files (the ``reid embed`` library path); their mAP
    must equal the PyTorch evaluation's at the same T and sampling."""
    import reid_runtime
    from reid_runtime.data.registry import load_dataset
    from reid_runtime.embeddings_file import Record, embed_to_file
    from reid_runtime.search import evaluate

    plan = demo.plan
    root = demo.path(done["data"]["results"]["root"])
    onnx_path = demo.path(done["export"]["results"]["exports"]["full"]["files"][0])
    model = reid_runtime.load(onnx_path)
    splits = load_dataset("mars", root, attributes=False)
    folder = demo.folder("embed")
    files, commands = {}, []
    for split_name in ("query", "gallery"):
        chosen = getattr(splits, split_name)
        records = [Record(t.tid, t.pid, t.camid, t.frames[0]) for t in chosen]
        meta = {"model": str(onnx_path.resolve()), "model_info": dataclasses.asdict(model.info),
                "metric": model.metric, "backend": model.backend_name, "seq_len": REF_SEQ_LEN, "sampling": "dense",
                "max_clips": plan.max_clips, "input": f"mars {split_name} (standard) from {splits.root}",
                "toolkit_version": __version__, "dataset": "mars", "split": split_name, "protocol": "standard",
                "split_id": 0}
        out = folder / f"{split_name}.npz"
        files[split_name] = embed_to_file(model, records, lambda todo, items=chosen: ((i, items[i]) for i in todo),
                                          out, meta, seq_len=REF_SEQ_LEN, sampling="dense",
                                          max_clips=plan.max_clips)
        commands.append(_command("reid", "embed", "--model", onnx_path, "--data-root", root, "--dataset", "mars",
                                 "--split", split_name, "--seq-len", REF_SEQ_LEN, "--max-clips", plan.max_clips,
                                 "--out", out))
    scores = evaluate(files["query"], files["gallery"], model.metric)
    reference = next(r for r in done["eval"]["results"]["tables"]["sta"] if r["seq_len"] == REF_SEQ_LEN)
    ort = {k: 100 * scores[k] for k in ("R1", "R5", "R10", "mAP", "mINP")}
    torch_scores = {k: reference[k] for k in ort}
    agree = all(abs(ort[k] - torch_scores[k]) < 1e-3 for k in ort)
    summary = (f"{len(files['query'])} query + {len(files['gallery'])} gallery tracklets with ONNX Runtime "
               f"(T={REF_SEQ_LEN}, dense) -> {folder}/{{query,gallery}}.npz; mAP ONNX Runtime {ort['mAP']:.2f} "
               f"{'=' if agree else 'DIFFERS FROM'} PyTorch {torch_scores['mAP']:.2f} "
               f"(R1 {ort['R1']:.2f} vs {torch_scores['R1']:.2f})")
    return StageOutput(
        summary=summary,
        results={"files": {k: demo.rel(folder / f"{k}.npz") for k in files}, "counts": {k: len(v) for k, v in
                 files.items()}, "onnxruntime": ort, "pytorch": torch_scores, "agree": agree,
                 "seq_len": REF_SEQ_LEN, "max_clips": plan.max_clips, "num_valid_queries": scores["num_valid_queries"]},
        outputs=[demo.rel(folder / f"{k}.npz") for k in files], commands=commands,
    )


# ---- 6. search ---------------------------------------------------------------------------------------------------
def search_stage(demo: Demo, done: dict[str, dict], topk: int = 10) -> StageOutput:
    """Top-``topk`` gallery tracklets for every query (``reid search``), same-identity same-camera items left out."""
    from reid_runtime.embeddings_file import load_embeddings
    from reid_runtime.search import evaluate, search

    paths = {k: demo.path(v) for k, v in done["embed"]["results"]["files"].items()}
    query, gallery = load_embeddings(paths["query"]), load_embeddings(paths["gallery"])
    result = search(query, gallery, topk, exclude_same_camera=True)
    scores = evaluate(query, gallery, result.metric)
    rows = []
    for q, (indices, distances) in enumerate(zip(result.indices, result.distances)):
        matches = [{"tid": str(gallery.tids[g]), "pid": int(gallery.pids[g]), "camid": int(gallery.camids[g]),
                    "path": str(gallery.paths[g]), "distance": float(d)} for g, d in zip(indices, distances) if g >= 0]
        rows.append({"tid": str(query.tids[q]), "pid": int(query.pids[q]), "camid": int(query.camids[q]),
                     "path": str(query.paths[q]), "matches": matches})
    out = demo.folder("search") / "results.json"
    write_json_atomic(out, {"query": str(paths["query"]), "gallery": str(paths["gallery"]), "metric": result.metric,
                            "engine": result.engine, "topk": topk, "rerank": False, "exclude_same_camera": True,
                            "left_out": {}, "metrics": scores, "results": rows})
    cameras: dict[int, set[int]] = {}
    for pid, camid in zip(gallery.pids.tolist(), gallery.camids.tolist()):
        cameras.setdefault(pid, set()).add(camid)
    valid = [q for q, row in enumerate(rows) if cameras.get(row["pid"], set()) - {row["camid"]}]
    examples = [_example(rows[valid[i]]) for i in sorted({0, len(valid) // 2})] if valid else []
    summary = (f"top-{topk} of {len(gallery)} gallery tracklets for {len(query)} queries ({result.metric}, "
               f"{result.engine}): R1 {100 * scores['R1']:.1f}, mAP {100 * scores['mAP']:.1f} -> {out}")
    return StageOutput(
        summary=summary,
        results={"file": demo.rel(out), "topk": topk, "metric": result.metric, "engine": result.engine,
                 "metrics": scores, "examples": examples},
        outputs=[demo.rel(out)],
        commands=[_command("reid", "search", "--query", paths["query"], "--gallery", paths["gallery"], "--topk",
                           topk, "--exclude-same-camera", "--out", out)],
        details=[f"query pid {e['pid']} cam {e['camid']}: top-5 pids {e['top5']}, first true match at rank "
                 f"{e['first_match'] or f'> {topk}'}" for e in examples],
    )


def _example(row: dict[str, Any]) -> dict[str, Any]:
    pids = [m["pid"] for m in row["matches"]]
    first = next((rank for rank, pid in enumerate(pids, 1) if pid == row["pid"]), None)
    return {"tid": row["tid"], "pid": row["pid"], "camid": row["camid"], "path": row["path"], "top5": pids[:5],
            "first_match": first}


# ---- 7. bench ----------------------------------------------------------------------------------------------------
def bench_stage(demo: Demo, done: dict[str, dict]) -> StageOutput:
    """PyTorch eager (the checkpoint) vs ONNX Runtime (the export) on the same clips, through the runtime backends."""
    import reid_runtime
    from reid_runtime.timing import measure

    plan = demo.plan
    threads = os.cpu_count() or 1
    checkpoint = demo.path(done["train"]["results"]["runs"]["sta"]["checkpoint"])
    onnx_path = demo.path(done["export"]["results"]["exports"]["full"]["files"][0])
    models = {"PyTorch eager": reid_runtime.load(checkpoint, backend="torch", threads=threads),
              "ONNX Runtime": reid_runtime.load(onnx_path, threads=threads)}
    rng = np.random.default_rng(SEED)
    rows = []
    for batch, seq in BENCH_SHAPES:
        frames = rng.uniform(0, 255, (batch, seq, 3, *plan.size)).astype(np.float32)
        for name, model in models.items():
            timing = measure(lambda m=model: m.backend.run_full(frames), min_seconds=plan.bench_seconds)
            rows.append({"backend": name, "batch": batch, "seq": seq, **timing.to_dict(),
                         "tracklets_per_s": batch * 1000.0 / timing.p50_ms})
    by_key = {(r["backend"], r["batch"], r["seq"]): r for r in rows}
    parts = []
    for batch, seq in BENCH_SHAPES:
        eager, ort = by_key["PyTorch eager", batch, seq], by_key["ONNX Runtime", batch, seq]
        parts.append(f"(B, T) = ({batch}, {seq}): {eager['tracklets_per_s']:.0f} vs {ort['tracklets_per_s']:.0f} "
                     f"tracklets/s ({eager['p50_ms']:.1f} vs {ort['p50_ms']:.1f} ms)")
    out = demo.folder("bench")
    summary = f"PyTorch eager vs ONNX Runtime, {threads} threads: " + "; ".join(parts) + f" -> {out / DONE}"
    return StageOutput(
        summary=summary,
        results={"rows": rows, "threads": threads, "frames": f"random 0..255, {plan.size[0]}x{plan.size[1]}",
                 "machine": _machine()},
        outputs=[], commands=[_bench_snippet(checkpoint, onnx_path, plan.size, threads)],
    )


def _bench_snippet(checkpoint: Path, onnx_path: Path, size: tuple[int, int], threads: int) -> str:
    """The bench stage as a Python snippet run from bash (there is no single reid command for it)."""
    return "\n".join([
        "python - <<'EOF'",
        "import numpy as np, reid_runtime",
        "from reid_runtime.timing import measure",
        f"models = {{'PyTorch eager': reid_runtime.load({str(checkpoint)!r}, backend='torch', threads={threads}),",
        f"          'ONNX Runtime': reid_runtime.load({str(onnx_path)!r}, threads={threads})}}",
        f"for batch, seq in {list(BENCH_SHAPES)}:",
        f"    frames = np.random.default_rng(0).uniform(0, 255, (batch, seq, 3, {size[0]}, {size[1]}))"
        ".astype(np.float32)",
        "    for name, model in models.items():",
        "        p50 = measure(lambda: model.backend.run_full(frames)).p50_ms",
        "        print(f'{name} B={batch} T={seq}: {p50:.2f} ms, {batch * 1000 / p50:.0f} tracklets/s')",
        "EOF",
    ])


def _machine() -> dict[str, Any]:
    import platform

    import onnxruntime
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__}


STAGES: tuple[tuple[str, Callable[[Demo, dict[str, dict]], StageOutput]], ...] = (
    ("data", data_stage),
    ("train", train_stage),
    ("eval", eval_stage),
    ("export", export_stage),
    ("embed", embed_stage),
    ("search", search_stage),
    ("bench", bench_stage),
)


def run_demo(out: str | Path, plan: DemoPlan, *, force: bool = False, progress: bool = False,
             echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or reuse) every stage into ``out``, then write ``out/report.md``; returns the stage records."""
    from reid_export.demo.report import write_report

    demo = Demo(out, plan, progress=progress)
    demo.claim()
    total = len(STAGES) + 1
    started = time.perf_counter()
    if plan.trims:
        echo(f"plan {plan.name}: {plan.trims}")
    done: dict[str, dict] = {}
    redo = force
    for number, (name, stage) in enumerate(STAGES, 1):
        record = None if redo else demo.finished(name)
        if record is None:
            redo = True  # everything after a redone stage is redone too
            shutil.rmtree(demo.folder(name), ignore_errors=True)
            t0 = time.perf_counter()
            output = stage(demo, done)
            record = {"stage": name, "plan": plan.as_json(), "seconds": round(time.perf_counter() - t0, 1),
                      "summary": output.summary, "details": output.details, "results": output.results,
                      "outputs": output.outputs, "commands": output.commands, "toolkit_version": __version__}
            write_json_atomic(demo.folder(name) / DONE, record)
            tag = f"{record['seconds']:.1f} s"
        else:
            tag = f"reused, took {record['seconds']:.1f} s"
        done[name] = record
        echo(f"[{number}/{total}] {name}: {record['summary']} ({tag})")
        for line in record["details"]:
            echo(f"      {line}")
    report = write_report(demo.out, plan.as_json(), done, time.perf_counter() - started)
    echo(f"[{total}/{total}] report: {report}")
    return done

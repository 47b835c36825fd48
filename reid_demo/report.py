"""``report.md`` of a ``reid demo`` run: every figure from the stage records, the pictures, and the ``reid`` commands
each stage ran (they redo the stage by hand). Links are relative to the demo folder, which holds the report."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reid_demo.commands import command_line
from reid_demo.folder import DemoFolder
from reid_runtime.io import write_text_atomic

LAYOUT = (
    ("demo.json", "marks the folder as a reid demo folder"),
    ("data/mars/", "the synthetic dataset in the MARS layout (bbox_train, bbox_test, info/, mars_attributes.csv)"),
    ("train/sta/, train/tp/", "checkpoints (last.pt, best.pt), metrics.jsonl and config.json of each run"),
    ("eval/sta/, eval/tp/", "eval.json and eval.md; STA also ranked_lists/*.png and attention/*.png"),
    ("export/sta.onnx", "the full graph (dynamic batch and seq); export/split/ holds the backbone + head pair"),
    ("embed/query.npz, embed/gallery.npz", "ONNX Runtime embeddings files (reid embed format)"),
    ("search/results.json", "top-10 gallery tracklets per query (reid search format)"),
    ("bench/", "the latency benchmark as written by reid bench latency (JSON, Markdown, plot)"),
    ("<stage>/done.json", "each stage's results, commands and time; a rerun reuses the stage"),
)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


def _f(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def _data(record: dict) -> list[str]:
    r = record["results"]
    lines = [f"Synthetic MARS-layout dataset at `{r['root']}`: {r['ids']} identities in train and {r['ids']} in test, "
             f"{r['size'][0]}x{r['size'][1]} frames, person-like figures whose look follows the identity attributes, "
             f"with labelled occlusions, cuts and second persons ({r['counts']['attribute_rows']} rows of "
             "`mars_attributes.csv` in the AITL layout). `reid data summary` reads it back with the real MARS "
             "reader:", ""]
    rows = [[s["split"], s["tracklets"], s["ids"], s["cameras"], s["frames"],
             f"{s['len_min']} / {s['len_mean']:.1f} / {s['len_max']}",
             "-" if s["valid_queries"] is None else s["valid_queries"], s["distractors"], s["junk"]]
            for s in r["splits"]]
    return lines + _table(["split", "tracklets", "ids", "cameras", "frames", "length min / mean / max",
                           "valid queries", "distractors (pid 0)", "junk (pid -1)"], rows)


def _train(record: dict) -> list[str]:
    runs = record["results"]["runs"]
    rows = [[name.upper(), run["model"], f"{run['parameters'] / 1e6:.2f} M", run["epochs"], run["iterations"],
             run["batch"], _f(run["seconds"]), _f(run["final_eval"]["mAP"]), _f(run["final_eval"]["R1"])]
            for name, run in runs.items()]
    return (["Both runs use the `demo` recipe (Adam, P x K identity batches, cross-entropy + batch-hard triplet; STA "
             "adds its inter-frame regularization) with the same data, seed and number of iterations; only the "
             "head differs. The final scores are the trainer's own evaluation (T=4, dense clips), in %.", ""]
            + _table(["model", "architecture", "parameters", "epochs", "iterations", "batch", "seconds",
                      "final mAP", "final R1"], rows)
            + [f"Checkpoints: `{runs['sta']['checkpoint']}`, `{runs['tp']['checkpoint']}`.", ""])


def _eval(record: dict) -> list[str]:
    r = record["results"]
    rows = []
    for name, table in r["tables"].items():
        for row in table:
            rows.append([name.upper(), row["seq_len"], _f(row["R1"]), _f(row["R5"]), _f(row["R10"]), _f(row["R20"]),
                         _f(row["mAP"]), _f(row["mINP"]), f"{row['num_valid_queries']}/{row['num_queries']}"])
    lines = ["The checkpoints scored with the PyTorch backend under the standard MARS protocol (gallery = test - "
             "query; same identity on the query's camera removed; queries without a match elsewhere skipped), dense "
             "test clips of T frames with the features averaged per tracklet. Values in %.", ""]
    lines += _table(["model", "T", "R1", "R5", "R10", "R20", "mAP", "mINP", "valid queries"], rows)
    pictures = r["pictures"]
    if pictures["ranked_lists"]:
        lines += ["Ranked list of a query (blue: its frames; green: same identity; red: another; grey: junk, not "
                  "ranked):", "", f"![ranked list]({pictures['ranked_lists'][0]})", ""]
    if pictures["attention"]:
        lines += ["STA region scores over an evenly sampled clip of the same query (cyan: the frame each region's "
                  "selected half comes from):", "", f"![attention]({pictures['attention'][0]})", ""]
    others = pictures["ranked_lists"][1:] + pictures["attention"][1:]
    if others:
        lines += ["More: " + ", ".join(f"[{Path(p).name}]({p})" for p in others), ""]
    return lines


def _export(record: dict) -> list[str]:
    r = record["results"]
    rows = []
    for name, item in r["exports"].items():
        v = item["verification"]
        for path, size in zip(item["files"], item["bytes"]):
            rows.append([f"`{path}`", name, f"{size / 1e6:.2f} MB", f"{v['cases']} cases, T {v['seq_lens']} x "
                         f"B {v['batch_sizes']}", f"{v['max_abs_diff']:.2g}", f"{v['min_cosine']:.6f}",
                         "passed" if v["passed"] else "FAILED", _f(item["seconds"])])
    s = r["stream"]
    tolerance = r["exports"]["full"]["verification"]["tolerance"]
    return (["ONNX with dynamic `batch` and `seq` axes; the split export is a per-frame backbone graph plus the head, "
             "with STA's aggregation in numpy between them (streaming, batching frames across tracklets). `reid "
             "export` ran each file against PyTorch on random clips before writing it (tolerance: "
             f"{', '.join(f'{k} {v}' for k, v in tolerance.items() if v is not None)}).", ""]
            + _table(["file", "export", "size", "verified at", "max abs diff", "min cosine", "result", "seconds"],
                     rows)
            + [f"Streaming (checked by the demo through the Python API, `reid_runtime.TrackletStream`; no command "
               f"streams): the longest query tracklet ({s['frames']} frames) fed {s['chunk']} frames at a time to "
               f"the split export gives its offline embedding with cosine {s['cosine']:.6f}.", ""])


def _info(record: dict) -> list[str]:
    r = record["results"]
    descriptions = list(r["descriptions"].values())
    keys: list[str] = []
    for description in descriptions:
        keys += [k for k in description if k not in keys and k != "path"]
    keys = [k for k in keys if all(_scalar(d.get(k)) for d in descriptions)]
    header = ["", *(f"`{r['models'][name]}`" for name in r["descriptions"])]
    rows = [[key, *(_cell(d.get(key)) for d in descriptions)] for key in keys]
    intro = ["What `reid info` reports for each model (all of it, graphs included, is in `info/done.json`):", ""]
    return intro + _table(header, rows)


def _scalar(value: Any) -> bool:
    plain = (str, int, float, bool)
    return value is None or isinstance(value, plain) or (
        isinstance(value, list) and all(isinstance(v, plain) for v in value))


def _cell(value: Any) -> str:
    if value is None or value == []:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _embed(record: dict) -> list[str]:
    r = record["results"]
    return [f"Query ({r['counts']['query']}) and gallery ({r['counts']['gallery']}) tracklets embedded from "
            f"`{r['model']}` with ONNX Runtime, T={r['seq_len']}, dense clips (at most {r['max_clips']}): "
            f"`{r['files']['query']}`, `{r['files']['gallery']}`.", ""]


def _search(record: dict) -> list[str]:
    r = record["results"]
    verdict = "the same" if r["agree"] else "DIFFERENT (more than 0.001 points apart)"
    rows = [[backend, *(f"{r[key][k]:.2f}" for k in ("R1", "R5", "R10", "mAP", "mINP"))]
            for backend, key in (("ONNX Runtime (embed + search)", "onnxruntime"),
                                 ("PyTorch (checkpoint, eval stage)", "pytorch"))]
    examples = [[e["tid"], e["pid"], e["camid"], ", ".join(map(str, e["top5"])), e["first_match"] or f"> {r['topk']}"]
                for e in r["examples"]]
    return ([f"Top-{r['topk']} per query in `{r['file']}` ({r['metric']} distance, {r['engine']} engine; gallery "
             "items of the query's identity on its camera left out). The scores of the ONNX Runtime embeddings are "
             f"{verdict} as PyTorch's at the same T:", ""]
            + _table(["embeddings", "R1", "R5", "R10", "mAP", "mINP"], rows)
            + ["Two examples:", ""]
            + _table(["query tracklet", "pid", "camera", "top-5 gallery pids", "first true match (rank)"], examples))


def _bench(record: dict) -> list[str]:
    r = record["results"]
    rows = [[row["label"], row["batch"], row["seq"], f"{row['p50_ms']:.2f}", f"{row['p90_ms']:.2f}", row["runs"],
             f"{row['tracklets_per_s']:.1f}", f"{row['vs_first']:.2f}x"] for row in r["rows"]]
    lines = ["`reid bench latency` times one inference call per (B, T) on clips already in memory (no decoding), "
             "each model and backend in a fresh process, median of the timed runs after warm-up:", ""]
    lines += _table(["model [backend]", "B", "T", "p50 ms", "p90 ms", "runs", "tracklets/s", "speed vs first"], rows)
    if r["picture"]:
        lines += [f"![latency]({r['picture']})", ""]
    files = [f for f in r["files"] if not f.endswith(".png")]
    return lines + [f"All figures (p99, frames/s, peak memory, machine, notes): {', '.join(f'`{f}`' for f in files)}.",
                    ""]


Section = Callable[[dict], list[str]]
SECTIONS: tuple[tuple[str, str, Section], ...] = (
    ("data", "1. Data", _data),
    ("train", "2. Training", _train),
    ("eval", "3. Evaluation", _eval),
    ("export", "4. Export", _export),
    ("info", "5. What the models are", _info),
    ("embed", "6. Embedding with ONNX Runtime", _embed),
    ("search", "7. Search", _search),
    ("bench", "8. Latency: PyTorch eager vs ONNX Runtime", _bench),
)


def _machine(done: dict[str, dict]) -> str:
    """The machine as the bench stage described it (or, without that stage, as this process sees it)."""
    if "bench" in done:
        machine = done["bench"]["results"]["machine"]
        return f"{machine['cpu']}, {machine['cores']} cores"
    from reid_runtime.bench.machine import cpu_model

    return f"{cpu_model()}, {os.cpu_count()} cores"


def report_markdown(demo: DemoFolder, done: dict[str, dict], seconds: float) -> str:
    """The report text of a finished run (``done``: stage name -> its ``done.json`` record; a section is written for
    each of the demo's stages in ``done``)."""
    flag = f" {demo.plan.flag}" if demo.plan.flag else ""
    lines = ["# reid demo report", "",
             f"Made by `reid demo --out {demo.out}{flag}` (plan `{demo.plan.name}`, reid-toolkit "
             f"{done['data']['toolkit_version']}) on {_machine(done)}. Every figure below was measured by this run "
             "with the toolkit's own `reid` commands; the commands each stage ran are listed at the end.", ""]
    if demo.plan.trims:
        lines += [f"This plan trims the default: {demo.plan.trims}.", ""]
    rows = [[f"{i}. {name}", record["summary"].split(" -> ")[0], f"{record['seconds']:.1f}"]
            for i, (name, record) in enumerate(done.items(), 1)]
    lines += _table(["stage", "result", "seconds"], rows)
    lines += [f"Total: {seconds:.0f} s for this invocation (a stage reused from an earlier run takes no time now; "
              "its seconds above are those of the run that made it).", ""]
    sections = [(name, title, section) for name, title, section in SECTIONS if name in done]
    for name, title, section in sections:
        lines += [f"## {title}", "", *section(done[name])]
    lines += ["## The commands of each stage", "",
              "Each stage ran exactly these `reid` commands, in this order, from the folder `reid demo` was started "
              "in. Run them there to redo a stage by hand (they write to the same places; timings will differ).", ""]
    for name, title, _ in sections:
        lines += [f"{title.split('.')[0]}. {name}:", "", "```bash",
                  *(command_line(tokens, demo.out) for tokens in done[name]["commands"]), "```", ""]
    lines += ["## Where things are", ""]
    lines += _table(["path (under the demo folder)", "what"], [[f"`{p}`", what] for p, what in LAYOUT])
    return "\n".join(lines)


def write_report(demo: DemoFolder, done: dict[str, dict], seconds: float) -> Path:
    """Write ``<out>/report.md`` atomically and return its path."""
    return write_text_atomic(demo.out / "report.md", report_markdown(demo, done, seconds))

"""``report.md`` of a ``reid demo`` run: every figure from the stage records, the pictures, and the commands that
redo each stage by hand. Links are relative to the demo folder, which holds the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reid_runtime.io import write_text_atomic

LAYOUT = (
    ("demo.json", "marks the folder as a reid demo folder"),
    ("data/mars/", "the synthetic dataset in the MARS layout (bbox_train, bbox_test, info/, mars_attributes.csv)"),
    ("train/sta/, train/tp/", "checkpoints (last.pt, best.pt), metrics.jsonl and config.json of each run"),
    ("eval/sta/, eval/tp/", "eval.json and eval.md; STA also ranked_lists/*.png and attention/*.png"),
    ("export/sta.onnx", "the full graph (dynamic batch and seq); export/split/ holds the backbone + head pair"),
    ("embed/query.npz, embed/gallery.npz", "ONNX Runtime embeddings files (reid embed format)"),
    ("search/results.json", "top-10 gallery tracklets per query (reid search format)"),
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
             f"with labelled occlusions, cuts and second persons (`mars_attributes.csv` in the AITL layout). It is "
             "read back with the real MARS reader:", ""]
    rows = [[s["split"], s["tracklets"], s["ids"], s["cameras"], s["frames"],
             f"{s['len_min']} / {s['len_mean']:.1f} / {s['len_max']}",
             "-" if s["valid_queries"] is None else s["valid_queries"], s["distractors"], s["junk"]]
            for s in r["splits"]]
    lines += _table(["split", "tracklets", "ids", "cameras", "frames", "length min / mean / max", "valid queries",
                     "distractors (pid 0)", "junk (pid -1)"], rows)
    return lines


def _train(record: dict) -> list[str]:
    runs = record["results"]["runs"]
    rows = [[name.upper(), run["model"], f"{run['parameters'] / 1e6:.2f} M", run["epochs"], run["iterations"],
             run["batch"], _f(run["seconds"]), _f(run["final_eval"]["mAP"]), _f(run["final_eval"]["R1"])]
            for name, run in runs.items()]
    return (["Both runs use the `demo` recipe (Adam, P x K identity batches, cross-entropy + batch-hard triplet; STA "
             "adds its inter-frame regularization) with the same data, seed and number of iterations; only the "
             "head differs. The final scores are the trainer's own evaluation (T=4, dense clips).", ""]
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
    lines = ["Checkpoints scored with the PyTorch backend under the standard MARS protocol (gallery = test - query; "
             "same identity on the query's camera removed; queries without a match elsewhere skipped), dense test "
             "clips of T frames with the features averaged per tracklet. Values in %.", ""]
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
            rows.append([f"`{path}`", name, f"{size / 1e6:.2f} MB", f"{v['cases']} cases, T {v['seq_lengths']} x "
                         f"B {v['batch_sizes']}", f"{v['max_abs_diff']:.2g}", f"{v['min_cosine']:.6f}",
                         "passed" if v["passed"] else "FAILED", _f(item["seconds"])])
    s = r["stream"]
    return ([f"ONNX (dynamo exporter, opset {r['opset']}) with dynamic `batch` and `seq` axes; the split export is a "
             "per-frame backbone graph plus the head, with STA's aggregation in numpy between them (streaming, "
             "batching frames across tracklets). Each export was run against PyTorch on random clips before it was "
             f"written (tolerance: {next(iter(r['exports'].values()))['verification']['tolerance']}).", ""]
            + _table(["file", "export", "size", "verified at", "max abs diff", "min cosine", "result", "seconds"],
                     rows)
            + [f"Streaming: the longest query tracklet ({s['frames']} frames) fed {s['chunk']} frames at a time to a "
               f"`TrackletStream` on the split export gives its offline embedding with cosine {s['cosine']:.6f}.", ""])


def _embed(record: dict) -> list[str]:
    r = record["results"]
    rows = [[backend, *(f"{r[key][k]:.2f}" for k in ("R1", "R5", "R10", "mAP", "mINP"))]
            for backend, key in (("ONNX Runtime (export/sta.onnx)", "onnxruntime"),
                                 ("PyTorch (checkpoint, eval stage)", "pytorch"))]
    verdict = "the same" if r["agree"] else "DIFFERENT (more than 0.001 points apart)"
    return ([f"Query ({r['counts']['query']}) and gallery ({r['counts']['gallery']}) tracklets embedded with ONNX "
             f"Runtime through `embed_to_file` (what `reid embed` runs), T={r['seq_len']}, dense clips "
             f"(at most {r['max_clips']}): `{r['files']['query']}`, `{r['files']['gallery']}`. Scores are {verdict} "
             "as PyTorch's:", ""]
            + _table(["backend", "R1", "R5", "R10", "mAP", "mINP"], rows))


def _search(record: dict) -> list[str]:
    r = record["results"]
    m = r["metrics"]
    rows = [[e["tid"], e["pid"], e["camid"], ", ".join(map(str, e["top5"])), e["first_match"] or f"> {r['topk']}"]
            for e in r["examples"]]
    return ([f"Top-{r['topk']} per query in `{r['file']}` ({r['metric']} distance, {r['engine']} engine; gallery "
             f"items of the query's identity on its camera left out): R1 {100 * m['R1']:.1f}, R5 {100 * m['R5']:.1f}, "
             f"mAP {100 * m['mAP']:.1f} over {m['num_valid_queries']} valid queries. Two examples:", ""]
            + _table(["query tracklet", "pid", "camera", "top-5 gallery pids", "first true match (rank)"], rows))


def _bench(record: dict) -> list[str]:
    r = record["results"]
    by = {(row["backend"], row["batch"], row["seq"]): row for row in r["rows"]}
    rows = []
    for row in r["rows"]:
        eager = by["PyTorch eager", row["batch"], row["seq"]]
        rows.append([row["backend"], row["batch"], row["seq"], f"{row['p50_ms']:.2f}", f"{row['p90_ms']:.2f}",
                     row["runs"], f"{row['tracklets_per_s']:.1f}", f"{eager['p50_ms'] / row['p50_ms']:.2f}x"])
    machine = r["machine"]
    return ([f"One inference call on {r['frames']} clips already in memory (no decoding), through the runtime "
             f"backends, {r['threads']} intra-op threads, median of the timed runs after warm-up. {machine['cpu']}, "
             f"{machine['cores']} cores; torch {machine['torch']}, onnxruntime {machine['onnxruntime']}.", ""]
            + _table(["backend", "B", "T", "p50 ms", "p90 ms", "runs", "tracklets/s", "speed vs eager"], rows))


SECTIONS = (
    ("data", "1. Data", _data),
    ("train", "2. Training", _train),
    ("eval", "3. Evaluation", _eval),
    ("export", "4. Export", _export),
    ("embed", "5. Embedding with ONNX Runtime", _embed),
    ("search", "6. Search", _search),
    ("bench", "7. Latency: PyTorch eager vs ONNX Runtime", _bench),
)


def report_markdown(out: Path, plan: dict[str, Any], done: dict[str, dict], seconds: float) -> str:
    """The report text of a finished run (``done``: stage name -> its ``done.json`` record)."""
    flag = {"default": "", "fast": " --fast", "tiny": " --tiny"}.get(plan["name"], "")
    machine = done["bench"]["results"]["machine"]
    lines = ["# reid demo report", "",
             f"Made by `reid demo --out {out}{flag}` (plan `{plan['name']}`, reid-toolkit "
             f"{done['data']['toolkit_version']}) on {machine['cpu']}, {machine['cores']} cores. Every figure below "
             "was measured by this run; nothing is copied from elsewhere.", ""]
    if plan["trims"]:
        lines += [f"This plan trims the default: {plan['trims']}.", ""]
    rows = [[f"{i}. {name}", record["summary"].split(" -> ")[0], f"{record['seconds']:.1f}"]
            for i, (name, record) in enumerate(done.items(), 1)]
    lines += _table(["stage", "result", "seconds"], rows)
    lines += [f"Total: {seconds:.0f} s for this invocation (a stage reused from an earlier run takes no time now; "
              "its seconds above are those of the run that made it).", ""]
    for name, title, section in SECTIONS:
        lines += [f"## {title}", "", *section(done[name])]
    lines += ["## Redo each stage by hand", "",
              "Run from the folder `reid demo` was started in. Each block redoes the stage with the `reid` commands, "
              "writing to the same places (the timings will differ).", ""]
    for name, title, _ in SECTIONS:
        lines += [f"{title.split('.')[0]}. {name}:", "", "```bash", *done[name]["commands"], "```", ""]
    lines += ["## Where things are", ""]
    lines += _table(["path (under the demo folder)", "what"], [[f"`{p}`", what] for p, what in LAYOUT])
    return "\n".join(lines)


def write_report(out: Path, plan: dict[str, Any], done: dict[str, dict], seconds: float) -> Path:
    """Write ``out/report.md`` atomically and return its path."""
    return write_text_atomic(Path(out) / "report.md", report_markdown(Path(out), plan, done, seconds))

"""Benchmark pictures, drawn from the JSON dicts the reports write (a committed result can be re-plotted without
re-running it).

The only module of ``reid_runtime`` that imports matplotlib, and only inside the ``plot_*`` functions: where it is not
installed (the edge install), :func:`available` is False and callers skip the picture with :data:`NO_PLOT`.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Any

from reid_runtime.io import write_bytes_atomic

NO_PLOT = "matplotlib not installed: no plot"

def available() -> bool:
    """Whether matplotlib can be imported here (checked without importing it)."""
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return write_bytes_atomic(path, buffer.getvalue())


def plot_latency(report: dict[str, Any], path: str | Path) -> Path:
    """p50 latency per call vs sequence length T, one line per measured (model, backend), one panel per batch size
    (a :class:`reid_runtime.bench.latency.LatencyReport` as a dict)."""
    import matplotlib.ticker

    plt = _pyplot()
    entries = [e for e in report["entries"] if e["rows"]]
    batches = sorted({r["batch"] for e in entries for r in e["rows"]}) or [1]
    seqs = sorted({r["seq"] for e in entries for r in e["rows"]}) or [1]
    fig, axes = plt.subplots(1, len(batches), figsize=(5.5 * len(batches), 4), squeeze=False)
    for ax, batch in zip(axes[0], batches):
        for entry in entries:
            rows = sorted((r for r in entry["rows"] if r["batch"] == batch), key=lambda r: r["seq"])
            if rows:
                ax.plot([r["seq"] for r in rows], [r["p50_ms"] for r in rows], marker="o", label=entry["label"])
        ax.set(xlabel="sequence length T (frames per clip)", ylabel="p50 latency per call (ms)", title=f"B = {batch}")
        if len(seqs) > 1:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xticks(seqs, [str(s) for s in seqs])
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # no lines: every entry failed
            ax.legend(fontsize=8)
    threads = report["settings"].get("threads")
    fig.suptitle(f"{threads or 'default'} threads, {report['machine']['cpu']}", fontsize=10)
    return _save(fig, path)


def plot_flops(report: dict[str, Any], path: str | Path) -> Path:
    """Published cost and accuracy of models (``report["published"]``: label, gmacs, mAP, source) with our MAC count
    of the same model at the same T and frame size: how far the papers' "GFLOPs" are from the ops that run."""
    plt = _pyplot()
    points = report["published"]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for point in points:
        ax.scatter(point["gmacs"], point["mAP"], color="tab:blue", zorder=3)
        ax.annotate(point["label"], (point["gmacs"], point["mAP"]), textcoords="offset points", xytext=(5, 4),
                    fontsize=8)
        ax.scatter(point["ours_gmacs"], point["mAP"], facecolors="none", edgecolors="tab:red", s=80, zorder=4)
        ax.plot([point["gmacs"], point["ours_gmacs"]], [point["mAP"], point["mAP"]], color="tab:red", lw=0.8)
    sources = sorted({point["source"] for point in points})
    ax.scatter([], [], color="tab:blue", label=f"published ({'; '.join(sources)}), mAP")
    ax.scatter([], [], facecolors="none", edgecolors="tab:red", label="our MAC count, same model (reid bench flops)")
    ax.set(xlabel="GMACs per clip (the papers' 'GFLOPs')", ylabel="published mAP (%)", title="Cost vs accuracy")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # no lines: every entry failed
        ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def plot_mixed(report: dict[str, Any], path: str | Path) -> Path:
    """Frames/s of each mixed-length strategy next to the best fixed-length frames/s."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    names = [s["name"] for s in report["strategies"]]
    values = [s["frames_per_s"] for s in report["strategies"]]
    bars = ax.bar(names, values, color=["tab:gray", "tab:blue", "tab:green"][:len(names)])
    for bar, strategy in zip(bars, report["strategies"]):
        ax.annotate(f"{100 * strategy['vs_best_fixed']:.0f}%", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=9)
    best = report["best_fixed_frames_per_s"]
    ax.axhline(best, color="tab:red", ls="--", label=f"best fixed-length ({best:.1f} frames/s)")
    ax.axhline(0.9 * best, color="tab:red", ls=":", lw=0.8, label="90% of best fixed-length")
    lengths = report["lengths"]
    ax.set(ylabel="frames/s (real frames only)",
           title=f"{report['architecture']}: {lengths['count']} MARS-like tracklets, {lengths['total_frames']} frames "
                 f"(cap {lengths['cap']})")
    if ax.get_legend_handles_labels()[0]:  # no lines: every entry failed
        ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def plot_tradeoff(report: dict[str, Any], path: str | Path) -> Path:
    """Computation vs performance (a ``reid bench tradeoff`` report as a dict). Left: GMACs per clip vs mAP, one
    labelled point per model (the view of AITL's Fig. 8), or vs parameters when a model has no mAP. Right: clips/s vs
    mAP (or vs GMACs), one marker per format x backend, a line joining the points of each model."""
    import matplotlib.ticker

    plt = _pyplot()
    models = report["models"]
    with_map = bool(models) and all(m["mAP"] is not None for m in models)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = {m["model"]: f"C{i % 10}" for i, m in enumerate(models)}
    architectures = [m.get("architecture") or m["model"] for m in models]
    unique = len(set(architectures)) == len(architectures)  # short labels unless two models share an architecture
    labels = {m["model"]: name if unique else m["model"] for m, name in zip(models, architectures)}
    for m in models:
        y = m["mAP"] if with_map else m["params"]
        if y is None:  # no FP32 graph to count parameters on
            continue
        y = y if with_map else y / 1e6
        left.scatter(m["gmacs_per_clip"], y, color=colors[m["model"]], zorder=3)
        left.annotate(labels[m["model"]], (m["gmacs_per_clip"], y), textcoords="offset points", xytext=(5, 4),
                      fontsize=8)
    seq = report["seq_len"]
    left.set_xscale("log")
    left.set(xlabel=f"GMACs per clip (T={seq})", ylabel="mAP (%)" if with_map else "parameters (M)",
             title="GMACs vs mAP" if with_map else "GMACs vs parameters (no mAP: untrained or no dataset)")
    left.grid(True, which="both", alpha=0.3)

    markers = "osD^v<>pX*h"
    pairs = list(dict.fromkeys((r["format"], r["backend"]) for r in report["rows"] if r["clips_per_s"]))
    shape = {pair: markers[i % len(markers)] for i, pair in enumerate(pairs)}
    gmacs = {m["model"]: m["gmacs_per_clip"] for m in models}
    for m in models:
        rows = [r for r in report["rows"] if r["model"] == m["model"] and r["clips_per_s"]
                and (r["mAP"] is not None or not with_map)]
        rows.sort(key=lambda r: r["clips_per_s"])
        if not rows:
            continue
        ys = [r["mAP"] if with_map else gmacs[m["model"]] for r in rows]
        right.plot([r["clips_per_s"] for r in rows], ys, color=colors[m["model"]], lw=0.8, label=labels[m["model"]])
        for r, y in zip(rows, ys):
            right.scatter(r["clips_per_s"], y, color=colors[m["model"]], marker=shape[(r["format"], r["backend"])],
                          zorder=3)
    for (fmt, backend), marker in shape.items():
        right.scatter([], [], color="gray", marker=marker, label=f"{fmt} [{backend}]")
    right.set_xscale("log")
    if not with_map:
        right.set_yscale("log")
    right.set(xlabel=f"clips/s (B=1, T={seq})", ylabel="mAP (%)" if with_map else f"GMACs per clip (T={seq})",
              title="Speed vs mAP" if with_map else "Speed vs GMACs")
    right.grid(True, which="both", alpha=0.3)
    for axis in (left.xaxis, right.xaxis, right.yaxis):  # plain numbers on the log axes, not powers of ten
        axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=7, loc="best")
    fig.suptitle(f"{report['machine'].get('cpu', '')}, threads: {report.get('threads') or 'default'}", fontsize=9)
    return _save(fig, path)

"""Benchmark figures (matplotlib, Agg backend), drawn from the JSON dicts the reports write, so a committed result
can be re-plotted without re-running it."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from reid_runtime.io import write_bytes_atomic  # noqa: E402

# AITL (Chen et al. 2020) Fig. 8, MARS: (label, GMACs, mAP). NVAN is drawn at its labelled 60 GMACs.
AITL_FIG8 = (
    ("STA (N=4)", 16.0, 80.8),
    ("STE-NVAN", 16.5, 81.2),
    ("AITL/ASTA (T=4)", 20.7, 84.4),
    ("STA (N=6)", 24.0, 81.0),
    ("STA (N=8)", 32.0, 81.2),
    ("NVAN", 60.0, 82.8),
)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return write_bytes_atomic(path, buffer.getvalue())


def plot_latency(report: dict, path: str | Path) -> Path:
    """p50 latency per call vs sequence length, one line per backend, one panel per batch size."""
    batches = sorted({r["batch"] for b in report["backends"] for r in b["rows"]}) or [1]
    fig, axes = plt.subplots(1, len(batches), figsize=(5.5 * len(batches), 4), squeeze=False)
    for ax, batch in zip(axes[0], batches):
        for backend in report["backends"]:
            rows = sorted((r for r in backend["rows"] if r["batch"] == batch), key=lambda r: r["seq"])
            if rows:
                ax.plot([r["seq"] for r in rows], [r["p50_ms"] for r in rows], marker="o", label=backend["name"])
        ax.set(xlabel="sequence length T (frames per clip)", ylabel="p50 latency per call (ms)",
               title=f"B = {batch}", xscale="log", yscale="log")
        seqs = sorted({r["seq"] for b in report["backends"] for r in b["rows"]})
        ax.set_xticks(seqs, [str(s) for s in seqs])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    size = "x".join(str(v) for v in report["input_size"])
    fig.suptitle(f"{report['architecture']} {size}, {report['threads']} threads, {report['machine']['cpu']}",
                 fontsize=10)
    return _save(fig, path)


def plot_cost_accuracy(counted: dict[str, float], synthetic: list[dict], path: str | Path) -> Path:
    """Left: AITL Fig. 8 (published, MARS) with our MAC counts of the same models; right: this repo's tiny models on
    synthetic data (not comparable). ``counted`` maps an AITL_FIG8 label to our GMACs; ``synthetic`` holds dicts
    with ``label``, ``gmacs`` and ``mAP``."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, gmacs, mean_ap in AITL_FIG8:
        left.scatter(gmacs, mean_ap, color="tab:blue", zorder=3)
        left.annotate(label, (gmacs, mean_ap), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if label in counted:
            left.scatter(counted[label], mean_ap, facecolors="none", edgecolors="tab:red", s=80, zorder=4)
            left.plot([gmacs, counted[label]], [mean_ap, mean_ap], color="tab:red", lw=0.8)
    left.scatter([], [], color="tab:blue", label="published (AITL Fig. 8), MARS mAP")
    left.scatter([], [], facecolors="none", edgecolors="tab:red", label="our MAC count, same model (reid bench flops)")
    left.set(xlabel="GMACs per clip (the paper's 'GFLOPs')", ylabel="MARS mAP (%)",
             title="Published: ResNet-50, 256x128, MARS")
    left.grid(True, alpha=0.3)
    left.legend(fontsize=8, loc="center right")
    for point in synthetic:
        right.scatter(point["gmacs"], point["mAP"], color="tab:orange", marker="s", zorder=3)
        right.annotate(point["label"], (point["gmacs"], point["mAP"]), textcoords="offset points", xytext=(5, 4),
                       fontsize=8)
    right.set(xlabel="GMACs per clip (our count)", ylabel="mAP (%) on synthetic data",
              title="SYNTHETIC data, tiny models: NOT comparable with the left panel")
    right.grid(True, alpha=0.3)
    right.text(0.02, 0.02, "benchmarks/results/train_compare.json: synthetic MARS-layout data,\n"
                           "tiny ResNet, 128x64, 200 iterations", transform=right.transAxes, fontsize=7, va="bottom")
    return _save(fig, path)


def plot_mixed(report: dict, path: str | Path) -> Path:
    """Frames/s of each mixed-length strategy next to the best fixed-length frames/s."""
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
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)

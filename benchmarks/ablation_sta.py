"""The STA paper's Table 1, done with equal heads: Avg, STA without fusion, STA without the inter-frame
regularization, full STA and temporal pooling, 5 seeds each, on the synthetic benchmark (CPU).

    python -m benchmarks.ablation_sta [reid bench seeds options]

1. ``reid data synth`` (MARS layout, 40 identities, 128x64, seed 0): the same data for every run.
2. Per variant and seed: ``reid train --config demo`` with only the variant's settings and ``train.seed`` changed
   (sta_tiny / tp_tiny, 3x the demo's 60 iterations of 8 identities x 4 clips, from random weights), then ``reid eval``
   (standard protocol, dense test clips of T=4).
3. ``reid bench seeds``: mean ± std per variant.
4. ``reid probe`` of every seed of the full STA variant on the test split's per-frame event labels: where its
   attention goes (labelled vs clean cells, selected frame labelled vs chance).

Every STA variant carries the same BNNeck as TP (``neck: true``: BN before the classifier, cosine retrieval) and the
same losses (softmax with label smoothing 0.1 + batch-hard triplet), so the rows differ only in how frames and regions
are weighted. Writes benchmarks/results/ablation_sta/seeds.json|md and probe_sta_s<seed>/probe.json|md.
"""

from __future__ import annotations

from benchmarks.run import RESULTS, WORK, extra, reid

SEEDS = (0, 1, 2, 3, 4)
EPOCHS = 36  # 3x the demo recipe's length: x 5 iterations on 40 identities = 180 iterations
STA = "model.name=sta_tiny"
VARIANTS: dict[str, list[str]] = {
    "avg": [STA, "model.kwargs={num_regions: 4, embedding_dim: 128, attention: avg, fusion: false, neck: true}",
            "loss.inter_frame_weight=0.0"],
    "sta_no_fusion": [STA, "model.kwargs={num_regions: 4, embedding_dim: 128, fusion: false, neck: true}",
                      "loss.inter_frame_weight=1.0"],
    "sta_no_reg": [STA, "model.kwargs={num_regions: 4, embedding_dim: 128, neck: true}",
                   "loss.inter_frame_weight=0.0"],
    "sta": [STA, "model.kwargs={num_regions: 4, embedding_dim: 128, neck: true}", "loss.inter_frame_weight=1.0"],
    "tp": ["model.name=tp_tiny", "model.kwargs={}", "loss.inter_frame_weight=0.0"],
}


def run(variant: str, seed: int, data, out) -> None:
    sets = [*VARIANTS[variant], f"train.seed={seed}", f"optim.epochs={EPOCHS}", f"optim.milestones=[{EPOCHS * 3 // 4}]",
            "train.eval_every=0", "train.threads=2"]
    reid("train", "--config", "demo", "--data-root", data, "--out", out, *[a for s in sets for a in ("--set", s)],
         "--no-progress", "--overwrite")
    reid("eval", "--model", out / "last.pt", "--data-root", data, "--dataset", "mars", "--seq-lens", "4",
         "--max-clips", "4", "--no-progress", "--out", out / "eval")


def main(argv: list[str] | None = None) -> None:
    work = WORK / "ablation_sta"
    data = work / "synth_mars"
    reid("data", "synth", "--layout", "mars", "--ids", "40", "--seed", "0", "--size", "128x64", "--out", data)
    for seed in SEEDS:  # seeds outermost: an interrupted run still has every variant at the first seeds
        for variant in VARIANTS:
            run(variant, seed, data, work / f"{variant}_s{seed}")
    groups = [a for v in VARIANTS for a in ("--eval", f"{v}=" + ",".join(
        str(work / f"{v}_s{s}" / "eval" / "eval.json") for s in SEEDS))]
    reid("bench", "seeds", *groups, "--out", f"{RESULTS}/ablation_sta", *extra(argv))
    probe(work, data)


def probe(work, data) -> None:
    for seed in SEEDS:
        reid("probe", "--model", work / f"sta_s{seed}" / "last.pt", "--data-root", data, "--dataset", "mars",
             "--seq-lens", "4", "--no-progress", "--out", f"{RESULTS}/ablation_sta/probe_sta_s{seed}")


if __name__ == "__main__":
    main()

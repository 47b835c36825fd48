"""STA vs TP vs ASTA+AITL trained with the same tiny CPU budget on synthetic MARS-layout data with occlusions.

    python -m benchmarks.train_compare

For each variant (the `demo` recipe; only the model and its paper's loss terms change): ``reid train`` 40 epochs,
then ``reid eval`` under the standard MARS protocol (dense test clips of T=4). Writes
benchmarks/results/train_compare/<variant>/eval.json and eval.md.
"""

from __future__ import annotations

from benchmarks.run import RESULTS, WORK, reid

EPOCHS = 40
# Same recipe (`demo`) for every model; only the model and its paper's loss terms change.
VARIANTS: dict[str, list[str]] = {
    "sta": ["model.name=sta_tiny", "model.kwargs={num_regions: 4, embedding_dim: 128}",
            "loss.inter_frame_weight=1.0"],
    "sta_noreg": ["model.name=sta_tiny", "model.kwargs={num_regions: 4, embedding_dim: 128}",
                  "loss.inter_frame_weight=0.0"],
    "tp": ["model.name=tp_tiny", "model.kwargs={}", "loss.inter_frame_weight=0.0"],
    "asta": ["model.name=asta_tiny", "model.kwargs={attribute_schema: mars}", "loss.inter_frame_weight=0.0",
             "loss.aitl_weight=1.0", "loss.attribute_weight=1.0", "loss.triplet_metric=cosine"],
}


def synth_mars(folder) -> None:
    reid("data", "synth", "--layout", "mars", "--ids", "40", "--seed", "0", "--size", "128x64", "--out", folder)


def train(variant: str, data, out, epochs: int = EPOCHS) -> None:
    """``reid train`` of one variant with the demo recipe at ``epochs`` (decay at 3/4), no intermediate eval."""
    sets = [f"optim.epochs={epochs}", f"optim.milestones=[{int(epochs * 0.75)}]", "train.eval_every=0",
            *VARIANTS[variant]]
    reid("train", "--config", "demo", "--data-root", data, "--out", out, *[a for s in sets for a in ("--set", s)],
         "--no-progress", "--overwrite")  # a rerun of the benchmark trains afresh


def main() -> None:
    work = WORK / "train_compare"
    synth_mars(work / "synth_mars")
    for variant in VARIANTS:
        train(variant, work / "synth_mars", work / variant)
        reid("eval", "--model", work / variant / "last.pt", "--data-root", work / "synth_mars", "--dataset", "mars",
             "--seq-lens", "4", "--max-clips", "4", "--no-progress", "--out", f"{RESULTS}/train_compare/{variant}")


if __name__ == "__main__":
    main()

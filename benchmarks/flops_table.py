"""MACs per clip of STA (T = 2, 4, 6, 8), TP and ASTA on ResNet-50 at 256x128, next to AITL Fig. 8.

    python -m benchmarks.flops_table [reid bench flops options]

Writes benchmarks/results/flops.json, flops.md and flops.png (published vs counted). Counting needs no timing, so the
machine load does not matter here; it is recorded anyway.
"""

from __future__ import annotations

from benchmarks.run import RESULTS, extra, reid


def main(argv: list[str] | None = None) -> None:
    reid("bench", "flops", "--model", "sta_resnet50", "--model", "tp_resnet50", "--model", "asta_resnet50",
         "--seq-lens", "2,4,6,8", "--size", "256x128", "--out", RESULTS, *extra(argv))


if __name__ == "__main__":
    main()

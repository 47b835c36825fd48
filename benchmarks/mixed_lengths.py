"""Mixed-length workload on ResNet-50 STA (256x128): naive padding vs length bucketing vs frame packing.

    python -m benchmarks.mixed_lengths [reid bench mixed options]

Tracklet lengths are drawn from the real MARS test table (../shared/data/mars-info/tracks_test_info.mat when present,
else the log-normal fitted to it), each tracklet embedded with all its frames up to a cap of 64; frames/s of each
strategy against the best fixed-length frames/s of the same run (target: within 10%). Writes
benchmarks/results/mixed.json, mixed.md and mixed.png.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.run import RESULTS, extra, reid

MARS_TABLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "mars-info" / "tracks_test_info.mat"


def main(argv: list[str] | None = None) -> None:
    table = ["--tracks-table", MARS_TABLE] if MARS_TABLE.is_file() else []
    reid("bench", "mixed", "--model", "sta_resnet50", "--tracklets", "24", "--cap", "64", "--batch-sizes", "8",
         "--pack-frames", "64", *table, "--out", RESULTS, *extra(argv))


if __name__ == "__main__":
    main()

"""How much ``reid demo`` does: the plans (default, ``--fast``, the test suite's hidden ``--tiny``).

Every plan runs the same stages and the same commands; only the sizes below differ.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

SEED = 0
REF_SEQ_LEN = 4          # the demo recipe's test T: TP evaluation, ONNX Runtime embedding, search, latency
BENCH_BATCH_SIZES = (1, 8)
TOPK = 10


@dataclass(frozen=True)
class DemoPlan:
    """The sizes of one demo run."""

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

    def __post_init__(self) -> None:
        if REF_SEQ_LEN not in self.seq_lens:
            raise ValueError(f"plan {self.name!r}: seq_lens {self.seq_lens} must include T={REF_SEQ_LEN}")

    @property
    def flag(self) -> str:
        """The ``reid demo`` option that picks this plan ("" for the default)."""
        return "" if self.name == "default" else f"--{self.name}"

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
                     model_kwargs={"width": 16}, train_sets=("train.max_steps_per_epoch=1",)),
}

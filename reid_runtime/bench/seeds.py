"""Mean and spread of evaluation results over repeated runs (seeds): the table of an ablation.

Each group is a set of ``eval.json`` files (``reid eval --out``) of the same variant trained with different seeds;
the report gives, per group, the number of runs and mean ± sample standard deviation (ddof 1) of mAP, R1, R5, R10
and mINP (percent) at one test clip length, plus every run's own figures, so nothing is averaged away.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid_runtime.errors import ReidError

METRICS = ("mAP", "R1", "R5", "R10", "mINP")


@dataclass
class SeedsReport:
    """Per group: the runs' figures and their mean / std (``reid bench seeds``)."""

    groups: dict[str, list[dict[str, Any]]]
    seq_len: int
    machine: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    command: str = ""
    title: str = "Mean ± std over seeds"

    def stats(self, group: str, metric: str) -> tuple[float, float]:
        """Mean and sample standard deviation (nan for a single run) of ``metric`` over the group's runs."""
        values = np.array([run[metric] for run in self.groups[group]], dtype=float)
        return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan

    def to_dict(self) -> dict[str, Any]:
        summary = {name: {"runs": len(runs), **{m: dict(zip(("mean", "std"), self.stats(name, m)))
                                                for m in METRICS}} for name, runs in self.groups.items()}
        return {"seq_len": self.seq_len, "summary": summary, "runs": self.groups, "notes": self.notes}

    def _cell(self, group: str, metric: str) -> str:
        mean, std = self.stats(group, metric)
        return f"{mean:.1f}" if math.isnan(std) else f"{mean:.1f} ± {std:.1f}"

    def table(self) -> str:
        width = max(8, *(len(name) + 2 for name in self.groups))
        head = f"{'variant':<{width}}{'runs':>5}" + "".join(f"{m:>14}" for m in METRICS)
        lines = [f"{self.title} (percent, test clips of T={self.seq_len})", head, "-" * len(head)]
        for name, runs in self.groups.items():
            lines.append(f"{name:<{width}}{len(runs):>5}" + "".join(f"{self._cell(name, m):>14}" for m in METRICS))
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"Percent; test clips of T={self.seq_len}; mean ± sample standard deviation over the runs.", "",
                 "| variant | runs | " + " | ".join(METRICS) + " | mAP of each run |",
                 "|---|---|" + "---|" * len(METRICS) + "---|"]
        for name, runs in self.groups.items():
            each = ", ".join(f"{run['mAP']:.1f}" for run in runs)
            lines.append(f"| {name} | {len(runs)} | " + " | ".join(self._cell(name, m) for m in METRICS)
                         + f" | {each} |")
        return "\n".join(lines)


def read_eval(path: str | Path, seq_len: int | None) -> dict[str, Any]:
    """The result row of one ``eval.json`` at ``seq_len`` (the first row when None), with the file named."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
        rows = payload["results"]
        row = rows[0] if seq_len is None else next(r for r in rows if r.get("seq_len") == seq_len)
        return {"file": str(path), "seq_len": int(row["seq_len"]), **{m: float(row[m]) for m in METRICS}}
    except FileNotFoundError:
        raise ReidError(f"{path}: not found (expected the eval.json of `reid eval --out`)") from None
    except StopIteration:
        raise ReidError(f"{path}: holds no result for test clips of T={seq_len}") from None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ReidError(f"{path}: not an eval.json of `reid eval` ({type(exc).__name__}: {exc})") from None


def summarize_seeds(groups: dict[str, list[str | Path]], seq_len: int | None = None) -> SeedsReport:
    """Read every group's ``eval.json`` files and summarise them (see the module docstring)."""
    from reid_runtime.bench.machine import describe_machine

    if not groups or any(not files for files in groups.values()):
        raise ReidError("every group needs at least one eval.json")
    runs = {name: [read_eval(path, seq_len) for path in files] for name, files in groups.items()}
    lengths = {run["seq_len"] for group in runs.values() for run in group}
    if len(lengths) > 1:
        raise ReidError(f"the runs were evaluated with different clip lengths {sorted(lengths)}; pass --seq-lens")
    notes = ["std: sample standard deviation (ddof 1) over the runs of a group; one run shows its value alone."]
    return SeedsReport(runs, lengths.pop(), describe_machine(), notes)

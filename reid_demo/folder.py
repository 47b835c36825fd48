"""The demo folder: one sub-folder per stage, each with its ``done.json`` record, ``demo.json`` marking the folder.

A stage is reused when its ``done.json`` was written under the same plan and the files it lists still exist. Paths in
the records are relative to the folder, so a moved demo folder is still reused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reid_demo.plan import DemoPlan
from reid_runtime import __version__
from reid_runtime.errors import ReidError
from reid_runtime.io import write_json_atomic

MARKER = "demo.json"    # marks a folder as written by reid demo (its stage folders may be replaced)
DONE = "done.json"


class DemoFolder:
    """Where one demo run writes, under which plan."""

    def __init__(self, out: str | Path, plan: DemoPlan) -> None:
        self.out = Path(out)
        self.plan = plan

    def at(self, rel: str) -> Path:
        """``out/rel``: a path inside the demo folder."""
        return self.out / rel

    def rel(self, path: str | Path) -> str:
        """``path`` relative to the demo folder, as stored in the records."""
        return Path(path).relative_to(self.out).as_posix()

    def claim(self) -> None:
        """Create the demo folder, or check that an existing one was written by ``reid demo``."""
        marker = self.out / MARKER
        if self.out.exists() and not self.out.is_dir():
            raise ReidError(f"{self.out}: exists and is not a folder; pass a folder for --out")
        if self.out.is_dir() and any(self.out.iterdir()) and not marker.is_file():
            raise ReidError(f"{self.out}: the folder exists and was not written by reid demo (no {MARKER}); "
                            "pass a new or empty --out folder")
        if not marker.is_file():
            write_json_atomic(marker, {"generator": "reid demo", "toolkit_version": __version__})

    def finished(self, stage: str) -> dict[str, Any] | None:
        """The stored record of ``stage`` when it can be reused under this plan, else None."""
        try:
            record = json.loads((self.out / stage / DONE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if not isinstance(record, dict) or record.get("plan") != self.plan.as_json():
            return None
        if not all((self.out / rel).exists() for rel in record.get("outputs", [])):
            return None
        return record

    def save(self, stage: str, record: dict[str, Any]) -> Path:
        return write_json_atomic(self.out / stage / DONE, record)

"""Write a per-tracklet attribute CSV in the AITL layout: key columns, then group-0 and group-1 attribute values."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from reid_runtime.data.attribute_schema import KEY_COLUMNS, AttributeSchema


def write_attribute_csv(path: Path, schema: AttributeSchema,
                        rows: Iterable[tuple[int, int, int, tuple[int, ...]]]) -> int:
    """Rows are (person_id, camera_id, tracklets_id, values in ``schema.columns`` order); returns the row count."""
    lines = [",".join(KEY_COLUMNS + schema.columns)]
    for pid, camera, tracklet, values in rows:
        if len(values) != len(schema.columns):
            raise ValueError(f"tracklet ({pid}, {camera}, {tracklet}): {len(values)} attribute values, "
                             f"{schema.name} has {len(schema.columns)} columns")
        for column, value, classes in zip(schema.columns, values, schema.num_classes):
            if not 0 <= value < classes:
                raise ValueError(f"tracklet ({pid}, {camera}, {tracklet}): {column}={value} is outside "
                                 f"0..{classes - 1}")
        lines.append(",".join(str(v) for v in (pid, camera, tracklet, *values)))
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return len(lines) - 1

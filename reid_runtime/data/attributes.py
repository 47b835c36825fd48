"""Reader for the per-tracklet attribute CSVs of MARS and DukeMTMC-VideoReID (Chen et al., PRCV 2019).

A CSV starts with the key columns ``person_id, camera_id, tracklets_id``; the attribute columns follow in
the order of the dataset's :class:`AttributeSchema`. A tracklet matches a row on (raw pid, camera number,
int(tid)): MARS ``tid`` is the ``T`` number of its file names, Duke ``tid`` the tracklet folder name.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

from reid_runtime.data.attribute_schema import KEY_COLUMNS, AttributeSchema
from reid_runtime.data.tracklet import DatasetSplits, Tracklet
from reid_runtime.errors import DatasetLayoutError

AttributeKey = tuple[int, int, int]


def _decode(path: Path) -> str:
    """The file's text; the released MARS CSV is GBK, forks re-saved it as UTF-8 (with or without BOM)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetLayoutError(f"{path}: cannot read the attribute CSV ({exc.strerror})") from exc
    for encoding in ("utf-8-sig", "gbk"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DatasetLayoutError(f"{path}: not UTF-8 or GBK text; expected an attribute CSV")


def read_attribute_csv(path: str | Path, schema: AttributeSchema) -> dict[AttributeKey, tuple[int, ...]]:
    """Attribute rows keyed by (person_id, camera_id, tracklets_id), values validated against ``schema``."""
    path = Path(path)
    rows = csv.reader(io.StringIO(_decode(path), newline=""))
    header = next(rows, None)
    width = len(KEY_COLUMNS) + len(schema.columns)
    if header is None:
        raise DatasetLayoutError(f"{path}: empty file; expected a header row starting with {', '.join(KEY_COLUMNS)}")
    keys = tuple(cell.strip().lower() for cell in header[: len(KEY_COLUMNS)])
    if keys != KEY_COLUMNS or len(header) != width:
        raise DatasetLayoutError(
            f"{path}: header {header[:4]}... with {len(header)} columns; expected {', '.join(KEY_COLUMNS)} "
            f"followed by the {len(schema.columns)} {schema.name} attribute columns ({width} columns)"
        )
    table: dict[AttributeKey, tuple[int, ...]] = {}
    first_line: dict[AttributeKey, int] = {}
    for row in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise DatasetLayoutError(f"{path}:{line}: {len(row)} columns; expected {width}")
        try:
            values = [int(cell) for cell in row]
        except ValueError:
            raise DatasetLayoutError(f"{path}:{line}: non-integer value in {row}; expected integers") from None
        key = (values[0], values[1], values[2])
        attrs = tuple(values[len(KEY_COLUMNS):])
        for column, value, num_classes in zip(schema.columns, attrs, schema.num_classes):
            if not 0 <= value < num_classes:
                raise DatasetLayoutError(
                    f"{path}:{line}: {column}={value}; expected 0..{num_classes - 1} ({num_classes} classes)"
                )
        if key in table and table[key] != attrs:
            raise DatasetLayoutError(
                f"{path}:{line}: key {key} repeats line {first_line[key]} with different values"
            )
        table[key] = attrs
        first_line.setdefault(key, line)
    return table


def attribute_key(tracklet: Tracklet) -> AttributeKey | None:
    """The CSV key of a tracklet, or None when its tid is not an integer (Duke folders such as ``0005-2``)."""
    if not tracklet.tid.isdigit():
        return None
    return (tracklet.pid, tracklet.camid, int(tracklet.tid))


def attach_attributes(splits: DatasetSplits, path: str | Path, schema: AttributeSchema) -> DatasetSplits:
    """A copy of ``splits`` with each tracklet's attributes from the CSV (None where no row matches)."""
    table = read_attribute_csv(path, schema)

    def annotate(tracklets: list[Tracklet]) -> list[Tracklet]:
        return [dataclasses.replace(t, attributes=table.get(attribute_key(t))) for t in tracklets]

    train, query, gallery = annotate(splits.train), annotate(splits.query), annotate(splits.gallery)
    coverage = ", ".join(
        f"{name} {sum(t.attributes is not None for t in items)}/{len(items)}"
        for name, items in (("train", train), ("query", query), ("gallery", gallery))
    )
    note = f"attributes from {Path(path).name} ({len(table)} rows): annotated tracklets {coverage}"
    return dataclasses.replace(
        splits, train=train, query=query, gallery=gallery, attribute_schema=schema, notes=[*splits.notes, note]
    )

"""Per-split statistics of a loaded dataset, as records and as a plain-text table."""

from __future__ import annotations

from collections import defaultdict

from reid_runtime.data.tracklet import DatasetSplits, Tracklet

DISTRACTOR_PID = 0
JUNK_PID = -1


def valid_query_mask(query: list[Tracklet], gallery: list[Tracklet]) -> list[bool]:
    """Per query: does the gallery hold its identity seen by another camera? (pid -1 never matches.)"""
    cameras: dict[int, set[int]] = defaultdict(set)
    for item in gallery:
        cameras[item.pid].add(item.camid)
    return [q.pid != JUNK_PID and bool(cameras.get(q.pid, set()) - {q.camid}) for q in query]


def summarize(splits: DatasetSplits) -> list[dict]:
    """One record per split (train, query, gallery).

    ``ids`` counts real identities (MARS distractors pid 0 and junk pid -1 are counted apart, as
    ``distractors`` and ``junk`` tracklets); ``valid_queries`` is set on the query record only.
    """
    records = []
    valid = sum(valid_query_mask(splits.query, splits.gallery))
    for name, tracklets in (("train", splits.train), ("query", splits.query), ("gallery", splits.gallery)):
        lengths = [len(t) for t in tracklets]
        records.append({
            "split": name,
            "tracklets": len(tracklets),
            "ids": len({t.pid for t in tracklets} - {DISTRACTOR_PID, JUNK_PID}),
            "cameras": len({t.camid for t in tracklets}),
            "frames": sum(lengths),
            "len_min": min(lengths, default=0),
            "len_mean": sum(lengths) / len(lengths) if lengths else 0.0,
            "len_max": max(lengths, default=0),
            "valid_queries": valid if name == "query" else None,
            "distractors": sum(t.pid == DISTRACTOR_PID for t in tracklets),
            "junk": sum(t.pid == JUNK_PID for t in tracklets),
        })
    return records


def format_summary(splits: DatasetSplits) -> str:
    """A plain-text table of :func:`summarize` headed by the dataset, its root and the gallery protocol."""
    header = ("split", "tracklets", "ids", "cams", "frames", "len min/mean/max", "valid q", "distractors", "junk")
    rows = [header]
    for r in summarize(splits):
        rows.append((
            r["split"], str(r["tracklets"]), str(r["ids"]), str(r["cameras"]), str(r["frames"]),
            f"{r['len_min']}/{r['len_mean']:.1f}/{r['len_max']}",
            "-" if r["valid_queries"] is None else f"{r['valid_queries']}/{r['tracklets']}",
            str(r["distractors"]), str(r["junk"]),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        f"dataset {splits.name} at {splits.root}",
        f"protocol: {splits.protocol} (results are comparable only under the same protocol)",
    ]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    schema = splits.attribute_schema
    if schema is not None:
        lines.append(f"attributes: {schema.name} schema, {len(schema.columns)} columns")
    lines += [f"note: {note}" for note in splits.notes]
    return "\n".join(lines)

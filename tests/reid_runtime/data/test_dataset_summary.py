"""Per-split summary records and the plain-text table."""

from __future__ import annotations

from pathlib import Path

from reid_runtime.data.attribute_schema import MARS_ATTRIBUTES
from reid_runtime.data.summary import format_summary, summarize, valid_query_mask
from reid_runtime.data.tracklet import DatasetSplits, Tracklet


def _t(pid: int, camid: int, length: int) -> Tracklet:
    return Tracklet(frames=tuple(f"f{i}.jpg" for i in range(length)), pid=pid, camid=camid, tid="0001")


def _splits(**kwargs) -> DatasetSplits:
    return DatasetSplits(
        name="mars",
        root=Path("/data/mars"),
        train=[_t(1, 1, 3), _t(1, 2, 5), _t(2, 1, 4)],
        query=[_t(5, 1, 2), _t(7, 2, 6), _t(-1, 1, 2)],
        gallery=[_t(0, 1, 3), _t(0, 4, 3), _t(-1, 3, 9), _t(5, 2, 2), _t(7, 2, 1)],
        **kwargs,
    )


def test_valid_queries_need_the_identity_under_another_camera():
    splits = _splits()
    # pid 7 is only in the gallery under the query's own camera; pid -1 never matches.
    assert valid_query_mask(splits.query, splits.gallery) == [True, False, False]
    assert valid_query_mask(splits.query, []) == [False, False, False]


def test_summary_records_per_split():
    train, query, gallery = summarize(_splits())
    assert train == {
        "split": "train", "tracklets": 3, "ids": 2, "cameras": 2, "frames": 12, "len_min": 3, "len_mean": 4.0,
        "len_max": 5, "valid_queries": None, "distractors": 0, "junk": 0,
    }
    assert (query["ids"], query["valid_queries"], query["junk"]) == (2, 1, 1)
    assert (gallery["tracklets"], gallery["ids"], gallery["cameras"], gallery["distractors"], gallery["junk"]) == (
        5, 2, 4, 2, 1
    )
    assert (gallery["len_min"], gallery["len_max"], gallery["frames"]) == (1, 9, 18)


def test_empty_split_summary():
    splits = DatasetSplits(name="x", root=Path("/x"), train=[], query=[], gallery=[])
    assert summarize(splits)[0] == {
        "split": "train", "tracklets": 0, "ids": 0, "cameras": 0, "frames": 0, "len_min": 0, "len_mean": 0.0,
        "len_max": 0, "valid_queries": None, "distractors": 0, "junk": 0,
    }


def test_format_summary_states_protocol_counts_and_notes():
    text = format_summary(_splits(protocol="official", attribute_schema=MARS_ATTRIBUTES, notes=["hello"]))
    lines = text.splitlines()
    assert lines[0] == "dataset mars at /data/mars"
    assert lines[1].startswith("protocol: official")
    assert lines[2].split() == ["split", "tracklets", "ids", "cams", "frames", "len", "min/mean/max", "valid", "q",
                                "distractors", "junk"]
    assert lines[3].split() == ["train", "3", "2", "2", "12", "3/4.0/5", "-", "0", "0"]
    assert lines[4].split() == ["query", "3", "2", "2", "10", "2/3.3/6", "1/3", "0", "1"]
    assert lines[5].split() == ["gallery", "5", "2", "4", "18", "1/3.6/9", "-", "2", "1"]
    assert "attributes: mars schema, 21 columns" in text
    assert lines[-1] == "note: hello"

"""frame_events.csv: writing and reading round-trip, band coverage, and one-line refusals of bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid_runtime.data.frame_events import COLUMNS, EventBox, FrameEventsError, read_frame_events, write_frame_events
from reid_runtime.errors import ReidError

HEADER = ",".join(COLUMNS)


def test_round_trip(tmp_path: Path) -> None:
    rows = [
        ("bbox_test/0001/0001C1T0001F001.jpg", EventBox("occlusion", (0.0, 0.5, 1.0, 1.0), "car")),
        ("bbox_test/0001/0001C1T0001F001.jpg", EventBox("second_person", (0.6512, 0.1, 1.0, 0.98))),
        ("bbox_test/0001/0001C1T0001F003.jpg", EventBox("cut", (0.2, 0.0, 0.8, 0.3333))),
        ("gallery/0002/0007/0002_C2_F0001_X00012.jpg", EventBox("my_label", (0.25, 0.25, 0.5, 0.75), "by hand")),
    ]
    path = tmp_path / "frame_events.csv"
    assert write_frame_events(path, rows) == 4
    assert path.read_text().splitlines()[0] == HEADER
    labels = read_frame_events(path)
    assert list(labels) == [rows[0][0], rows[2][0], rows[3][0]]
    assert labels[rows[0][0]] == (rows[0][1], rows[1][1])
    assert labels[rows[2][0]] == (rows[2][1],) and labels[rows[3][0]] == (rows[3][1],)
    assert write_frame_events(tmp_path / "empty.csv", []) == 0
    assert read_frame_events(tmp_path / "empty.csv") == {}


def test_band_cover() -> None:
    box = EventBox("occlusion", (0.0, 0.5, 0.5, 1.0))
    assert box.band_cover(0.75, 1.0) == pytest.approx(0.5)  # full height of the band, half its width
    assert box.band_cover(0.25, 0.5) == 0.0
    assert box.band_cover(0.25, 0.75) == pytest.approx(0.25)


@pytest.mark.parametrize(("text", "line", "match"), [
    ("image,event,x0,y0,x1,y1\n", 1, "expected the header"),
    ("", 1, "expected the header"),
    (f"{HEADER}\na.jpg,occlusion,,0,0,1\n", 2, "expected 7 fields"),
    (f"{HEADER}\na.jpg,occlusion,,0,0,1,1\nb.jpg,cut,,0,zero,1,1\n", 3, "not 4 numbers"),
    (f"{HEADER}\na.jpg,occlusion,,0,0,1,1.5\n", 2, "in 0..1"),
    (f"{HEADER}\na.jpg,occlusion,,0,0,1,nan\n", 2, "in 0..1"),
    (f"{HEADER}\na.jpg,occlusion,,0.5,0,0.5,1\n", 2, "empty"),
    (f"{HEADER}\na.jpg,Occlusion,,0,0,1,1\n", 2, "lower-case identifier"),
    (f"{HEADER}\na.jpg,,,0,0,1,1\n", 2, "lower-case identifier"),
    (f"{HEADER}\n/data/a.jpg,cut,,0,0,1,1\n", 2, "relative to the dataset root"),
    (f"{HEADER}\n../a.jpg,cut,,0,0,1,1\n", 2, "relative to the dataset root"),
    (f"{HEADER}\n,cut,,0,0,1,1\n", 2, "relative to the dataset root"),
])
def test_bad_files_are_refused_in_one_line_naming_the_line(tmp_path: Path, text: str, line: int, match: str) -> None:
    path = tmp_path / "frame_events.csv"
    path.write_text(text)
    with pytest.raises(FrameEventsError, match=match) as info:
        read_frame_events(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ") and "\n" not in message
    assert isinstance(info.value, ReidError)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(FrameEventsError, match="missing"):
        read_frame_events(tmp_path / "frame_events.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(FrameEventsError, match="UTF-8"):
        read_frame_events(binary)


def test_the_writer_refuses_what_the_reader_would(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        write_frame_events(tmp_path / "x.csv", [("a.jpg", EventBox("cut", (0.5, 0.0, 0.5, 1.0)))])
    with pytest.raises(ValueError, match="comma"):
        write_frame_events(tmp_path / "x.csv", [("a.jpg", EventBox("cut", (0.0, 0.0, 1.0, 1.0), "a,b"))])

"""MOTChallenge input on a synthetic sequence: row filters, clipping, min-frames and the crops themselves."""

from __future__ import annotations

import re

import numpy as np
import pytest

from reid_runtime.data.frames import FrameReadError
from reid_runtime.errors import DatasetLayoutError
from reid_runtime.mot import iter_track_crops, read_mot_sequence

H, W = 120, 160  # the frame size of the mot_sequence fixture (tests/reid_runtime/conftest.py)


def test_rows_are_filtered_and_boxes_clipped(mot_sequence):
    seq = read_mot_sequence(mot_sequence, "gt", min_frames=4)
    assert seq.name == "SYN-01" and seq.image_size == (H, W)
    assert sorted(seq.tracks) == [1, 2] and seq.skipped_tracks == 1  # 3: class 2; 4: two boxes
    assert [b.frame for b in seq.tracks[2]] == [1, 2, 4, 5, 6]  # flag 0 on frame 3, the outside box dropped
    assert [b.frame for b in seq.tracks[1]] == [1, 2, 3, 4, 5]  # on frame 6 it starts at the right edge
    last = seq.tracks[1][-1]
    assert (last.left, last.right, last.top, last.bottom) == (135, W, 20, 80)  # clipped at the right edge


def test_crops_show_the_tracked_person(mot_sequence):
    seq = read_mot_sequence(mot_sequence, "gt", min_frames=4)
    crops = dict(iter_track_crops(seq, [2, 1], (32, 16)))
    assert crops[1].shape == (len(seq.tracks[1]), 32, 16, 3) and crops[1].dtype == np.uint8
    for track, channel in ((1, 0), (2, 1)):
        mean = crops[track].reshape(-1, 3).mean(axis=0)
        assert mean.argmax() == channel and mean[channel] > 150, (track, mean)


def test_min_frames_and_mot15_layout(mot_sequence):
    root = mot_sequence
    assert sorted(read_mot_sequence(root, "gt", min_frames=2).tracks) == [1, 2, 4]
    # MOT15: 10 columns, the 8th is a world coordinate and no class filter applies
    lines = (root / "gt" / "gt.txt").read_text().splitlines()
    (root / "gt" / "gt.txt").write_text("\n".join(",".join(row.split(",")[:7] + ["-1", "-1", "-1"]) for row in lines))
    assert sorted(read_mot_sequence(root, "gt", min_frames=4).tracks) == [1, 2, 3]


def test_detections_need_track_ids(mot_sequence):
    root = mot_sequence
    (root / "det").mkdir()
    (root / "det" / "det.txt").write_text("1,-1,10,10,20,40,0.9\n2,-1,12,10,20,40,0.8\n")
    with pytest.raises(DatasetLayoutError, match="det.txt: no usable track boxes .*run a tracker"):
        read_mot_sequence(root, "det")
    (root / "det" / "det.txt").write_text("1,5,10,10,20,40,0.3\n2,5,12,10,20,40,0.2\n")
    assert [len(b) for b in read_mot_sequence(root, "det", min_frames=2).tracks.values()] == [2]


def test_layout_errors_name_the_file(mot_sequence):
    root = mot_sequence
    with pytest.raises(DatasetLayoutError, match="det.txt: missing"):
        read_mot_sequence(root, "det")
    (root / "gt" / "gt.txt").write_text("1,2,3\n")
    with pytest.raises(DatasetLayoutError, match=r"gt.txt:1: expected 6 to 10 comma-separated columns \(frame,id,x,y"):
        read_mot_sequence(root, "gt")


GOOD = "1,1,11,21,30,60,1,1,1.0"


@pytest.mark.parametrize(("line", "message"), [
    ("2,1,nan,21,30,60,1,1,1.0", "expected finite numbers, got nan or inf"),
    ("2,1,11,21,inf,60,1,1,1.0", "expected finite numbers, got nan or inf"),
    ("2,1,11,21,-30,60,1,1,1.0", "the box width and height must not be negative, got w=-30 h=60"),
    ("2,1,11,21,30,abc,1,1,1.0", "expected comma-separated numbers"),
    ("2,1,11,21,30,60,1", "expected 9 columns like the file's first line, got 7"),
    ("2,1,11,21,30,60,1,1,1.0,0,0,0", "expected 6 to 10 comma-separated columns"),
    ("0,1,11,21,30,60,1,1,1.0", "the frame number must be a positive integer, got '0'"),
    ("2.5,1,11,21,30,60,1,1,1.0", "the frame number must be a positive integer, got '2.5'"),
    ("2,1.5,11,21,30,60,1,1,1.0", "the track id must be an integer, got '1.5'"),
])
def test_a_malformed_line_is_named_with_its_number(mot_sequence, line, message):
    (mot_sequence / "gt" / "gt.txt").write_text(f"{GOOD}\n\n{line}\n")
    with pytest.raises(DatasetLayoutError, match=f"gt.txt:3: {message}") as error:
        read_mot_sequence(mot_sequence, "gt", min_frames=1)
    assert "\n" not in str(error.value)


def test_a_zero_size_box_is_dropped_like_one_outside_the_image(mot_sequence):
    (mot_sequence / "gt" / "gt.txt").write_text(f"{GOOD}\n2,1,11,21,0,60,1,1,1.0\n")
    assert [b.frame for b in read_mot_sequence(mot_sequence, "gt", min_frames=1).tracks[1]] == [1]


@pytest.mark.parametrize(("ini", "message"), [
    ("[Sequence]\nimHeight=tall\nimWidth=160\n", "imHeight='tall', imWidth='160'; expected positive integers"),
    ("[Sequence]\nimHeight=-1\nimWidth=160\n", "imHeight=.-1., imWidth=.160.; expected positive integers"),
    ("imHeight=120\n", "not a readable seqinfo.ini"),
    ("[Sequence]\nimDir=../../etc\n", "imDir='../../etc'; expected a folder inside"),
])
def test_a_damaged_seqinfo_is_one_error(mot_sequence, ini, message):
    (mot_sequence / "seqinfo.ini").write_text(ini)
    with pytest.raises(DatasetLayoutError, match=f"seqinfo.ini: {message}"):
        read_mot_sequence(mot_sequence, "gt")


def test_frames_that_disagree_with_seqinfo_are_named(mot_sequence):
    ini = mot_sequence / "seqinfo.ini"
    ini.write_text(ini.read_text().replace("imHeight=120", "imHeight=240"))
    seq = read_mot_sequence(mot_sequence, "gt", min_frames=4)
    (track, error), = iter_track_crops(seq, [1], (32, 16))
    assert track == 1 and isinstance(error, FrameReadError)
    assert re.search("000001.jpg: is 120x160 .* declares 240x160", str(error))

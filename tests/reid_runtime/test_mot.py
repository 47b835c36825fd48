"""MOTChallenge input on a synthetic sequence: row filters, clipping, min-frames and the crops themselves."""

from __future__ import annotations

import numpy as np
import pytest

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
    with pytest.raises(DatasetLayoutError, match="gt.txt:1: expected at least frame,id,x,y,w,h"):
        read_mot_sequence(root, "gt")

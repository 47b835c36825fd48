"""Tracklet events: occlusions hit a minority of frames in about 30% of tracklets; labels stay in range."""

from __future__ import annotations

import numpy as np

from reid_runtime.data.attribute_schema import MARS_ATTRIBUTES
from reid_runtime.data.synth.camera import make_camera
from reid_runtime.data.synth.events import draw_events


def test_occlusions_are_a_contiguous_minority_of_frames() -> None:
    camera = make_camera(0, 1, (32, 16))
    group0 = np.asarray(MARS_ATTRIBUTES.group_classes(0))
    occluded = 0
    for i in range(400):
        rng = np.random.default_rng(i)
        n = int(rng.integers(3, 30))
        events = draw_events(rng, n, camera, "person")
        labels = np.asarray(events.labels())
        assert labels.shape == group0.shape and (labels >= 0).all() and (labels < group0).all()
        if events.occlusion is not None:
            occluded += 1
            frames = events.occlusion.frames
            assert 1 <= len(frames) < n / 2
            assert list(frames) == list(range(frames[0], frames[0] + len(frames)))
            assert frames[0] >= 0 and frames[-1] < n
    assert 0.22 < occluded / 400 < 0.38


def test_junk_is_always_cut_and_short_tracklets_are_never_occluded() -> None:
    camera = make_camera(0, 2, (32, 16))
    for i in range(50):
        junk = draw_events(np.random.default_rng(i), 10, camera, "junk")
        assert junk.labels()[3] == 1
        assert draw_events(np.random.default_rng(i), 2, camera, "person").occlusion is None

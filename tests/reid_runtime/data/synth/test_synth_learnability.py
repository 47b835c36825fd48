"""The synthetic data is worth training on: identity shows through camera changes, occlusions really hide the body."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from reid_runtime.data.synth import SynthConfig, synthesize
from reid_runtime.data.synth.appearance import draw_identity
from reid_runtime.data.synth.camera import make_camera
from reid_runtime.data.synth.events import OCCLUSION_REGIONS, Occlusion, TrackletEvents
from reid_runtime.data.synth.occluders import draw_occluder_spec
from reid_runtime.data.synth.render import render_tracklet


def _histogram(frame: np.ndarray) -> np.ndarray:
    """Colour histograms (4 bins per channel) of the upper- and lower-body bands, Hellinger-embedded."""
    h, w = frame.shape[:2]
    columns = slice(w // 4, 3 * w // 4)
    parts = (frame[int(h * 0.28):int(h * 0.45), columns], frame[int(h * 0.6):int(h * 0.85), columns])
    hists = []
    for part in parts:
        bins = part.astype(np.int64) // 64
        codes = (bins[..., 0] * 16 + bins[..., 1] * 4 + bins[..., 2]).ravel()
        hists.append(np.bincount(codes, minlength=64) / codes.size)
    return np.sqrt(np.concatenate(hists))


@pytest.fixture(scope="module")
def mars20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("learn") / "mars"
    synthesize(SynthConfig("mars", ids=20, size=(64, 32), min_len=4, max_len=6), root)
    return root


def test_colour_histograms_retrieve_across_cameras_above_chance_but_not_perfectly(mars20: Path) -> None:
    names = mars20.joinpath("info", "test_name.txt").read_text().splitlines()
    table = scipy.io.loadmat(mars20 / "info" / "tracks_test_info.mat")["track_test_info"]
    query = scipy.io.loadmat(mars20 / "info" / "query_IDX.mat")["query_IDX"][0].astype(int) - 1
    features = np.asarray([
        np.mean([_histogram(np.asarray(Image.open(mars20 / "bbox_test" / n[:4] / n))) for n in names[s - 1:e]], 0)
        for s, e, _, _ in table])
    is_query = np.zeros(len(table), bool)
    is_query[query] = True
    gallery = np.flatnonzero(~is_query & (table[:, 2] != -1))  # "test - query", junk dropped
    hits, chance = [], []
    for q in query:
        pid, camid = table[q, 2:4]
        keep = gallery[~((table[gallery, 2] == pid) & (table[gallery, 3] == camid))]
        positive = table[keep, 2] == pid
        if not positive.any():
            continue
        distance = ((features[keep] - features[q]) ** 2).sum(1)
        hits.append(positive[np.argsort(distance, kind="stable")[0]])
        chance.append(positive.mean())
    rank1, chance_rank1 = np.mean(hits), np.mean(chance)
    assert len(hits) > 30
    assert rank1 > 4 * chance_rank1, (rank1, chance_rank1)
    assert rank1 < 0.85, rank1  # still a learning problem


def _events(occlusion: Occlusion | None, view: int) -> TrackletEvents:
    return TrackletEvents(action=0, view=view, occlusion=occlusion, cut=(0.0, 0.0), bystander=None,
                          bystander_side=1, bystander_in_front=False, small=False, change_from=None, replacement=None,
                          missing=(), wrong_target=False)


def test_occluded_frames_differ_more_than_clean_frames() -> None:
    occluded_gap, clean_gap = [], []
    for i, region in enumerate(OCCLUSION_REGIONS * 3):
        look, _ = draw_identity(np.random.default_rng(i), "mars")
        camera = make_camera(0, 1 + i % 6, (64, 32))
        occlusion = Occlusion(region, 0.5, (3, 4), draw_occluder_spec(np.random.default_rng(i), region))
        frames, _ = render_tracklet(look, _events(occlusion, i % 6), camera, 10, (64, 32), np.random.default_rng(i))
        h = [_histogram(np.asarray(f)) for f in frames]
        clean = [0, 1, 2, 5, 6, 7, 8, 9]
        clean_gap.append(np.mean([np.linalg.norm(h[a] - h[b]) for a in clean for b in clean if a < b]))
        occluded_gap.append(np.mean([np.linalg.norm(h[o] - h[c]) for o in (3, 4) for c in clean]))
    assert np.mean(occluded_gap) > 2 * np.mean(clean_gap)
    assert np.mean(np.asarray(occluded_gap) > np.asarray(clean_gap)) > 0.9

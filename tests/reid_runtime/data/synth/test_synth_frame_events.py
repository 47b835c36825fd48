"""Per-frame event labels of the generator: frame_events.csv in every layout, and boxes where the events are drawn."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from reid_runtime.data.attribute_schema import MARS_ATTRIBUTES
from reid_runtime.data.frame_events import EVENT_KINDS, EVENTS_FILE, read_frame_events
from reid_runtime.data.synth.appearance import draw_identity
from reid_runtime.data.synth.camera import make_camera
from reid_runtime.data.synth.events import OCCLUSION_REGIONS, Occlusion, TrackletEvents
from reid_runtime.data.synth.occluders import OCCLUDER_KINDS, draw_occluder_spec
from reid_runtime.data.synth.render import render_tracklet

SIZE = (64, 32)


def _events(**changes) -> TrackletEvents:
    base = dict(action=0, view=0, occlusion=None, cut=(0.0, 0.0), bystander=None, bystander_side=1,
                bystander_in_front=True, small=False, change_from=None, replacement=None, missing=(),
                wrong_target=False)
    return TrackletEvents(**{**base, **changes})


def _render(events: TrackletEvents, seed: int, camera: int, frames: int = 3):
    look, _ = draw_identity(np.random.default_rng(500 + seed), "mars")
    images, labels = render_tracklet(look, events, make_camera(0, camera, SIZE), frames, SIZE,
                                     np.random.default_rng(seed))
    return [np.asarray(image, dtype=np.int16) for image in images], labels


def _changed_outside(changed: np.ndarray, box: tuple[float, ...], margin: int = 2) -> int:
    """Changed pixels outside the normalised ``box`` grown by ``margin`` pixels (the camera blur spreads edges)."""
    height, width = changed.shape
    x0, y0, x1, y1 = box
    inside = np.zeros_like(changed)
    inside[max(0, int(y0 * height) - margin):int(np.ceil(y1 * height)) + margin,
           max(0, int(x0 * width) - margin):int(np.ceil(x1 * width)) + margin] = True
    return int((changed & ~inside).sum())


@pytest.mark.parametrize("layout", ["mars", "dukev"])
def test_every_layout_writes_labels_of_frames_on_disk(layout: str, request: pytest.FixtureRequest) -> None:
    root = request.getfixturevalue(f"tiny_{layout}")
    labels = read_frame_events(root / EVENTS_FILE)
    assert labels and all((root / image).is_file() for image in labels)
    kinds = Counter(item.event for items in labels.values() for item in items)
    assert set(kinds) <= set(EVENT_KINDS) and kinds["occlusion"] > 0
    details = {item.detail for items in labels.values() for item in items if item.event == "occlusion"}
    assert details <= set(OCCLUDER_KINDS)
    assert all(item.detail == "" for items in labels.values() for item in items if item.event != "occlusion")
    if layout == "dukev":  # a query folder is a copy of a gallery tracklet: same frames, same labels
        queries = [image for image in labels if image.startswith("query/")]
        assert queries and all(labels[image] == labels["gallery/" + image[len("query/"):]] for image in queries)


def test_occlusion_rows_match_the_tracklet_labels(tiny_mars: Path) -> None:
    labels = read_frame_events(tiny_mars / EVENTS_FILE)
    occluded = defaultdict(int)
    for image, items in labels.items():
        if any(item.event == "occlusion" for item in items):
            occluded[Path(image).name[:11]] += 1  # <pid4>C<c>T<t4>: the tracklet
    column = 3 + MARS_ATTRIBUTES.columns.index("occulusion")
    with open(tiny_mars / "mars_attributes.csv", newline="", encoding="gbk") as f:
        rows = list(csv.reader(f))[1:]
    flagged = {f"{int(r[0]):04d}C{r[1]}T{int(r[2]):04d}" for r in rows if r[column] == "1"}
    annotated = {f"{int(r[0]):04d}C{r[1]}T{int(r[2]):04d}" for r in rows}
    assert flagged and {t for t in occluded if t in annotated} == flagged
    lengths = Counter(p.name[:11] for p in (tiny_mars / "bbox_train").glob("*/*.jpg"))
    lengths.update(p.name[:11] for p in (tiny_mars / "bbox_test").glob("*/*.jpg"))
    assert all(0 < n < lengths[t] / 2 for t, n in occluded.items())  # a minority of each tracklet's frames


@pytest.mark.parametrize("seed", range(12))
def test_occluder_box_holds_every_pixel_it_changed(seed: int) -> None:
    region = OCCLUSION_REGIONS[seed % 4]
    occlusion = Occlusion(region, 0.5, (1,), draw_occluder_spec(np.random.default_rng(seed), region))
    camera = 1 + seed % 6  # cameras 1..6 include mirrored ones and blurred ones
    with_it, labels = _render(_events(occlusion=occlusion), seed, camera)
    without, clean = _render(_events(), seed, camera)
    assert clean == [[], [], []] and labels[0] == labels[2] == []
    (item,) = labels[1]
    assert item.event == "occlusion" and item.detail == occlusion.occluder.kind
    changed = np.abs(with_it[1] - without[1]).max(axis=-1) > 0
    assert changed.mean() > 0.1 and _changed_outside(changed, item.box) == 0
    assert np.array_equal(with_it[0], without[0])


@pytest.mark.parametrize("seed", range(4))
def test_second_person_and_missing_boxes_are_where_the_figures_are(seed: int) -> None:
    bystander, _ = draw_identity(np.random.default_rng(900 + seed), "mars")
    camera = 1 + seed % 6
    alone, _ = _render(_events(), seed, camera)
    pair, labels = _render(_events(bystander=bystander, bystander_side=1 if seed % 2 else -1), seed, camera)
    empty, missing = _render(_events(missing=(0, 1, 2)), seed, camera)
    for frame in range(3):
        (second,) = labels[frame]
        assert second.event == "second_person"
        changed = np.abs(pair[frame] - alone[frame]).max(axis=-1) > 0
        assert changed.any() and _changed_outside(changed, second.box) == 0
        (gone,) = missing[frame]
        assert gone.event == "missing"
        person = np.abs(alone[frame] - empty[frame]).max(axis=-1) > 0
        assert _changed_outside(person, gone.box) == 0 and person.mean() > 0.1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_wrong_target_centres_the_bystander_and_moves_the_person_aside(seed: int) -> None:
    """The tracker followed a bystander: the crop is centred on them (labelled wrong_target) and the tracked person
    is the figure at the side."""
    bystander, _ = draw_identity(np.random.default_rng(900 + seed), "mars")
    side = 1 if seed % 2 else -1
    _, labels = _render(_events(bystander=bystander, bystander_side=side, wrong_target=True), seed, 1 + seed % 6)
    for frame_labels in labels:
        (wrong,) = [label for label in frame_labels if label.event == "wrong_target"]
        x0, _, x1, _ = wrong.box
        assert abs((x0 + x1) / 2 - 0.5) < 0.12  # the bystander stands where the person should be


def test_a_cut_labels_the_part_of_the_box_the_person_left() -> None:
    height, width = SIZE
    _, whole = _render(_events(missing=(0, 1, 2)), 3, 2)
    for cut in ((0.0, 0.3), (0.42, 0.0), (-0.42, 0.0)):
        _, labels = _render(_events(cut=cut), 3, 2)
        for frame in range(3):
            (item,) = labels[frame]
            where = whole[frame][0].box  # the un-cut figure's box, drawn nowhere
            x0, y0, x1, y1 = item.box
            assert item.event == "cut" and where[0] - 0.05 <= x0 and x1 <= where[2] + 0.05
            assert where[1] - 0.05 <= y0 and y1 <= where[3] + 0.05
            if cut[1]:
                assert y1 - y0 == pytest.approx(cut[1], abs=0.05) and y0 == pytest.approx(where[1], abs=0.05)
            else:
                assert x1 - x0 < where[2] - where[0]


def test_occluders_take_scene_colours_not_saturated_blocks() -> None:
    """Mean chroma (max - min channel) of occluder pixels stays near the scene's; uniform random RGB, the old
    occluder colour, averages about 2.5 times the scene's."""
    occluder, scene, kinds = [], [], set()
    for seed in range(60):
        region = OCCLUSION_REGIONS[seed % 4]
        spec = draw_occluder_spec(np.random.default_rng(seed), region)
        kinds.add(spec.kind)
        occlusion = Occlusion(region, 0.5, (0,), spec)
        drawn, _ = _render(_events(occlusion=occlusion, missing=(0,)), seed, 1 + seed % 6, frames=1)
        empty, _ = _render(_events(missing=(0,)), seed, 1 + seed % 6, frames=1)
        changed = np.abs(drawn[0] - empty[0]).max(axis=-1) > 0
        chroma = drawn[0].max(axis=-1) - drawn[0].min(axis=-1)
        occluder.append(chroma[changed].mean())
        scene.append((empty[0].max(axis=-1) - empty[0].min(axis=-1)).mean())
    assert kinds == set(OCCLUDER_KINDS)
    assert np.mean(occluder) < 1.5 * np.mean(scene)

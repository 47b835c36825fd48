import numpy as np
import pytest
from PIL import Image

from reid_runtime.data.tracklet import Tracklet
from reid_runtime.visualize import (
    BACKGROUND,
    BORDER,
    GAP,
    HIGHLIGHT,
    JUNK,
    LINE,
    MATCH,
    MISMATCH,
    PAD,
    QUERY,
    REGION,
    attention_overlay_image,
    heat_colours,
    ranked_list_image,
    save_ranked_lists,
)

THUMB = (32, 16)


def _tracklet(folder, name, pid, camid, rgb, length=3):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in range(length):
        path = folder / f"{name}_{f}.png"
        Image.new("RGB", (8, 16), rgb).save(path)
        paths.append(str(path))
    return Tracklet(frames=tuple(paths), pid=pid, camid=camid, tid=name)


@pytest.fixture
def scene(tmp_path):
    query = _tracklet(tmp_path, "q", pid=1, camid=1, rgb=(200, 200, 0), length=6)
    gallery = [
        _tracklet(tmp_path, "g0", pid=2, camid=2, rgb=(0, 0, 250)),
        _tracklet(tmp_path, "g1", pid=1, camid=2, rgb=(250, 0, 250)),
        _tracklet(tmp_path, "g2", pid=1, camid=1, rgb=(0, 250, 250)),  # same pid, same camera: junk
        _tracklet(tmp_path, "g3", pid=3, camid=3, rgb=(90, 60, 30)),
    ]
    distances = np.array([0.4, 0.1, 0.05, 0.9])  # ranked: g2 (junk), g1 (#1), g0 (#2), g3 (#3)
    return query, gallery, distances


def _tile_origin(index, num_query_frames):
    """Top-left pixel of the gallery tile at position ``index`` (junk tiles included) in a ranked-list image."""
    height, width = THUMB
    query_w = num_query_frames * width + (num_query_frames - 1) + 2 * BORDER
    top = PAD + 2 * LINE + PAD
    return PAD + query_w + GAP + index * (width + 2 * BORDER + PAD), top


def test_ranked_list_colours_match_junk_and_mismatch(scene):
    query, gallery, distances = scene
    image = ranked_list_image(query, gallery, distances, topk=2, frames_per_tracklet=4, thumb=THUMB)
    height, width = THUMB
    x, y = _tile_origin(0, 4)
    assert image.getpixel((PAD + 1, y + 1)) == QUERY
    assert image.getpixel((x + 1, y + 1)) == JUNK  # the query's pid on its own camera, before rank 1
    x, y = _tile_origin(1, 4)
    assert image.getpixel((x + 1, y + 1)) == MATCH  # rank 1 is a true match
    assert image.getpixel((x + BORDER + width // 2, y + BORDER + height // 2)) == (250, 0, 250)  # g1's frame
    x, y = _tile_origin(2, 4)
    assert image.getpixel((x + 1, y + 1)) == MISMATCH
    # topk=2 stops after rank 2: no fourth tile.
    assert image.getpixel((x + width + 2 * BORDER + PAD + 1, y + 1)) == BACKGROUND
    assert image.height == y + height + 2 * BORDER + 2 * LINE + PAD


def test_ranked_list_without_junk_starts_with_rank_one(scene):
    query, gallery, distances = scene
    image = ranked_list_image(query, gallery, distances, topk=3, frames_per_tracklet=2, thumb=THUMB,
                              show_junk=False)
    x, y = _tile_origin(0, 2)
    assert image.getpixel((x + 1, y + 1)) == MATCH
    x, y = _tile_origin(2, 2)
    assert image.getpixel((x + 1, y + 1)) == MISMATCH  # g3, rank 3
    assert image.getpixel((x + BORDER + 2, y + BORDER + 2)) == (90, 60, 30)


def test_ranked_list_rejects_a_distance_row_of_the_wrong_length(scene):
    query, gallery, distances = scene
    with pytest.raises(ValueError, match=r"distances_row must have shape \(4,\)"):
        ranked_list_image(query, gallery, distances[:3])


def test_save_ranked_lists_writes_one_png_per_query(scene, tmp_path):
    query, gallery, distances = scene
    other = Tracklet(frames=query.frames, pid=3, camid=1, tid="x/7")
    distmat = np.stack([distances, distances[::-1]])
    paths = save_ranked_lists(tmp_path / "ranked", [query, other], gallery, distmat, [1, 0], topk=2, thumb=THUMB)
    assert [p.name for p in paths] == ["rank_q00001_pid3_c1_tx-7.png", "rank_q00000_pid1_c1_tq.png"]
    assert sorted(p.name for p in (tmp_path / "ranked").iterdir()) == sorted(p.name for p in paths)
    with Image.open(paths[1]) as written:
        expected = ranked_list_image(query, gallery, distances, topk=2, thumb=THUMB)
        assert written.size == expected.size
        assert np.array_equal(np.asarray(written.convert("RGB")), np.asarray(expected))


def test_save_ranked_lists_checks_shapes_and_indices(scene, tmp_path):
    query, gallery, distances = scene
    with pytest.raises(ValueError, match=r"distmat must have shape \(1, 4\)"):
        save_ranked_lists(tmp_path, [query], gallery, distances[None, :3], [0])
    with pytest.raises(ValueError, match="query index 1 is out of range"):
        save_ranked_lists(tmp_path, [query], gallery, distances[None], [1])


def _frames(num_frames=4, height=64, width=48):
    return np.full((num_frames, height, width, 3), 60, dtype=np.uint8)


def _frame_x(t, width):
    return PAD + t * (width + PAD)


def test_overlay_highlights_the_top_frame_of_each_region():
    scores = np.full((4, 2), 0.25)
    scores[:, 0] = [0.1, 0.2, 0.6, 0.1]  # frame 2 wins region 0
    scores[:, 1] = [0.4, 0.2, 0.2, 0.2]  # frame 0 wins region 1
    image = attention_overlay_image(_frames(), scores, scale=1)
    top = PAD + LINE
    assert image.getpixel((_frame_x(2, 48), top)) == HIGHLIGHT
    assert image.getpixel((_frame_x(0, 48), top)) == REGION
    assert image.getpixel((_frame_x(0, 48), top + 63)) == HIGHLIGHT  # bottom edge of region 1, frame 0
    assert image.getpixel((_frame_x(2, 48), top + 63)) == REGION
    assert image.getpixel((_frame_x(1, 48) + 40, top + 56)) == (60, 60, 60)  # inside a region: the frame itself


def test_overlay_upscales_narrow_frames_by_default():
    image = attention_overlay_image(_frames(num_frames=2, height=32, width=16), np.full((2, 4), 0.5))
    scale = 6  # 16 px wide frames -> at least 96 px
    assert image.getpixel((_frame_x(1, 16 * scale) + 80, PAD + LINE + 16 * scale + 40)) == (60, 60, 60)
    assert image.height > 32 * scale


def test_overlay_heat_is_brightest_where_the_map_peaks():
    maps = np.zeros((2, 4, 2), dtype=np.float32)
    maps[1, 3, :] = 1.0  # frame 1, bottom rows
    frames = _frames(num_frames=2, height=32, width=16)
    image = np.asarray(attention_overlay_image(frames, np.full((2, 1), 0.5), maps, scale=4))
    top = PAD + LINE
    hot = image[top + 120, _frame_x(1, 64) + 32].astype(int)
    cold = image[top + 64, _frame_x(0, 64) + 32].astype(int)
    assert hot.sum() > cold.sum() + 200
    np.testing.assert_allclose(hot, (60 + heat_colours(1.0).astype(float)) / 2, atol=1)


def test_heat_colours_run_from_dark_to_bright():
    colours = heat_colours(np.array([0.0, 0.5, 1.0, 2.0]))
    assert colours.dtype == np.uint8 and colours.shape == (4, 3)
    brightness = colours.astype(int).sum(axis=1)
    assert brightness[0] < brightness[1] < brightness[2] == brightness[3]


@pytest.mark.parametrize(
    ("scores", "maps", "message"),
    [
        (np.ones((3, 4)), None, r"scores must have shape \(4, K\)"),
        (np.ones((4, 80)), None, "80 regions do not fit"),
        (np.ones((4, 2)), np.ones((3, 4, 2)), r"maps must have shape \(4, h, w\)"),
        (np.ones((4, 2)), -np.ones((4, 4, 2)), "non-negative"),
    ],
)
def test_overlay_rejects_mismatched_inputs(scores, maps, message):
    with pytest.raises(ValueError, match=message):
        attention_overlay_image(_frames(), scores, maps)

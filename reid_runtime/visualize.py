"""Pictures of results with Pillow alone: ranked gallery lists per query, and STA attention over a clip's frames."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from reid_runtime.aggregation import sta_weights
from reid_runtime.data.frames import load_clip, load_frame
from reid_runtime.data.sampling import sample_test_clips
from reid_runtime.data.tracklet import Tracklet
from reid_runtime.io import write_atomic

QUERY = (40, 90, 230)
MATCH = (0, 180, 0)
MISMATCH = (220, 30, 30)
JUNK = (150, 150, 150)
HIGHLIGHT = (0, 255, 255)
REGION = (255, 255, 255)
BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)

BORDER = 4  # ranked-list tile border, pixels
PAD = 6
GAP = 18  # between the query block and the ranked list
LINE = 13  # text line height of the default font
HIGHLIGHT_WIDTH = 3
HEAT_ALPHA = 0.5
MIN_FRAME_WIDTH = 96  # attention frames narrower than this are upscaled so the score text fits

# "inferno"-like anchors at 0, 1/4, 1/2, 3/4, 1: dark = little attention, bright yellow = most.
_HEAT_ANCHORS = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32
)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def _check_thumb(thumb: tuple[int, int]) -> tuple[int, int]:
    if len(thumb) != 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in thumb):
        raise ValueError(f"thumb must be two positive ints (height, width), got {thumb!r}")
    return int(thumb[0]), int(thumb[1])


def _check_positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _is_junk(query: Tracklet, item: Tracklet) -> bool:
    """Items every MARS protocol leaves out of a query's ranking: pid -1, and the query's pid on its camera."""
    return item.pid == -1 or (item.pid == query.pid and item.camid == query.camid)


def _text_width(draw: ImageDraw.ImageDraw, text: str, font) -> int:
    return int(np.ceil(draw.textlength(text, font=font)))


def _tiles(
    query: Tracklet, gallery: Sequence[Tracklet], distances_row: np.ndarray, topk: int, show_junk: bool
) -> list[tuple[int, int | None]]:
    """(gallery index, rank or None for junk) in ranked order, up to the ``topk``-th ranked item."""
    tiles: list[tuple[int, int | None]] = []
    rank = 0
    for g in np.argsort(distances_row, kind="stable").tolist():
        if _is_junk(query, gallery[g]):
            if show_junk:
                tiles.append((g, None))
            continue
        rank += 1
        tiles.append((g, rank))
        if rank == topk:
            break
    while tiles and tiles[-1][1] is None:  # junk after the last ranked item says nothing
        tiles.pop()
    return tiles


def ranked_list_image(
    query: Tracklet,
    gallery: list[Tracklet],
    distances_row: np.ndarray,
    topk: int = 10,
    frames_per_tracklet: int = 4,
    thumb: tuple[int, int] = (128, 64),
    *,
    show_junk: bool = True,
) -> Image.Image:
    """The query's frames (blue frame) on the left, then its ``topk`` nearest gallery tracklets left to right.

    Each gallery tracklet shows its middle frame with a border: green = same pid (a true match), red = other
    pid. Items every protocol leaves out of the ranking (pid -1, or the query's pid on the query's camera: its
    own copy under "with-query" / "official") are drawn grey, marked "junk" and get no rank number, like the
    metrics; ``show_junk=False`` leaves them out. Under each tile: the rank, the distance and "pid / camera".
    ``thumb`` is (height, width) of one frame; frames are read from the tracklets' paths.
    """
    topk = _check_positive(topk, "topk")
    frames_per_tracklet = _check_positive(frames_per_tracklet, "frames_per_tracklet")
    height, width = _check_thumb(thumb)
    distances_row = np.asarray(distances_row, dtype=np.float64)
    if distances_row.shape != (len(gallery),):
        raise ValueError(f"distances_row must have shape ({len(gallery)},) (one per gallery tracklet), "
                         f"got {distances_row.shape}")
    if np.isnan(distances_row).any():
        raise ValueError("distances_row contains NaN")
    if len(query) == 0:
        raise ValueError(f"query tracklet {query.key} has no frames")

    picks = dict.fromkeys(sample_test_clips(len(query), frames_per_tracklet, "evenly")[0].tolist())
    query_frames = [load_frame(query.frames[i], (height, width)) for i in picks]
    tiles = _tiles(query, gallery, distances_row, topk, show_junk)

    font = _font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    title = f"query pid {query.pid}  cam {query.camid}  tracklet {query.tid}  ({len(query)} frames)"
    legend = "green: same id   red: other id" + ("   grey: junk, not ranked" if show_junk else "")
    tile_w = width + 2 * BORDER
    query_w = len(query_frames) * width + (len(query_frames) - 1) + 2 * BORDER
    content_w = PAD + query_w + GAP + len(tiles) * (tile_w + PAD)
    canvas_w = max(content_w, PAD + max(_text_width(measure, s, font) for s in (title, legend)) + PAD)
    top = PAD + 2 * LINE + PAD
    canvas_h = top + height + 2 * BORDER + 2 * LINE + PAD
    image = Image.new("RGB", (canvas_w, canvas_h), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((PAD, PAD), title, fill=TEXT, font=font)
    draw.text((PAD, PAD + LINE), legend, fill=TEXT, font=font)

    x = PAD
    draw.rectangle([x, top, x + query_w - 1, top + height + 2 * BORDER - 1], fill=QUERY)
    for i, frame in enumerate(query_frames):
        image.paste(Image.fromarray(frame), (x + BORDER + i * (width + 1), top + BORDER))
    draw.text((x, top + height + 2 * BORDER + 1), "query", fill=QUERY, font=font)
    x += query_w + GAP // 2
    draw.line([x, top, x, top + height + 2 * BORDER], fill=JUNK, width=1)
    x += GAP - GAP // 2

    for g, rank in tiles:
        item = gallery[g]
        colour = JUNK if rank is None else MATCH if item.pid == query.pid else MISMATCH
        draw.rectangle([x, top, x + tile_w - 1, top + height + 2 * BORDER - 1], fill=colour)
        frame = load_frame(item.frames[len(item) // 2], (height, width))
        image.paste(Image.fromarray(frame), (x + BORDER, top + BORDER))
        label = "junk" if rank is None else f"#{rank}"
        y = top + height + 2 * BORDER + 1
        draw.text((x, y), f"{label}  d={distances_row[g]:.4g}", fill=TEXT, font=font)
        draw.text((x, y + LINE), f"pid {item.pid} c{item.camid}", fill=TEXT, font=font)
        x += tile_w + PAD
    return image


def _file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text)


def save_ranked_lists(
    out_dir: str | Path,
    queries: list[Tracklet],
    gallery: list[Tracklet],
    distmat: np.ndarray,
    indices: Sequence[int],
    topk: int = 10,
    *,
    frames_per_tracklet: int = 4,
    thumb: tuple[int, int] = (128, 64),
    show_junk: bool = True,
) -> list[Path]:
    """Write :func:`ranked_list_image` of the queries at ``indices`` as PNGs in ``out_dir``; returns their paths.

    ``distmat`` is (num queries, num gallery), e.g. ``score(..., return_distances=True)["distmat"]`` with its
    ``gallery``. Files are named ``rank_q<index>_pid<pid>_c<camera>_t<tracklet>.png`` and written atomically.
    """
    distmat = np.asarray(distmat)
    if distmat.shape != (len(queries), len(gallery)):
        raise ValueError(f"distmat must have shape ({len(queries)}, {len(gallery)}) (queries, gallery), "
                         f"got {distmat.shape}")
    out_dir = Path(out_dir)
    paths = []
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(queries):
            raise ValueError(f"query index {index!r} is out of range; expected 0..{len(queries) - 1}")
        query = queries[index]
        image = ranked_list_image(query, gallery, distmat[index], topk, frames_per_tracklet, thumb,
                                  show_junk=show_junk)
        name = f"rank_q{int(index):05d}_pid{query.pid}_c{query.camid}_t{_file_part(query.tid)}.png"
        paths.append(write_atomic(out_dir / name, lambda f, image=image: image.save(f, format="PNG")))
    return paths


def heat_colours(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] (clipped) to RGB uint8 with an inferno-like colormap; shape (...,) -> (..., 3)."""
    position = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0) * (len(_HEAT_ANCHORS) - 1)
    low = np.minimum(position.astype(np.int64), len(_HEAT_ANCHORS) - 2)
    frac = (position - low)[..., None]
    rgb = _HEAT_ANCHORS[low] * (1 - frac) + _HEAT_ANCHORS[low + 1] * frac
    return np.round(rgb).astype(np.uint8)


def _check_attention_inputs(
    frames: np.ndarray, scores: np.ndarray, maps: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] == 0:
        raise ValueError(f"frames must be a (T, H, W, 3) uint8 array with T >= 1, got {frames.dtype} {frames.shape}")
    num_frames, height = frames.shape[:2]
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != num_frames or scores.shape[1] == 0:
        raise ValueError(f"scores must have shape ({num_frames}, K) (frames, regions), got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    if scores.shape[1] > height:
        raise ValueError(f"{scores.shape[1]} regions do not fit in frames {height} pixels high")
    if maps is not None:
        maps = np.asarray(maps, dtype=np.float32)
        if maps.ndim != 3 or maps.shape[0] != num_frames:
            raise ValueError(f"maps must have shape ({num_frames}, h, w) (one attention map per frame), "
                             f"got {maps.shape}")
        if not np.isfinite(maps).all() or (maps < 0).any():
            raise ValueError("maps must hold finite, non-negative attention values")
    return frames, scores, maps


def attention_overlay_image(
    frames: np.ndarray, scores: np.ndarray, maps: np.ndarray | None = None, *, scale: int | None = None
) -> Image.Image:
    """The clip's frames side by side with STA's K horizontal regions outlined and their scores printed.

    ``scores`` (T, K) are the region scores normalised over frames (each column sums to 1: the weight a frame
    gets for that region). The frame with the highest score of a region (the one STA's fusion takes the region
    from; first frame on ties) has that region boxed in cyan. ``maps`` (T, h, w), e.g. STA's per-frame attention
    maps, are upsampled bilinearly and blended in as a heat overlay, scaled by their common maximum so frames
    compare. Frames narrower than 96 pixels are enlarged by an integer ``scale`` (default: just enough).
    """
    frames, scores, maps = _check_attention_inputs(frames, scores, maps)
    num_frames, height, width = frames.shape[:3]
    if scale is None:
        scale = -(-MIN_FRAME_WIDTH // width)
    scale = _check_positive(scale, "scale")
    fh, fw = height * scale, width * scale
    num_regions = scores.shape[1]
    bounds = [round(k * fh / num_regions) for k in range(num_regions + 1)]
    best = scores.argmax(axis=0)
    peak = float(maps.max()) if maps is not None else 0.0

    font = _font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    legend = [
        f"{num_regions} regions; number = region score (share over the {num_frames} frames)",
        "cyan box: the frame with the top score of that region",
    ]
    if maps is not None:
        legend.append("heat: attention map (dark = low, yellow = high)")
    top = PAD + LINE
    content_w = PAD + num_frames * (fw + PAD)
    canvas_w = max(content_w, PAD + max(_text_width(measure, s, font) for s in legend) + PAD)
    canvas_h = top + fh + PAD + len(legend) * LINE + PAD
    image = Image.new("RGB", (canvas_w, canvas_h), BACKGROUND)
    draw = ImageDraw.Draw(image)

    for t in range(num_frames):
        x = PAD + t * (fw + PAD)
        tile = Image.fromarray(frames[t]).resize((fw, fh), Image.Resampling.NEAREST)
        if maps is not None:
            heat = np.asarray(Image.fromarray(maps[t]).resize((fw, fh), Image.Resampling.BILINEAR))
            colours = heat_colours(heat / peak if peak > 0 else heat)
            tile = Image.blend(tile, Image.fromarray(colours), HEAT_ALPHA)
        image.paste(tile, (x, top))
        draw.text((x, PAD), f"frame {t}", fill=TEXT, font=font)
        for k in range(num_regions):
            draw.rectangle([x, top + bounds[k], x + fw - 1, top + bounds[k + 1] - 1], outline=REGION, width=1)
        for k in range(num_regions):
            if best[k] == t:
                draw.rectangle([x, top + bounds[k], x + fw - 1, top + bounds[k + 1] - 1],
                               outline=HIGHLIGHT, width=HIGHLIGHT_WIDTH)
            label = f"{scores[t, k]:.2f}"
            box = draw.textbbox((0, 0), label, font=font)
            origin = (x + HIGHLIGHT_WIDTH + 1, top + bounds[k] + HIGHLIGHT_WIDTH + 1)
            draw.rectangle([origin[0], origin[1], origin[0] + box[2] + 2, origin[1] + box[3] + 1], fill=(0, 0, 0))
            draw.text((origin[0] + 1, origin[1]), label, fill=HIGHLIGHT if best[k] == t else REGION, font=font)

    y = top + fh + PAD
    for line in legend:
        draw.text((PAD, y), line, fill=TEXT, font=font)
        y += LINE
    return image


def save_attention_overlays(
    out_dir: str | Path,
    model: Any,
    queries: list[Tracklet],
    indices: Sequence[int],
    frames_per_clip: int = 8,
) -> list[Path]:
    """Write :func:`attention_overlay_image` of one evenly sampled clip of each query at ``indices`` as PNGs.

    ``model`` is a loaded ``ReidModel`` whose backend has per-frame terms (``backend.has_frame_terms``: an STA
    checkpoint or a split STA export); its un-normalised region scores are normalised over the clip's frames.
    Files are named ``attention_q<index>_pid<pid>_c<camera>.png`` and written atomically.
    """
    backend = model.backend
    if not backend.has_frame_terms:
        raise ValueError(backend.frame_terms_missing())
    frames_per_clip = _check_positive(frames_per_clip, "frames_per_clip")
    out_dir = Path(out_dir)
    paths = []
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(queries):
            raise ValueError(f"query index {index!r} is out of range; expected 0..{len(queries) - 1}")
        tracklet = queries[index]
        picked = sample_test_clips(len(tracklet), frames_per_clip, "evenly")[0]
        frames = load_clip([tracklet.frames[i] for i in picked], model.input_size)
        scores, _ = backend.run_backbone(frames.transpose(0, 3, 1, 2).astype(np.float32))
        scores = sta_weights(scores, axis=0)
        image = attention_overlay_image(frames, scores)
        name = f"attention_q{int(index)}_pid{tracklet.pid}_c{tracklet.camid}.png"
        paths.append(write_atomic(out_dir / name, lambda f, image=image: image.save(f, format="PNG")))
    return paths

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from reid_runtime.data.frames import MAX_FRAME_PIXELS, FrameReadError, load_clip, load_frame
from reid_runtime.errors import ReidError


def _save(path, array, mode=None, **kwargs):
    image = Image.fromarray(array)
    if mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE)
    elif mode is not None:
        image = image.convert(mode)
    image.save(path, **kwargs)
    return path


def _solid(height, width, rgb):
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (height, width, 3)).copy()


def test_load_frame_returns_rgb_uint8(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (12, 6, 3), dtype=np.uint8)
    path = _save(tmp_path / "f.png", array)
    out = load_frame(path, None)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, array)
    np.testing.assert_array_equal(load_frame(str(path)), array)


def test_load_frame_resizes_to_height_width(tmp_path):
    path = _save(tmp_path / "f.jpg", _solid(20, 10, (200, 30, 60)))
    out = load_frame(path, (8, 4))
    assert out.shape == (8, 4, 3)
    assert np.abs(out.astype(int) - [200, 30, 60]).max() <= 3


@pytest.mark.parametrize(
    ("mode", "suffix"), [("L", "png"), ("RGBA", "png"), ("P", "png"), ("CMYK", "jpg"), ("LA", "png")]
)
def test_any_mode_becomes_rgb(tmp_path, mode, suffix):
    path = _save(tmp_path / f"f.{suffix}", _solid(6, 4, (90, 90, 90)), mode=mode)
    out = load_frame(path, (6, 4))
    assert out.shape == (6, 4, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - 90).max() <= 3


def test_missing_file_raises_frame_read_error(tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(FrameReadError, match="nope.jpg.*not found"):
        load_frame(missing, None)
    assert issubclass(FrameReadError, ReidError)


def test_non_image_raises_frame_read_error(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a jpeg")
    with pytest.raises(FrameReadError, match="notes.jpg.*not an image"):
        load_frame(path, None)
    with pytest.raises(FrameReadError, match="directory"):
        load_frame(tmp_path, None)


def test_truncated_jpeg_raises_frame_read_error(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (64, 32, 3), dtype=np.uint8)
    path = _save(tmp_path / "cut.jpg", array, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FrameReadError, match="cut.jpg.*truncated"):
        load_frame(path, (32, 16))


def test_load_clip_stacks_frames_in_order(tmp_path):
    paths = [str(_save(tmp_path / f"{t}.png", _solid(10, 6, (t * 40, 0, 0)))) for t in range(3)]
    clip = load_clip(paths, (5, 3))
    assert clip.shape == (3, 5, 3, 3) and clip.dtype == np.uint8
    assert clip[:, :, :, 0].reshape(3, -1).max(axis=1).tolist() == [0, 40, 80]


def test_load_clip_rejects_bad_arguments(tmp_path):
    path = str(_save(tmp_path / "a.png", _solid(4, 4, (1, 2, 3))))
    with pytest.raises(ValueError, match="at least one"):
        load_clip([], (4, 4))
    with pytest.raises(ValueError, match="size"):
        load_clip([path], (0, 4))
    with pytest.raises(FrameReadError, match="missing.png"):
        load_clip([path, str(tmp_path / "missing.png")], (4, 4))


def bomb_png(path, width, height):
    """A PNG of a few bytes whose header declares ``width`` x ``height`` pixels (the rest of the data is missing)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize(("width", "height", "message"), [
    (30000, 30000, "decompression bomb"),         # over 2x Image.MAX_IMAGE_PIXELS: Pillow's DecompressionBombError
    (10000, 10000, "decompression bomb"),         # Pillow's DecompressionBombWarning, an error here
    (8000, 8000, "8000x8000 pixels .* over the frame limit of 50,000,000 pixels"),  # under Pillow's limit
])
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # refused by the limit, not the filter
def test_a_huge_declared_size_is_refused_before_decoding(tmp_path, width, height, message):
    path = bomb_png(tmp_path / "bomb.png", width, height)
    assert path.stat().st_size < 300
    with pytest.raises(FrameReadError, match=f"bomb.png: .*{message}") as error:
        load_frame(path, (64, 32))
    assert error.value.path == str(path) and error.value.reason in str(error.value)
    assert MAX_FRAME_PIXELS == 50_000_000 and "\n" not in str(error.value)


def test_empty_truncated_header_and_foreign_formats_name_the_reason(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(FrameReadError, match="empty.jpg: empty file"):
        load_frame(tmp_path / "empty.jpg")
    noise = np.random.default_rng(0).integers(0, 256, (64, 32, 3), dtype=np.uint8)
    data = _save(tmp_path / "ok.png", noise).read_bytes()
    (tmp_path / "head.png").write_bytes(data[:30])
    with pytest.raises(FrameReadError, match="head.png: starts like a PNG file but its header is truncated"):
        load_frame(tmp_path / "head.png")
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(FrameReadError, match="cut.png: cannot decode image, the file is truncated"):
        load_frame(tmp_path / "cut.png")
    # a format Pillow reads by running Ghostscript: not a frame format, refused before any plugin runs
    (tmp_path / "x.eps").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 8\n")
    with pytest.raises(FrameReadError, match="x.eps: not an image, or not in a supported format"):
        load_frame(tmp_path / "x.eps")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_named(tmp_path):
    path = _save(tmp_path / "locked.png", _solid(8, 4, (1, 2, 3)))
    path.chmod(0)
    with pytest.raises(FrameReadError, match="locked.png: cannot read the file"):
        load_frame(path)


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillow_bomb_warning_is_an_error_and_the_limit_follows_pillow(tmp_path, monkeypatch):
    path = bomb_png(tmp_path / "bomb.png", 10000, 10000)
    with pytest.raises(FrameReadError, match="refused as a decompression bomb .*DecompressionBombWarning"):
        load_frame(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a stricter Pillow limit applies to frames too
    small = bomb_png(tmp_path / "small.png", 40, 30)
    with pytest.raises(FrameReadError, match="small.png: declares 40x30 pixels"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # even with Pillow's warning silenced
            load_frame(small)

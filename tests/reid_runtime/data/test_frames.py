import numpy as np
import pytest
from PIL import Image

from reid_runtime.data.frames import FrameReadError, load_clip, load_frame
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

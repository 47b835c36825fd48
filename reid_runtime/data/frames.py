"""Decode person-crop frames from disk into RGB uint8 arrays with Pillow.

Frames come from cameras, datasets and colleagues, so a frame file is untrusted input. Whatever is wrong with it,
decoding raises :class:`FrameReadError` naming the frame and the reason, never another exception:

- missing, a folder, unreadable (permissions, I/O error), empty (0 bytes);
- not an image, or an image in a format other than :data:`FRAME_FORMATS` (no EPS, PDF, ... plugins, some of
  which start external programs);
- truncated or corrupt data;
- a declared size over :data:`MAX_FRAME_PIXELS` (50 megapixels), checked from the header before anything is
  decoded, so a tiny file that declares 30000x30000 pixels (a decompression bomb) costs nothing. 50 MP is far above
  any person crop and above a full 8K camera frame (33 MP, MOT sequences), and bounds one decode to 150 MB of RGB.
  Pillow's own ``DecompressionBombError`` (over ``2 * Image.MAX_IMAGE_PIXELS``) is caught too, and its
  ``DecompressionBombWarning`` is an error: this module installs Pillow's documented
  ``warnings.simplefilter("error", Image.DecompressionBombWarning)`` when imported, and, whatever the warning
  filters are later, the limit is never above ``Image.MAX_IMAGE_PIXELS``, so a frame Pillow warns about is refused.

``ReidModel.embed`` skips the tracklet of a frame that raises (``strict`` makes it fatal) and reports the message,
which starts with the frame's path.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from reid_runtime.errors import ReidError

MAX_FRAME_PIXELS = 50_000_000
FRAME_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "GIF", "TIFF", "PPM")

warnings.simplefilter("error", Image.DecompressionBombWarning)


class FrameReadError(ReidError):
    """A frame file is missing, unreadable, not an image, truncated or corrupt, or too large to decode.

    ``path`` is the frame and ``reason`` what is wrong with it (``None`` when the error wraps another message, as
    ``ReidModel.embed`` does to add the tracklet); ``str()`` is ``"<path>: <reason>"``.
    """

    def __init__(self, message: str, path: str | Path | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.reason = reason

    @classmethod
    def of(cls, path: str | Path, reason: str) -> FrameReadError:
        return cls(f"{path}: {reason}", path, reason)


def max_pixels() -> int:
    """The frame pixel limit: :data:`MAX_FRAME_PIXELS`, or Pillow's ``Image.MAX_IMAGE_PIXELS`` when lower, so every
    image Pillow would only warn about is refused whatever the warning filters say."""
    pillow = Image.MAX_IMAGE_PIXELS
    return MAX_FRAME_PIXELS if pillow is None else min(MAX_FRAME_PIXELS, int(pillow))


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in size):
        raise ValueError(f"size must be two positive ints (height, width), got {size!r}")
    return int(size[0]), int(size[1])


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


_MAGIC = ((b"\x89PNG", "PNG"), (b"\xff\xd8", "JPEG"), (b"BM", "BMP"), (b"GIF8", "GIF"), (b"II*\x00", "TIFF"),
          (b"MM\x00*", "TIFF"), (b"RIFF", "WEBP"))


def _unidentified(path: str | Path) -> str:
    """Why Pillow could not identify ``path``: empty, a damaged header of a known format, or not an image."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        head = None
    if head == b"":
        return "empty file (0 bytes), expected an image"
    for magic, name in _MAGIC:
        if head and head.startswith(magic):
            return f"starts like a {name} file but its header is truncated or corrupt"
    return f"not an image, or not in a supported format ({', '.join(FRAME_FORMATS)})"


def _decode(path: str | Path, size: tuple[int, int] | None) -> Image.Image:
    try:
        with Image.open(path, formats=FRAME_FORMATS) as image:
            width, height = image.size  # from the header: nothing is decoded yet
            if width * height > max_pixels():
                raise FrameReadError.of(path, f"declares {width}x{height} pixels ({width * height / 1e6:.0f} MP), "
                                              f"over the frame limit of {max_pixels():,} pixels "
                                              "(a decompression bomb?)")
            # convert() forces the full decode, so truncated data fails here rather than later.
            rgb = image.convert("RGB")
    except FrameReadError:
        raise
    except FileNotFoundError:
        raise FrameReadError.of(path, "frame file not found") from None
    except IsADirectoryError:
        raise FrameReadError.of(path, "is a directory, expected an image file") from None
    except PermissionError:
        raise FrameReadError.of(path, "cannot read the file (permission denied)") from None
    except UnidentifiedImageError:
        raise FrameReadError.of(path, _unidentified(path)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise FrameReadError.of(path, f"refused as a decompression bomb ({_one_line(err)})") from None
    except MemoryError:
        raise FrameReadError.of(path, "out of memory decoding the image") from None
    except OSError as err:
        if err.errno is None:  # Pillow's own decoder errors ("image file is truncated", "broken data stream")
            raise FrameReadError.of(path, f"cannot decode image, the file is truncated or corrupt "
                                          f"({_one_line(err)})") from err
        raise FrameReadError.of(path, f"cannot read the file ({err.strerror or _one_line(err)})") from err
    except Exception as err:  # any decoder failure: OSError, SyntaxError, struct.error, EOFError ...
        raise FrameReadError.of(path, f"cannot decode image, the file is truncated or corrupt ({_one_line(err)})"
                                ) from err
    if size is not None:
        height, width = size
        if rgb.size != (width, height):
            rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
    return rgb


def frame_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` of a frame from its header (nothing is decoded); the checks of :func:`load_frame`."""
    try:
        with Image.open(path, formats=FRAME_FORMATS) as image:
            width, height = image.size
    except Exception:  # the same message as a full decode would give
        _decode(path, None)
        raise
    if width * height > max_pixels():
        raise FrameReadError.of(path, f"declares {width}x{height} pixels, over the frame limit of "
                                      f"{max_pixels():,} pixels (a decompression bomb?)")
    return height, width


def load_frame(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """One frame as an ``(H, W, 3)`` uint8 RGB array, bilinearly resized to ``size=(H, W)`` when given.

    Any Pillow mode (L, RGBA, P, CMYK, ...) is converted to RGB; an alpha channel is dropped. Raises
    :class:`FrameReadError` (naming ``path`` and the reason) for any frame that cannot be decoded.
    """
    if size is not None:
        size = _check_size(size)
    return np.asarray(_decode(path, size), dtype=np.uint8)


def load_clip(paths: Sequence[str | Path], size: tuple[int, int]) -> np.ndarray:
    """The frames at ``paths`` resized to ``size=(H, W)``, stacked as a ``(T, H, W, 3)`` uint8 array."""
    if len(paths) == 0:
        raise ValueError("load_clip needs at least one frame path, got none")
    height, width = _check_size(size)
    clip = np.empty((len(paths), height, width, 3), dtype=np.uint8)
    for t, path in enumerate(paths):
        clip[t] = np.asarray(_decode(path, (height, width)))
    return clip

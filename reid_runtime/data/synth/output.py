"""The output folder (staged, then renamed into place) and byte-reproducible writers for frames and MAT-files."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from reid_runtime.errors import ReidError

SUMMARY_NAME = "synth_summary.json"
GENERATOR = "reid_runtime.data.synth"
JPEG_QUALITY = 90
# scipy writes the current time into the 116-byte MAT header text; a fixed text keeps the files reproducible
_MAT_DESCRIPTION = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: reid_runtime.data.synth"


def is_synth_output(path: Path) -> bool:
    """True when ``path`` holds a dataset written by this generator (its summary file names the generator)."""
    try:
        summary = json.loads((path / SUMMARY_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("generator") == GENERATOR


def check_target(out: Path) -> None:
    """Refuse an ``out`` that is a file, or a non-empty folder that is not a previous synthetic dataset."""
    if out.exists() and not out.is_dir():
        raise ReidError(f"{out} exists and is not a folder; expected a new or empty folder for the synthetic dataset")
    if out.is_dir() and any(out.iterdir()) and not is_synth_output(out):
        raise ReidError(f"{out} is not empty and holds no {SUMMARY_NAME} from a previous synthetic dataset; "
                        "refusing to write into it (choose a new or empty folder)")


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield a temp folder beside ``out``; on success it replaces ``out``, on failure it is removed.

    A killed run leaves only a hidden ``.<name>.synth-*`` folder, never a half dataset under ``out``.
    """
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.synth-", dir=out.parent))
    try:
        yield stage
        stage.chmod(0o755)
        if out.is_dir():
            check_target(out)
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(stage, out)
            shutil.rmtree(old)
        else:
            os.replace(stage, out)
    finally:
        if stage.exists():
            shutil.rmtree(stage)


def save_jpeg(image: Image.Image, path: Path) -> None:
    image.save(path, format="JPEG", quality=JPEG_QUALITY)


def save_mat(path: Path, variables: dict[str, np.ndarray]) -> None:
    """A zlib-compressed MATLAB 5 MAT-file (like the real MARS ``info/*.mat``) with a fixed header text."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables, format="5", do_compression=True, oned_as="row")
    data = bytearray(buffer.getvalue())
    data[:116] = _MAT_DESCRIPTION.ljust(116, b" ")
    path.write_bytes(bytes(data))


def save_text_lines(path: Path, lines: list[str], newline: str = "\n") -> None:
    path.write_bytes("".join(line + newline for line in lines).encode("ascii"))

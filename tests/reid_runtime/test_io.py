"""Atomic writes: complete files only, normal permissions, no temp files left behind."""

from __future__ import annotations

import os
import stat

import pytest

from reid_runtime.io import write_atomic, write_json_atomic


def test_written_file_has_umask_permissions(tmp_path):
    path = write_json_atomic(tmp_path / "sub" / "a.json", {"x": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert path.read_text().strip().startswith("{")


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")

    def boom(f):
        f.write(b"partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomic(path, boom)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]

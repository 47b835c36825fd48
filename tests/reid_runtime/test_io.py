"""Atomic, durable writes: complete files only, normal permissions, no temp files left behind, the folder fsynced,
failures naming the file."""

from __future__ import annotations

import os
import stat

import pytest

from reid_runtime.io import fsync_folder, write_atomic, write_json_atomic


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


def test_the_rename_is_made_durable_by_an_fsync_of_the_folder(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_json_atomic(tmp_path / "a.json", [1])
    assert synced == ["file", "folder"]  # the data, then the folder entry after os.replace


def test_a_folder_that_cannot_be_fsynced_is_skipped_silently(tmp_path, monkeypatch):
    import errno

    real_fsync = os.fsync

    def no_folder_fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", no_folder_fsync)
    fsync_folder(tmp_path)
    assert write_json_atomic(tmp_path / "a.json", 1).read_text() == "1\n"


def test_a_failed_write_names_the_target_file(tmp_path):
    import errno

    def disk_full(f):
        raise OSError(errno.ENOSPC, "No space left on device")  # what f.write raises: no file name

    with pytest.raises(OSError) as info:
        write_atomic(tmp_path / "e.npz", disk_full)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "e.npz")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError) as info:  # the parent is a file: the mkdir names it
        write_atomic(tmp_path / "file" / "x.json", lambda f: None)
    assert str(tmp_path / "file") in str(info.value.filename)

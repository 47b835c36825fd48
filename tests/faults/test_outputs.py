"""Fault suite, outputs: no ``--out`` clobbers an input, resumable outputs are never mixed, a damaged or empty partial
state is reported and redone, embeddings of two models are not ranked together by mistake, and a failed write (read-only
folder, full disk, a file in the way) is one line with exit status 1.

Every case runs through the real entry point, ``reid_runtime.cli.main.main``, in this process. The read-only and
disk-full cases mount a tiny tmpfs (we run as root in CI, where ``chmod`` does not stop writes); they are skipped where
``mount`` is not allowed.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid_runtime.cli.main import main
from reid_runtime.embeddings_file import load_embeddings, save_embeddings
from reid_runtime.model import ReidModel


def reid(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run ``reid ARGS`` in-process: (exit status, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def snapshot(*paths: Path) -> dict[Path, tuple[bytes, int]]:
    """Content and mtime of files (every file under a folder)."""
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*")) if p.is_dir() else [])]
    return {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files if f.is_file()}


def crops(root: Path, tracklets: list[np.ndarray]) -> Path:
    for i, frames in enumerate(tracklets):
        (root / f"t{i}").mkdir(parents=True)
        for j, frame in enumerate(frames):
            Image.fromarray(frame).save(root / f"t{i}" / f"{j:04d}.png")
    return root


@pytest.fixture(scope="module")
def other_onnx(sta_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another model with the same architecture and file layout as ``sta_onnx``: one weight tensor scaled."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    graph = onnx.load(str(sta_onnx))
    tensor = next(t for t in graph.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) > 1)
    tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * 1.5, tensor.name))
    path = tmp_path_factory.mktemp("other_model") / "sta.onnx"
    onnx.save(graph, str(path))
    return path


@pytest.fixture
def model(sta_onnx: Path, tmp_path: Path) -> Path:
    """A copy of the full STA export, free to be replaced by a test."""
    path = tmp_path / "models" / "m.onnx"
    path.parent.mkdir()
    shutil.copy(sta_onnx, path)
    return path


@pytest.fixture
def tracklets(tmp_path: Path, make_tracklets) -> Path:
    return crops(tmp_path / "crops", make_tracklets([2, 3, 2, 4, 3], seed=5))


@pytest.fixture
def tmpfs(tmp_path: Path):
    """``mount(options) -> folder``: a tmpfs mounted in tmp_path (skipped where mounting is not allowed)."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        folder = tmp_path / f"mnt{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "none", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)


# --- any --out that is an input is refused, the input untouched ----------------------------------------------------

def test_embed_out_on_the_model_is_refused(capsys, model, tracklets):
    before = snapshot(model)
    code, _, err = reid(capsys, "embed", "--model", model, "--tracklets", tracklets, "--out", model)
    assert code == 2 and f"--out {model} would overwrite the model {model}" in one_line(err)
    assert snapshot(model) == before and not model.with_name("m.onnx.partial").exists()


def test_embed_out_on_the_other_file_of_a_split_model_is_refused(capsys, sta_split, tracklets, tmp_path):
    folder = tmp_path / "split"
    folder.mkdir()
    for path in sta_split.parent.glob("sta.*.onnx"):
        shutil.copy(path, folder / path.name)
    backbone, head = folder / "sta.backbone.onnx", folder / "sta.head.onnx"
    before = snapshot(folder)
    code, _, err = reid(capsys, "embed", "--model", backbone, "--tracklets", tracklets, "--out", head)
    assert code == 2 and f"would overwrite {head}, the companion file of the model {backbone}" in one_line(err)
    assert snapshot(folder) == before


def test_embed_out_inside_the_tracklets_folder_is_refused(capsys, model, tracklets):
    before = snapshot(tracklets)
    code, _, err = reid(capsys, "embed", "--model", model, "--tracklets", tracklets, "--out", tracklets / "e.npz")
    assert code == 2 and f"writes into the tracklets folder {tracklets}" in one_line(err)
    assert snapshot(tracklets) == before  # nor a <out>.partial/ folder that a rerun would take for a tracklet


@pytest.mark.parametrize("which", ["query", "gallery"])
def test_search_out_on_the_query_or_gallery_file_is_refused(capsys, model, tracklets, tmp_path, which):
    files = {name: tmp_path / f"{name}.npz" for name in ("query", "gallery")}
    for path in files.values():
        assert reid(capsys, "embed", "--model", model, "--tracklets", tracklets, "--out", path)[0] == 0
    before = snapshot(*files.values())
    code, _, err = reid(capsys, "search", "--query", files["query"], "--gallery", files["gallery"],
                        "--out", files[which])
    assert code == 2 and f"would overwrite the {which} file {files[which]}" in one_line(err)
    assert snapshot(*files.values()) == before


def test_export_out_on_the_checkpoint_is_refused(capsys, sta_checkpoint, tmp_path):
    pytest.importorskip("torch")
    checkpoint = tmp_path / "best.pt"
    shutil.copy(sta_checkpoint, checkpoint)
    before = snapshot(checkpoint)
    code, _, err = reid(capsys, "export", "--model", checkpoint, "--format", "onnx", "--out", checkpoint)
    assert snapshot(checkpoint) == before


def test_export_triton_repository_holding_the_source_model_is_refused(capsys, sta_onnx, tmp_path):
    source = tmp_path / "repo" / "reid" / "1" / "model.onnx"
    source.parent.mkdir(parents=True)
    shutil.copy(sta_onnx, source)
    before = snapshot(tmp_path / "repo")
    code, _, err = reid(capsys, "export", "--model", source, "--format", "triton", "--out", tmp_path / "repo")
    assert code == 2 and f"holds the model {source}" in one_line(err)
    assert snapshot(tmp_path / "repo") == before


@pytest.mark.parametrize("inside", [False, True])
def test_eval_out_into_the_dataset_folder_is_refused(capsys, model, tiny_mars, inside):
    out = tiny_mars / "eval" if inside else tiny_mars
    before = snapshot(tiny_mars)
    code, _, err = reid(capsys, "eval", "--model", model, "--data-root", tiny_mars, "--dataset", "mars",
                        "--out", out)
    assert code == 2 and f"writes into the dataset folder {tiny_mars}" in one_line(err)
    assert snapshot(tiny_mars) == before


def test_eval_out_whose_report_would_overwrite_the_model_is_refused(capsys, sta_onnx, tiny_mars, tmp_path):
    model = tmp_path / "eval.json"  # an ONNX file with an unlucky name, in the folder eval writes its report to
    shutil.copy(sta_onnx, model)
    code, _, err = reid(capsys, "eval", "--model", model, "--data-root", tiny_mars, "--dataset", "mars",
                        "--out", tmp_path)
    assert code == 2 and f"(it writes {model}) would overwrite the model {model}" in one_line(err)
    assert model.read_bytes() == sta_onnx.read_bytes()


def test_bench_latency_out_holding_the_macs_file_is_refused(capsys, model, tmp_path):
    macs = tmp_path / "bench" / "latency.json"
    macs.parent.mkdir()
    macs.write_text('{"rows": []}')
    before = snapshot(macs)
    code, _, err = reid(capsys, "bench", "latency", "--model", model, "--macs", macs, "--out", macs.parent)
    assert code == 2 and f"would overwrite the --macs file {macs}" in one_line(err)
    assert snapshot(macs) == before


def test_data_synth_onto_a_dataset_that_is_not_synthetic_is_refused(capsys, tmp_path):
    real = tmp_path / "mars"
    (real / "info").mkdir(parents=True)
    (real / "info" / "tracks_test_info.mat").write_bytes(b"the real thing")
    before = snapshot(real)
    code, _, err = reid(capsys, "data", "synth", "--layout", "mars", "--out", real, "--ids", 4)
    assert code == 2 and "refusing to write into it" in one_line(err)
    assert snapshot(real) == before


# --- resumable embed outputs are keyed by the model's content, data and settings ----------------------------------

def _killed_embed(capsys, monkeypatch, args: list[object]) -> None:
    """Run ``reid embed ARGS`` and kill it (an exception from the model) on its second chunk."""
    original, calls = ReidModel.embed, []

    def dying(self, items, **options):
        calls.append(len(items))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, items, **options)

    monkeypatch.setattr(ReidModel, "embed", dying)
    code, _, err = reid(capsys, "embed", *args)
    monkeypatch.setattr(ReidModel, "embed", original)
    assert code == 130 and "Aborted." in err


def test_embed_resume_after_the_model_file_was_replaced_does_not_mix(capsys, monkeypatch, model, other_onnx,
                                                                      tracklets, tmp_path):
    out = tmp_path / "e.npz"
    args = ["--model", model, "--tracklets", tracklets, "--chunk-size", 2, "--out", out]
    _killed_embed(capsys, monkeypatch, args)
    assert len(list(tmp_path.glob("e.npz.partial/chunk-*.npz"))) == 1
    old = load_embeddings(_embed_fresh(capsys, model, tracklets, tmp_path / "old.npz"))
    os.replace(shutil.copy(other_onnx, model.with_name(".new.onnx")), model)  # another export at the same path

    code, out_text, _ = reid(capsys, "embed", *args)
    assert code == 0
    lines = [line for line in out_text.splitlines() if "partial" in line]
    assert len(lines) == 1 and "the model file's content (fingerprint)" in lines[0] and "starting over" in lines[0]
    fresh = load_embeddings(_embed_fresh(capsys, model, tracklets, tmp_path / "fresh.npz"))
    resumed = load_embeddings(out)
    np.testing.assert_array_equal(resumed.embeddings, fresh.embeddings)
    assert resumed.meta["fingerprint"] == fresh.meta["fingerprint"] != old.meta["fingerprint"]
    assert not np.allclose(resumed.embeddings[:2], old.embeddings[:2])  # the old chunk would have been wrong


def _embed_fresh(capsys, model: Path, tracklets: Path, out: Path, *extra: object) -> Path:
    code, _, err = reid(capsys, "embed", "--model", model, "--tracklets", tracklets, "--chunk-size", 2, "--out", out,
                        *extra)
    assert code == 0, err
    return out


def test_embed_resume_with_other_settings_starts_over(capsys, monkeypatch, model, tracklets, tmp_path):
    out = tmp_path / "e.npz"
    base = ["--model", model, "--tracklets", tracklets, "--chunk-size", 2, "--out", out]
    _killed_embed(capsys, monkeypatch, [*base, "--seq-lens", 2])
    code, out_text, _ = reid(capsys, "embed", *base, "--seq-lens", 2, "--strict")
    assert code == 0 and "(strict differ); starting over" in out_text
    fresh = load_embeddings(_embed_fresh(capsys, model, tracklets, tmp_path / "fresh.npz", "--seq-lens", 2))
    np.testing.assert_array_equal(load_embeddings(out).embeddings, fresh.embeddings)


def test_embed_over_an_empty_partial_folder_reports_and_redoes(capsys, model, tracklets, tmp_path):
    out = tmp_path / "e.npz"
    (tmp_path / "e.npz.partial").mkdir()  # what a disk full on the first chunk used to leave
    code, out_text, _ = reid(capsys, "embed", "--model", model, "--tracklets", tracklets, "--chunk-size", 2,
                             "--out", out)
    assert code == 0
    lines = [line for line in out_text.splitlines() if "partial" in line]
    assert len(lines) == 1 and "empty (an earlier run stopped before its first chunk" in lines[0]
    fresh = load_embeddings(_embed_fresh(capsys, model, tracklets, tmp_path / "fresh.npz"))
    np.testing.assert_array_equal(load_embeddings(out).embeddings, fresh.embeddings)


@pytest.mark.parametrize("damage", ["truncated chunk", "garbage chunk", "bad meta.json"])
def test_embed_over_a_damaged_partial_state_reports_and_redoes(capsys, monkeypatch, model, tracklets, tmp_path,
                                                                 damage):
    out = tmp_path / "e.npz"
    args = ["--model", model, "--tracklets", tracklets, "--chunk-size", 2, "--out", out]
    _killed_embed(capsys, monkeypatch, args)
    folder = tmp_path / "e.npz.partial"
    chunk = next(folder.glob("chunk-*.npz"))
    if damage == "truncated chunk":
        chunk.write_bytes(chunk.read_bytes()[:200])
    elif damage == "garbage chunk":
        chunk.write_bytes(os.urandom(chunk.stat().st_size))
    else:
        (folder / "meta.json").write_text("{")
    code, out_text, err = reid(capsys, "embed", *args)
    assert code == 0 and "Traceback" not in err
    lines = [line for line in out_text.splitlines() if "partial" in line]
    expected = "its meta.json is damaged" if damage == "bad meta.json" else "1 damaged chunk (chunk-000001.npz"
    assert len(lines) == 1 and expected in lines[0]
    fresh = load_embeddings(_embed_fresh(capsys, model, tracklets, tmp_path / "fresh.npz"))
    np.testing.assert_array_equal(load_embeddings(out).embeddings, fresh.embeddings)
    assert not folder.exists()


# --- search refuses embeddings of two models -----------------------------------------------------------------------

def test_search_refuses_files_of_two_models_unless_told(capsys, model, other_onnx, tracklets, tmp_path):
    query = _embed_fresh(capsys, model, tracklets, tmp_path / "q.npz")
    gallery = _embed_fresh(capsys, other_onnx, tracklets, tmp_path / "g.npz")
    args = ["search", "--query", query, "--gallery", gallery, "--out", tmp_path / "r.json"]
    code, _, err = reid(capsys, *args)
    line = one_line(err)
    assert code == 2 and "were embedded by different models" in line and "--allow-mixed-models" in line
    assert f"{query} (model {model}" in line and f"{gallery} (model {other_onnx}" in line
    assert not (tmp_path / "r.json").exists()
    code, out_text, _ = reid(capsys, *args, "--allow-mixed-models")
    assert code == 0 and "warning: " in out_text and (tmp_path / "r.json").is_file()


def test_search_accepts_files_from_before_fingerprints_with_a_note(capsys, model, tracklets, tmp_path):
    query = _embed_fresh(capsys, model, tracklets, tmp_path / "q.npz")
    old = load_embeddings(query)
    del old.meta["fingerprint"]
    save_embeddings(tmp_path / "old.npz", old)
    code, out_text, _ = reid(capsys, "search", "--query", query, "--gallery", tmp_path / "old.npz",
                             "--out", tmp_path / "r.json")
    assert code == 0 and f"note: {tmp_path / 'old.npz'} carries no model fingerprint" in out_text


# --- a failed write is one line, exit 1 ----------------------------------------------------------------------------

def test_read_only_output_folder_is_one_line_exit_1(capsys, model, tracklets, tmpfs, tmp_path):
    query = _embed_fresh(capsys, model, tracklets, tmp_path / "q.npz")
    read_only = tmpfs("ro,size=64k")
    code, _, err = reid(capsys, "search", "--query", query, "--gallery", query, "--out", read_only / "r.json")
    assert code == 1 and one_line(err) == f"Error: {read_only / 'r.json'}: Read-only file system"
    code, _, err = reid(capsys, "embed", "--model", model, "--tracklets", tracklets, "--out", read_only / "e.npz")
    assert code == 1 and one_line(err).startswith(f"Error: {read_only}") and "Read-only file system" in err
    with pytest.raises(OSError) as info:  # --debug: the traceback instead of the line
        main(["--debug", "search", "--query", str(query), "--gallery", str(query), "--out",
              str(read_only / "r.json")])
    assert info.value.errno == errno.EROFS


@pytest.mark.parametrize("free_pages, left", [(0, []), (1, ["e.npz.partial", "e.npz.partial/meta.json"])])
def test_disk_full_on_the_first_chunk_is_one_line_and_a_rerun_finishes(capsys, model, tracklets, tmpfs, tmp_path,
                                                                        free_pages, left):
    disk = tmpfs("size=64k")
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f, pytest.raises(OSError):  # fill the disk
        while True:
            f.write(b"\0" * 1024)
    os.truncate(filler, filler.stat().st_size - free_pages * 4096)  # room for meta.json, not for the first chunk
    out = disk / "e.npz"
    args = ["--model", model, "--tracklets", tracklets, "--chunk-size", 2, "--out", out]
    code, _, err = reid(capsys, "embed", *args)
    line = one_line(err)
    assert code == 1 and line.startswith(f"Error: {out}.partial") and line.endswith("No space left on device")
    # no empty e.npz.partial/ (nor a temp file) to trip the next run: nothing, or the run's key without chunks
    assert sorted(str(p.relative_to(disk)) for p in disk.rglob("*")) == sorted(["filler", *left])
    filler.unlink()
    code, _, err = reid(capsys, "embed", *args)
    assert code == 0 and "Traceback" not in err and not (disk / "e.npz.partial").exists()
    fresh = load_embeddings(_embed_fresh(capsys, model, tracklets, tmp_path / "fresh.npz"))
    np.testing.assert_array_equal(load_embeddings(out).embeddings, fresh.embeddings)
    assert [p.name for p in disk.iterdir()] == ["e.npz"]  # no temp file left behind


def test_a_file_in_place_of_the_output_folder_is_one_line_exit_1(capsys, model, tracklets, tmp_path):
    blocking = tmp_path / "results"
    blocking.write_text("a file, not a folder")
    code, _, err = reid(capsys, "embed", "--model", model, "--tracklets", tracklets, "--out",
                        blocking / "sub" / "e.npz")
    assert code == 1 and one_line(err) == f"Error: {blocking}: exists and is not a folder"
    assert blocking.read_text() == "a file, not a folder"

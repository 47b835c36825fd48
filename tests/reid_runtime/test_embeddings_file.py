"""Embeddings files: round trip, clear errors, and resumable embedding after a simulated kill."""

from __future__ import annotations

import numpy as np
import pytest

from reid_runtime.embeddings_file import Embeddings, Record, embed_to_file, load_embeddings, save_embeddings
from reid_runtime.errors import ReidError
from reid_runtime.model import TrackletError


class _CountingModel:
    """``embed`` maps a tracklet (a list of frames, here numbers) to a 3-d row of its first frame; after
    ``fail_after`` calls it raises, as a kill would."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[list[float]] = []
        self.fail_after = fail_after
        self.last_errors: list[TrackletError] = []

    def embed(self, items, **options):
        if self.fail_after is not None and len(self.calls) == self.fail_after:
            raise KeyboardInterrupt("killed")
        self.calls.append([x[0] for x in items])
        self.last_errors = [TrackletError(i, f"tracklet {i}", "bad frame") for i, x in enumerate(items) if x[0] < 0]
        out = np.stack([np.full(3, x[0], np.float32) for x in items])
        out[[e.index for e in self.last_errors]] = np.nan
        return out


def _records(n: int) -> tuple[list[Record], list[list[float]]]:
    records = [Record(tid=f"{i:04d}", pid=i % 3, camid=1 + i % 2, path=f"/data/{i}/f001.jpg") for i in range(n)]
    return records, [[float(i)] * (1 + i) for i in range(n)]


def _source(items):
    return lambda todo: ((i, items[i]) for i in todo)


def test_round_trip(tmp_path):
    data = Embeddings(np.ones((2, 4)), [1, -1], [2, 3], ["a", "bb"], ["/x", "/y"], {"metric": "cosine"})
    save_embeddings(tmp_path / "e.npz", data)
    back = load_embeddings(tmp_path / "e.npz")
    assert back.embeddings.dtype == np.float32 and back.tids.tolist() == ["a", "bb"]
    assert back.pids.tolist() == [1, -1] and back.metric == "cosine" and back.meta["format"] == "reid-embeddings/1"


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ReidError, match="missing.npz: embeddings file not found"):
        load_embeddings(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", features=np.ones(3))
    with pytest.raises(ReidError, match="other.npz: not a reid embeddings file .*embeddings, pids"):
        load_embeddings(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ReidError, match="text.npz: not a readable"):
        load_embeddings(tmp_path / "text.npz")


def test_resume_after_a_kill_skips_finished_chunks(tmp_path):
    records, items = _records(7)
    items[4] = [-1.0]  # a tracklet the model skips: NaN row, listed in the meta
    out = tmp_path / "out.npz"
    killed = _CountingModel(fail_after=1)
    with pytest.raises(KeyboardInterrupt):
        embed_to_file(killed, records, _source(items), out, {"seq_len": 4}, chunk_size=3)
    assert not out.exists() and len(list((tmp_path / "out.npz.partial").glob("chunk-*.npz"))) == 1

    resumed = _CountingModel()
    result = embed_to_file(resumed, records, _source(items), out, {"seq_len": 4}, chunk_size=3)
    assert resumed.calls == [[3.0, -1.0, 5.0], [6.0]]  # the first chunk (0, 1, 2) is not embedded again
    assert not (tmp_path / "out.npz.partial").exists()

    fresh = embed_to_file(_CountingModel(), records, _source(items), tmp_path / "fresh.npz", {"seq_len": 4})
    saved = load_embeddings(out)
    np.testing.assert_array_equal(saved.embeddings, fresh.embeddings)
    np.testing.assert_array_equal(saved.embeddings, result.embeddings)
    assert np.isnan(saved.embeddings[4]).all() and saved.embeddings[6, 0] == 6.0
    assert saved.tids.tolist() == [r.tid for r in records] and saved.camids.tolist() == [1, 2, 1, 2, 1, 2, 1]
    assert saved.meta["errors"] == [{"tid": "0004", "path": "/data/4/f001.jpg", "error": "bad frame"}]


def test_out_of_order_sources_are_written_in_record_order(tmp_path):
    records, items = _records(4)
    backwards = lambda todo: ((i, items[i]) for i in reversed(todo))  # noqa: E731  (a MOT source: tracks end late)
    result = embed_to_file(_CountingModel(), records, backwards, tmp_path / "e.npz", {}, chunk_size=3)
    assert result.embeddings[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_chunks_are_bounded_in_frames(tmp_path):
    records, items = _records(6)  # 1, 2, ..., 6 frames
    model = _CountingModel()
    embed_to_file(model, records, _source(items), tmp_path / "e.npz", {}, chunk_size=10, max_chunk_frames=6)
    assert model.calls == [[0.0, 1.0, 2.0], [3.0, 4.0], [5.0]]


def _killed_run(out, records, items, meta, **options):
    """A run killed after its first chunk of 2 tracklets: ``out.partial/`` holds one chunk."""
    with pytest.raises(KeyboardInterrupt):
        embed_to_file(_CountingModel(fail_after=1), records, _source(items), out, meta, chunk_size=2, **options)
    assert len(list(out.with_name(out.name + ".partial").glob("chunk-*.npz"))) == 1


@pytest.mark.parametrize("change, named", [
    ({"meta": {"seq_len": 8}}, "seq_len"),
    ({"meta": {"seq_len": 4, "fingerprint": {"id": "sha256:other"}}}, "the model file's content"),
    ({"options": {"strict": True}}, "strict"),
    ({"records": 4}, "tracklets"),
])
def test_another_run_starts_over_and_says_so(tmp_path, change, named):
    records, items = _records(5)
    out = tmp_path / "o.npz"
    _killed_run(out, records, items, {"seq_len": 4}, strict=False)
    records = records[: change.get("records", 5)]
    model, lines = _CountingModel(), []
    result = embed_to_file(model, records, _source(items), out, change.get("meta", {"seq_len": 4}), chunk_size=2,
                           log=lines.append, **change.get("options", {"strict": False}))
    assert model.calls[0] == [0.0, 1.0]  # the old chunk was not reused
    assert len(lines) == 1 and "o.npz.partial: holds partial results of another run" in lines[0]
    assert named in lines[0] and lines[0].endswith("starting over")
    assert len(result) == len(records) and not out.with_name("o.npz.partial").exists()


def test_batch_size_does_not_change_the_key_and_duplicates_are_refused(tmp_path):
    records, items = _records(5)
    _killed_run(tmp_path / "o.npz", records, items, {}, batch_size=4)
    model, lines = _CountingModel(), []
    embed_to_file(model, records, _source(items), tmp_path / "o.npz", {}, chunk_size=2, batch_size=16,
                  log=lines.append)
    assert model.calls[0] == [2.0, 3.0] and lines == ["%s: resuming, 2 tracklets were embedded by an earlier run"
                                                       % (tmp_path / "o.npz.partial")]
    with pytest.raises(ReidError, match="share tid '0001'"):
        embed_to_file(_CountingModel(), records + records[1:2], _source(items), tmp_path / "d.npz", {})


def _damage_chunk(folder, how):
    chunk = next(folder.glob("chunk-*.npz"))
    if how == "truncated":
        chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    elif how == "empty":
        chunk.write_bytes(b"")
    elif how == "bad errors json":
        with np.load(chunk) as data:
            arrays = dict(data)
        np.savez(chunk, **{**arrays, "errors": np.array("{not json")})
    elif how == "rows do not match keys":
        with np.load(chunk) as data:
            arrays = dict(data)
        np.savez(chunk, **{**arrays, "embeddings": arrays["embeddings"][:1]})
    elif how == "object array":
        with np.load(chunk) as data:
            arrays = dict(data)
        np.savez(chunk, **{**arrays, "keys": np.array([object(), object()], dtype=object)})


@pytest.mark.parametrize("how", ["truncated", "empty", "bad errors json", "rows do not match keys", "object array"])
def test_a_damaged_chunk_is_reported_and_redone(tmp_path, how):
    records, items = _records(5)
    out = tmp_path / "o.npz"
    _killed_run(out, records, items, {})
    _damage_chunk(tmp_path / "o.npz.partial", how)
    model, lines = _CountingModel(), []
    result = embed_to_file(model, records, _source(items), out, {}, chunk_size=2, log=lines.append)
    assert model.calls == [[0.0, 1.0], [2.0, 3.0], [4.0]]  # the damaged chunk's tracklets are embedded again
    assert len(lines) == 1 and "1 damaged chunk (chunk-000001.npz: " in lines[0]
    assert lines[0].endswith("embedding its tracklets again")
    fresh = embed_to_file(_CountingModel(), records, _source(items), tmp_path / "fresh.npz", {})
    np.testing.assert_array_equal(result.embeddings, fresh.embeddings)


@pytest.mark.parametrize("state, reported", [
    ("empty folder", "empty (an earlier run stopped before its first chunk"),
    ("damaged meta.json", "its meta.json is damaged"),
    ("old meta.json", "partial results of an older version"),
    ("chunks without meta.json", "holds no meta.json"),
    ("meta.json of another shape", "holds partial results of another run"),
])
def test_an_empty_or_undescribed_partial_folder_is_reported_and_started_over(tmp_path, state, reported):
    records, items = _records(3)
    folder = tmp_path / "o.npz.partial"
    if state == "empty folder":
        folder.mkdir()
    else:
        _killed_run(tmp_path / "o.npz", records, items, {"seq_len": 4})
        if state == "damaged meta.json":
            (folder / "meta.json").write_text('{"format": "reid-emb')
        elif state == "old meta.json":  # the format before runs were keyed: the plain meta
            (folder / "meta.json").write_text('{"seq_len": 4}')
        elif state == "meta.json of another shape":
            (folder / "meta.json").write_text('{"format": "reid-embed-partial/2", "meta": [1], "options": 2}')
        else:
            (folder / "meta.json").unlink()
    model, lines = _CountingModel(), []
    result = embed_to_file(model, records, _source(items), tmp_path / "o.npz", {"seq_len": 4}, log=lines.append)
    assert model.calls == [[0.0, 1.0, 2.0]] and len(result) == 3
    assert len(lines) == 1 and reported in lines[0] and lines[0].endswith("starting over")


def test_a_failed_first_write_leaves_no_empty_partial_folder(tmp_path, monkeypatch):
    import errno

    import reid_runtime.embeddings_file as ef

    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(ef, "write_json_atomic", full)
    records, items = _records(3)
    with pytest.raises(OSError, match="No space left"):
        embed_to_file(_CountingModel(), records, _source(items), tmp_path / "o.npz", {})
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_place_of_the_partial_folder_is_one_line(tmp_path):
    records, items = _records(2)
    (tmp_path / "o.npz.partial").write_text("mine")
    with pytest.raises(ReidError, match="o.npz.partial: exists and is not a folder"):
        embed_to_file(_CountingModel(), records, _source(items), tmp_path / "o.npz", {})
    assert (tmp_path / "o.npz.partial").read_text() == "mine"


def test_model_fingerprint_hashes_the_files_of_the_model(sta_split, tmp_path):
    import hashlib
    import shutil

    import reid_runtime
    from reid_runtime.embeddings_file import HASH_BLOCK, file_sha256, model_fingerprint

    backbone, head = sta_split, sta_split.with_name(sta_split.name.replace(".backbone.", ".head."))
    by_backbone = model_fingerprint(reid_runtime.load(backbone))
    by_head = model_fingerprint(reid_runtime.load(head))
    assert by_backbone["id"] == by_head["id"] and by_backbone["id"].startswith("sha256:")
    assert set(by_backbone["files"]) == {backbone.name, head.name}
    assert by_backbone["files"][head.name] == hashlib.sha256(head.read_bytes()).hexdigest()
    assert (by_backbone["architecture"], by_backbone["precision"]) == ("sta_tiny", "fp32")
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (HASH_BLOCK // 128 + 3))  # more than two blocks
    assert file_sha256(big) == hashlib.sha256(big.read_bytes()).hexdigest()
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in (backbone, head):
        shutil.copy(path, copy / path.name)
    assert model_fingerprint(reid_runtime.load(copy / backbone.name))["id"] == by_backbone["id"]  # content, not path
    loaded = reid_runtime.load(copy / backbone.name)
    with open(copy / head.name, "ab") as f:
        f.write(b"\0")  # one byte more in the head file: another model
    assert model_fingerprint(loaded)["id"] != by_backbone["id"]

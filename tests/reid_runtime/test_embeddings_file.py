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


def test_resume_refuses_other_settings_and_duplicates(tmp_path):
    records, items = _records(5)
    with pytest.raises(KeyboardInterrupt):
        embed_to_file(_CountingModel(fail_after=1), records, _source(items), tmp_path / "o.npz", {"seq_len": 4},
                      chunk_size=2)
    with pytest.raises(ReidError, match="o.npz.partial: holds partial results of a run with other settings "
                                        r"\(seq_len differ\)"):
        embed_to_file(_CountingModel(), records, _source(items), tmp_path / "o.npz", {"seq_len": 8})
    with pytest.raises(ReidError, match="share tid '0001'"):
        embed_to_file(_CountingModel(), records + records[1:2], _source(items), tmp_path / "d.npz", {})

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from reid_runtime.data.attribute_schema import AttributeSchema
from reid_runtime.data.tracklet import Tracklet
from reid_train.data.pk_sampler import PKSampler
from reid_train.data.transforms import RandomHorizontalFlip
from reid_train.data.video_dataset import VideoTestDataset, VideoTrainDataset

SIZE = (16, 8)
SCHEMA = AttributeSchema(name="toy", columns=("a", "b"), num_classes=(2, 3), groups=(0, 1))


def _tracklet(root, pid, camid, n_frames, attributes=None):
    """Frame t is a solid JPEG whose red channel is 10 * t, so decoded frames reveal their index."""
    folder = root / f"{pid:04d}C{camid}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in range(n_frames):
        path = folder / f"F{t:03d}.jpg"
        Image.new("RGB", (12, 24), (10 * t, 100, 50)).save(path)
        paths.append(str(path))
    return Tracklet(frames=tuple(paths), pid=pid, camid=camid, tid=f"{pid}{camid}", attributes=attributes)


def _frame_ids(frames):
    return (frames[:, 0].mean(dim=(1, 2)) / 10).round().long().tolist()


@pytest.fixture
def tracklets(tmp_path):
    return [
        _tracklet(tmp_path, 7, 1, 20, attributes=(1, 2)),
        _tracklet(tmp_path, 3, 2, 9),
        _tracklet(tmp_path, 11, 1, 2, attributes=(0, 1)),
        _tracklet(tmp_path, 3, 4, 13),
        _tracklet(tmp_path, 7, 3, 6),
    ]


def test_train_items_and_relabelling(tracklets):
    ds = VideoTrainDataset(tracklets, seq_len=4, size=SIZE)
    assert len(ds) == 5 and ds.num_classes == 3
    assert ds.labels.tolist() == [1, 0, 2, 0, 1]
    assert ds.pid_to_label == {3: 0, 7: 1, 11: 2}
    item = ds[3]
    assert item["frames"].shape == (4, 3, 16, 8) and item["frames"].dtype == torch.float32
    assert item["frames"].min() >= 0 and item["frames"].max() <= 255
    assert item["label"].dtype == torch.int64 and item["label"].item() == 0
    assert item["camid"].item() == 4 and item["index"] == 3
    assert "attributes" not in item
    ids = _frame_ids(item["frames"])
    assert ids == sorted(ids) and len(set(ids)) == 4 and max(ids) < 13
    assert _frame_ids(ds[2]["frames"]) == [0, 0, 1, 1]  # a 2-frame tracklet padded in order
    assert _frame_ids(ds[-1]["frames"]) == _frame_ids(ds[4]["frames"])
    with pytest.raises(IndexError):
        ds[5]


def test_train_clips_are_a_function_of_seed_epoch_index(tracklets):
    ds = VideoTrainDataset(tracklets, seq_len=4, sampling="random", size=SIZE, seed=1)
    first = _frame_ids(ds[0]["frames"])
    assert _frame_ids(ds[0]["frames"]) == first
    epochs = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        epochs.add(tuple(_frame_ids(ds[0]["frames"])))
    assert len(epochs) > 1
    resumed = VideoTrainDataset(tracklets, seq_len=4, sampling="random", size=SIZE, seed=1)
    resumed.set_epoch(5)
    assert _frame_ids(resumed[0]["frames"]) == _frame_ids(ds[0]["frames"])
    ds.set_epoch(0)
    assert _frame_ids(ds[0]["frames"]) == first


def test_attributes_with_schema_and_missing_ones(tracklets):
    ds = VideoTrainDataset(tracklets, size=SIZE, attribute_schema=SCHEMA)
    assert ds[0]["attributes"].tolist() == [1, 2]
    assert ds[0]["attributes"].dtype == torch.int64
    assert ds[1]["attributes"].tolist() == [-1, -1]
    bad = [tracklets[0], Tracklet(frames=tracklets[1].frames, pid=3, camid=2, tid="x", attributes=(1, 2, 3))]
    with pytest.raises(ValueError, match=r"\(3, 2, 'x'\).*3 attributes.*expects 2"):
        VideoTrainDataset(bad, size=SIZE, attribute_schema=SCHEMA)


def test_transform_is_applied(tracklets):
    plain = VideoTrainDataset(tracklets, size=SIZE)
    flipped = VideoTrainDataset(tracklets, size=SIZE, transform=RandomHorizontalFlip(p=1.0))
    torch.testing.assert_close(flipped[1]["frames"], plain[1]["frames"].flip(-1))


def test_train_dataset_rejects_bad_input(tracklets):
    with pytest.raises(ValueError, match="random, restricted"):
        VideoTrainDataset(tracklets, sampling="dense")
    with pytest.raises(ValueError, match="at least one tracklet"):
        VideoTrainDataset([])
    empty = Tracklet(frames=(), pid=1, camid=1, tid="9")
    with pytest.raises(ValueError, match="no frames"):
        VideoTrainDataset([empty])


def test_loader_with_pk_sampler_builds_pk_batches(tracklets):
    ds = VideoTrainDataset(tracklets, seq_len=4, size=SIZE, attribute_schema=SCHEMA)
    sampler = PKSampler(ds.labels, p=2, k=2)
    batch = next(iter(DataLoader(ds, batch_size=sampler.batch_size, sampler=sampler)))
    assert batch["frames"].shape == (4, 4, 3, 16, 8)
    assert batch["label"].shape == (4,) and batch["attributes"].shape == (4, 2)
    assert len(set(batch["label"].tolist())) == 2


def test_persistent_workers_follow_set_epoch(tracklets):
    ds = VideoTrainDataset(tracklets, seq_len=4, sampling="random", size=SIZE, seed=3)
    loader = DataLoader(ds, batch_size=5, num_workers=1, persistent_workers=True)
    for epoch in (0, 4):
        ds.set_epoch(epoch)
        batch = next(iter(loader))
        expected = torch.stack([ds[i]["frames"] for i in range(5)])
        torch.testing.assert_close(batch["frames"], expected)


def test_test_dataset_streams_every_clip_with_its_owner(tracklets):
    ds = VideoTestDataset(tracklets, seq_len=4, mode="dense", size=SIZE)
    # 20, 9, 2, 13, 6 frames -> 5, 3, 1, 4, 2 clips
    assert len(ds) == 15
    assert ds.clip_owner.tolist() == [0] * 5 + [1] * 3 + [2] + [3] * 4 + [4] * 2
    frames = [_frame_ids(ds[i]["frames"]) for i in range(5, 8)]
    assert frames == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 8, 8, 8]]
    item = ds[8]
    assert item["pid"].item() == 11 and item["camid"].item() == 1 and item["tracklet"] == 2
    assert item["index"] == 8 and item["frames"].shape == (4, 3, 16, 8)


def test_test_dataset_modes(tracklets):
    evenly = VideoTestDataset(tracklets, seq_len=4, mode="evenly", size=SIZE)
    assert len(evenly) == 5 and evenly.clip_owner.tolist() == [0, 1, 2, 3, 4]
    capped = VideoTestDataset(tracklets, seq_len=4, mode="dense", size=SIZE, max_clips=2)
    assert np.bincount(capped.clip_owner).tolist() == [2, 2, 1, 2, 2]
    every = VideoTestDataset(tracklets, mode="all", size=SIZE)
    assert _frame_ids(every[1]["frames"]) == list(range(9))
    batch = next(iter(DataLoader(every, batch_size=1)))
    assert batch["frames"].shape == (1, 20, 3, 16, 8)
    with pytest.raises(ValueError, match="evenly, dense, all"):
        VideoTestDataset(tracklets, mode="restricted")


def test_augmentations_are_a_function_of_seed_epoch_index(tracklets):
    from reid_train.data.transforms import build_train_transform

    ds = VideoTrainDataset(tracklets, seq_len=4, size=(32, 16), transform=build_train_transform((32, 16), pad=4),
                           seed=3)
    first = ds[1]["frames"]
    torch.manual_seed(12345)  # unrelated global RNG use must not change the clip
    torch.rand(7)
    assert torch.equal(ds[1]["frames"], first)
    ds.set_epoch(1)
    assert not all(torch.equal(ds[1]["frames"], first) for _ in range(1))

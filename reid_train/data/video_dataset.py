"""Torch datasets over tracklets: one random clip per tracklet for training, every test clip for testing."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from reid_runtime.data.attribute_schema import AttributeSchema
from reid_runtime.data.frames import load_clip
from reid_runtime.data.sampling import TEST_MODES, TRAIN_MODES, sample_test_clips, sample_train_indices
from reid_runtime.data.tracklet import Tracklet

ClipTransform = Callable[[torch.Tensor], torch.Tensor]


def _check_tracklets(tracklets: Sequence[Tracklet]) -> None:
    if len(tracklets) == 0:
        raise ValueError("the dataset needs at least one tracklet, got none")
    for tracklet in tracklets:
        if len(tracklet) == 0:
            raise ValueError(f"tracklet {tracklet.key} has no frames")


def _load_frames(tracklet: Tracklet, indices: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """``(T, 3, H, W)`` float32 0..255; a frame repeated in ``indices`` is decoded once."""
    unique, inverse = np.unique(indices, return_inverse=True)
    clip = load_clip([tracklet.frames[i] for i in unique], size)[inverse]
    return torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 3, 1, 2), dtype=np.float32))


class VideoTrainDataset(Dataset):
    """One clip of ``seq_len`` frames per tracklet, drawn anew each epoch.

    Raw pids are relabelled ``0..num_classes-1`` in sorted pid order (``labels`` per tracklet, e.g. for
    ``PKSampler``). The frame indices of item ``i`` are drawn from an RNG seeded with
    ``(seed, epoch, i)``, so a resumed run reproduces its clips, whatever the number of DataLoader workers.
    Call ``set_epoch`` before iterating each epoch; the epoch lives in shared memory, so persistent
    workers see the change. Items are dicts: ``frames`` ``(T, 3, H, W)`` float32 in 0..255 (after
    ``transform``), ``label``, ``camid`` and ``index`` int64, and with an ``attribute_schema`` also
    ``attributes`` ``(n_attr,)`` int64, all -1 for a tracklet without annotation.
    """

    def __init__(
        self,
        tracklets: Sequence[Tracklet],
        seq_len: int = 4,
        sampling: str = "restricted",
        size: tuple[int, int] = (256, 128),
        transform: ClipTransform | None = None,
        attribute_schema: AttributeSchema | None = None,
        seed: int = 0,
    ) -> None:
        _check_tracklets(tracklets)
        if sampling not in TRAIN_MODES:
            raise ValueError(f"unknown training sampling {sampling!r}; expected one of {', '.join(TRAIN_MODES)}")
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if attribute_schema is not None:
            n_attr = len(attribute_schema.columns)
            for tracklet in tracklets:
                if tracklet.attributes is not None and len(tracklet.attributes) != n_attr:
                    raise ValueError(
                        f"tracklet {tracklet.key} has {len(tracklet.attributes)} attributes, "
                        f"schema {attribute_schema.name!r} expects {n_attr}"
                    )
        self.tracklets = list(tracklets)
        self.seq_len = seq_len
        self.sampling = sampling
        self.size = size
        self.transform = transform
        self.attribute_schema = attribute_schema
        self.seed = seed
        pids = sorted({t.pid for t in self.tracklets})
        self.pid_to_label: dict[int, int] = {pid: label for label, pid in enumerate(pids)}
        self.num_classes = len(pids)
        self.labels = np.array([self.pid_to_label[t.pid] for t in self.tracklets], dtype=np.int64)
        # A shared-memory tensor, not an int: DataLoader workers hold copies of the dataset, and a
        # persistent worker would otherwise keep the epoch it was started with.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._epoch.fill_(epoch)

    def __len__(self) -> int:
        return len(self.tracklets)

    def __getitem__(self, index: int) -> dict:
        index = range(len(self))[index]  # IndexError when out of range; negative indices count from the end
        tracklet = self.tracklets[index]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        indices = sample_train_indices(len(tracklet), self.seq_len, self.sampling, rng)
        frames = _load_frames(tracklet, indices, self.size)
        if self.transform is not None:
            # Augmentations draw from torch's RNG seeded by (seed, epoch, index): a clip is the same in any worker
            # and after a resume, whatever ran before it.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(rng.integers(2**63 - 1)))
                frames = self.transform(frames)
        item = {
            "frames": frames,
            "label": torch.tensor(self.labels[index], dtype=torch.int64),
            "camid": torch.tensor(tracklet.camid, dtype=torch.int64),
            "index": index,
        }
        if self.attribute_schema is not None:
            n_attr = len(self.attribute_schema.columns)
            values = tracklet.attributes if tracklet.attributes is not None else (-1,) * n_attr
            item["attributes"] = torch.tensor(values, dtype=torch.int64)
        return item


class VideoTestDataset(Dataset):
    """One item per (tracklet, clip) of ``sample_test_clips``, so a loader streams clips of any tracklet.

    ``clip_owner[i]`` is the tracklet index of item ``i``: average the clip features of each tracklet
    with it. Items are dicts: ``frames`` ``(T, 3, H, W)`` float32 in 0..255, raw ``pid`` and ``camid``
    int64, ``tracklet`` (owner index) and ``index``. With ``mode="all"`` clips differ in length, so
    load them with ``batch_size=1``.
    """

    def __init__(
        self,
        tracklets: Sequence[Tracklet],
        seq_len: int = 4,
        mode: str = "dense",
        size: tuple[int, int] = (256, 128),
        transform: ClipTransform | None = None,
        max_clips: int | None = None,
    ) -> None:
        _check_tracklets(tracklets)
        if mode not in TEST_MODES:
            raise ValueError(f"unknown test sampling {mode!r}; expected one of {', '.join(TEST_MODES)}")
        self.tracklets = list(tracklets)
        self.seq_len = seq_len
        self.mode = mode
        self.size = size
        self.transform = transform
        self._clips = [sample_test_clips(len(t), seq_len, mode, max_clips) for t in self.tracklets]
        counts = np.array([len(c) for c in self._clips], dtype=np.int64)
        self.clip_owner = np.repeat(np.arange(len(self.tracklets), dtype=np.int64), counts)
        first_item = np.cumsum(counts) - counts
        self._clip_row = np.arange(len(self.clip_owner), dtype=np.int64) - np.repeat(first_item, counts)

    def __len__(self) -> int:
        return len(self.clip_owner)

    def __getitem__(self, index: int) -> dict:
        index = range(len(self))[index]
        owner = int(self.clip_owner[index])
        tracklet = self.tracklets[owner]
        frames = _load_frames(tracklet, self._clips[owner][self._clip_row[index]], self.size)
        if self.transform is not None:
            frames = self.transform(frames)
        return {
            "frames": frames,
            "pid": torch.tensor(tracklet.pid, dtype=torch.int64),
            "camid": torch.tensor(tracklet.camid, dtype=torch.int64),
            "tracklet": owner,
            "index": index,
        }

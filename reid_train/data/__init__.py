"""Torch datasets, clip augmentations and the identity-balanced sampler for training."""

from reid_train.data.pk_sampler import PKSampler
from reid_train.data.transforms import build_test_transform, build_train_transform
from reid_train.data.video_dataset import VideoTestDataset, VideoTrainDataset

__all__ = [
    "PKSampler",
    "VideoTestDataset",
    "VideoTrainDataset",
    "build_test_transform",
    "build_train_transform",
]

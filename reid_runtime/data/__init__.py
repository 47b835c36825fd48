"""Datasets in their real on-disk layouts, tracklet records, temporal sampling and frame decoding."""

from reid_runtime.data.registry import DATASETS, load_dataset
from reid_runtime.data.sampling import TEST_MODES, TRAIN_MODES, sample_test_clips, sample_train_indices
from reid_runtime.data.summary import format_summary, summarize
from reid_runtime.data.tracklet import DatasetSplits, Tracklet

__all__ = [
    "DATASETS",
    "DatasetSplits",
    "TEST_MODES",
    "TRAIN_MODES",
    "Tracklet",
    "format_summary",
    "load_dataset",
    "sample_test_clips",
    "sample_train_indices",
    "summarize",
]

"""Datasets in their real on-disk layouts, tracklet records and temporal sampling."""

from reid_runtime.data.tracklet import DatasetSplits, Tracklet

__all__ = ["DatasetSplits", "Tracklet"]

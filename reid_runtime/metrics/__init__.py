"""Evaluation in numpy: CMC / mAP / mINP under the MARS protocols, distances, re-ranking, attribute scores."""

from reid_runtime.metrics.attributes import attribute_metrics
from reid_runtime.metrics.distance import l2_normalize, pairwise_distance
from reid_runtime.metrics.ranking import PROTOCOLS, evaluate_ranking
from reid_runtime.metrics.rerank import re_rank

__all__ = ["PROTOCOLS", "attribute_metrics", "evaluate_ranking", "l2_normalize", "pairwise_distance", "re_rank"]

"""Training losses: softmax / label smoothing, batch-hard triplet, AITL, attribute losses, STA inter-frame term."""

from reid_train.losses.aitl import AITLLoss
from reid_train.losses.attribute import AttributeLoss, attribute_one_hot
from reid_train.losses.cross_entropy import CrossEntropyLabelSmooth
from reid_train.losses.distance import cosine_distance, euclidean_distance, pairwise_distance
from reid_train.losses.inter_frame import inter_frame_regularization
from reid_train.losses.triplet import BatchHardTripletLoss

__all__ = [
    "AITLLoss",
    "AttributeLoss",
    "BatchHardTripletLoss",
    "CrossEntropyLabelSmooth",
    "attribute_one_hot",
    "cosine_distance",
    "euclidean_distance",
    "inter_frame_regularization",
    "pairwise_distance",
]

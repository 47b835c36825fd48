"""Attribute recognition losses (AITL/ASTA): BCE over a group's concatenated one-hot, or one CE per attribute."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ATTRIBUTE_LOSS_MODES: tuple[str, ...] = ("bce", "ce")


def check_group_classes(group_classes: Sequence[int]) -> tuple[int, ...]:
    classes = tuple(int(c) for c in group_classes)
    if not classes or any(c < 2 for c in classes):
        raise ValueError(f"group_classes must be a non-empty list of class counts >= 2, got {list(group_classes)}")
    return classes


def check_attribute_labels(attributes: Tensor, classes: Sequence[int]) -> None:
    """Raise ValueError unless ``attributes`` is an integer (B, len(classes)) tensor with values in [-1, C_k)."""
    if attributes.dim() != 2 or attributes.shape[1] != len(classes):
        raise ValueError(f"expected attribute labels of shape (B, {len(classes)}), got {tuple(attributes.shape)}")
    if attributes.dtype.is_floating_point or attributes.dtype == torch.bool:
        raise ValueError(f"attribute labels must be an integer tensor, got {attributes.dtype}")
    upper = torch.tensor(classes, device=attributes.device)
    bad = (attributes < -1) | (attributes >= upper)
    if bool(bad.any()):
        row, col = (int(i) for i in bad.nonzero()[0])
        raise ValueError(f"attribute column {col} of row {row} is {int(attributes[row, col])}; expected -1 (missing) "
                         f"or a class index in [0, {classes[col]})")


def attribute_one_hot(attributes: Tensor, classes: Sequence[int]) -> Tensor:
    """(B, n_attr) class indices -> (B, sum(classes)) float concatenation of the per-attribute one-hots.

    A missing entry (-1) gives an all-zero block for that attribute.
    """
    check_attribute_labels(attributes, classes)
    blocks = [F.one_hot(attributes[:, k].clamp_min(0).long(), c) * (attributes[:, k:k + 1] >= 0)
              for k, c in enumerate(classes)]
    return torch.cat(blocks, dim=1).float()


class AttributeLoss(nn.Module):
    """Loss of one attribute group's classifier.

    - ``mode="bce"`` (AITL's default): the group's attributes become one multi-hot target (the concatenated one-hot of
      every attribute) and ``BCEWithLogits`` is averaged over the group's logits.
    - ``mode="ce"``: one softmax cross entropy per attribute, on its slice of the logits, averaged over attributes.

    Labels of -1 mean "not annotated" and are ignored (a whole row of -1 is a tracklet without annotation); the
    averages run over annotated entries only. A batch without any annotation gives 0 (with a graph).
    """

    def __init__(self, group_classes: Sequence[int], mode: str = "bce") -> None:
        super().__init__()
        if mode not in ATTRIBUTE_LOSS_MODES:
            raise ValueError(f"mode must be one of {ATTRIBUTE_LOSS_MODES}, got {mode!r}")
        self.group_classes = check_group_classes(group_classes)
        self.mode = mode

    def forward(self, logits: Tensor, attributes: Tensor) -> Tensor:
        """logits (B, sum(group_classes)), attributes (B, n_attr) integer labels, -1 for missing."""
        width = sum(self.group_classes)
        if logits.dim() != 2 or logits.shape[1] != width:
            raise ValueError(f"expected attribute logits of shape (B, {width}), got {tuple(logits.shape)}")
        if attributes.shape[:1] != logits.shape[:1]:
            raise ValueError(f"attribute labels have {attributes.shape[0]} rows but the logits {logits.shape[0]}")
        check_attribute_labels(attributes, self.group_classes)
        if self.mode == "bce":
            return self._bce(logits, attributes)
        return self._ce(logits, attributes)

    def _bce(self, logits: Tensor, attributes: Tensor) -> Tensor:
        target = attribute_one_hot(attributes, self.group_classes).to(logits.dtype)
        sizes = torch.tensor(self.group_classes, device=attributes.device)
        observed = (attributes >= 0).repeat_interleave(sizes, dim=1)
        if not bool(observed.any()):
            return logits.sum() * 0.0
        losses = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return losses[observed].mean()

    def _ce(self, logits: Tensor, attributes: Tensor) -> Tensor:
        per_attribute = []
        for k, block in enumerate(logits.split(self.group_classes, dim=1)):
            observed = attributes[:, k] >= 0
            if bool(observed.any()):
                per_attribute.append(F.cross_entropy(block[observed], attributes[observed, k].long()))
        if not per_attribute:
            return logits.sum() * 0.0
        return torch.stack(per_attribute).mean()

    def predict(self, logits: Tensor) -> Tensor:
        """The predicted attribute vector the loss trains towards (B, sum(group_classes)), detached: per-output
        sigmoids (``bce``) or one softmax per attribute (``ce``). AITL selects its positives with it."""
        logits = logits.detach().float()
        if self.mode == "bce":
            return torch.sigmoid(logits)
        return torch.cat([block.softmax(dim=1) for block in logits.split(self.group_classes, dim=1)], dim=1)

    def extra_repr(self) -> str:
        return f"group_classes={list(self.group_classes)}, mode={self.mode!r}"

"""The training objective: the papers' loss terms combined with the recipe's weights.

STA (Fu et al. Eq. 7, 11): softmax + batch-hard triplet + lambda * inter-frame regularization.
ASTA (Chen et al.): L = L_BCE (attributes) + L_tri + L_softmax + L_AITL. AITL picks each anchor's intra-class
positive and negative by the distance between attribute vectors: by default the ID-irrelevant vectors the model
predicts (``loss.aitl_selection: predicted``, the paper's g_gamma, Section 3), or the ground-truth labels
(``labels``, one-hot: discrete, so anchors whose candidates all carry the same labels tie and get no term).
TP: softmax + batch-hard triplet.
"""

from __future__ import annotations

import torch
from torch import nn

from reid_train.losses import (
    AITLLoss,
    AttributeLoss,
    BatchHardTripletLoss,
    CrossEntropyLabelSmooth,
    inter_frame_regularization,
)


class Objective(nn.Module):
    """Turns the model's training outputs and a batch into the total loss and its named terms."""

    def __init__(self, loss_cfg: dict, num_classes: int, attribute_schema=None):
        super().__init__()
        self.cfg = dict(loss_cfg)
        self.ce = CrossEntropyLabelSmooth(num_classes, epsilon=self.cfg["label_smooth"])
        self.triplet = BatchHardTripletLoss(margin=self.cfg["triplet_margin"], metric=self.cfg["triplet_metric"])
        self.aitl = None
        self.attribute_losses = None
        self.irrelevant_columns: list[int] = []
        if self.cfg["aitl_weight"] > 0 or self.cfg["attribute_weight"] > 0:
            if attribute_schema is None:
                raise ValueError("the AITL and attribute losses need attribute annotations (an attribute CSV)")
            self.irrelevant_columns = attribute_schema.indices(0)
            self.group_columns = [attribute_schema.indices(0), attribute_schema.indices(1)]
        if self.cfg["aitl_weight"] > 0:
            # The batch-hard inter-class term is the separate `triplet` term above (L = BCE + tri + softmax + AITL).
            self.aitl = AITLLoss(attribute_classes=attribute_schema.group_classes(0), inter_class=False)
        if self.cfg["attribute_weight"] > 0 or self.aitl is not None:
            self.attribute_losses = nn.ModuleList(
                AttributeLoss(attribute_schema.group_classes(g), mode=self.cfg["attribute_mode"]) for g in (0, 1)
            )

    def forward(self, out: dict, batch: dict, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        labels = batch["label"]
        terms: dict[str, torch.Tensor] = {}
        if self.cfg["ce_weight"] > 0:
            terms["ce"] = self.cfg["ce_weight"] * self.ce(out["logits"].float(), labels)
        if self.cfg["triplet_weight"] > 0:
            terms["triplet"] = self.cfg["triplet_weight"] * self.triplet(out["embedding"].float(), labels)
        if self.cfg["inter_frame_weight"] > 0 and "attention" in out:
            reg = inter_frame_regularization(out["attention"].float(), generator=generator)
            terms["inter_frame"] = self.cfg["inter_frame_weight"] * reg
        if self.aitl is not None:
            if self.cfg["aitl_selection"] == "labels":
                attrs = batch["attributes"][:, self.irrelevant_columns]
            elif "attr_logits" in out:
                attrs = self.attribute_losses[0].predict(out["attr_logits"][0])
            else:
                raise ValueError("AITL selects on predicted attributes (loss.aitl_selection: predicted), but the model "
                                 "predicts none: use an asta_* model, or set loss.aitl_selection=labels")
            terms["aitl"] = self.cfg["aitl_weight"] * self.aitl(out["embedding"].float(), labels, attrs)
        if self.cfg["attribute_weight"] > 0:
            attr_total = sum(
                loss(logits.float(), batch["attributes"][:, cols])
                for loss, logits, cols in zip(self.attribute_losses, out["attr_logits"], self.group_columns)
            )
            terms["attribute"] = self.cfg["attribute_weight"] * attr_total
        total = sum(terms.values())
        return total, {name: float(value.detach()) for name, value in terms.items()}

"""The training objective: which terms a recipe turns on, and what AITL selects its positives by."""

from __future__ import annotations

import pytest
import torch

from reid_runtime.data.attribute_schema import SCHEMAS
from reid_train.engine.config import DEFAULTS
from reid_train.engine.objective import Objective
from reid_train.losses import AITLLoss

SCHEMA = SCHEMAS["mars"]


def _batch_and_outputs(seed: int = 0) -> tuple[dict, dict]:
    """Two identities x three clips, random embeddings, ground-truth attribute labels and attribute logits."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    attributes = torch.stack([torch.randint(0, c, (6,), generator=generator)
                              for c in SCHEMA.group_classes(0) + SCHEMA.group_classes(1)], dim=1)
    logits = tuple(torch.randn(6, sum(SCHEMA.group_classes(g)), generator=generator) * 3 for g in (0, 1))
    out = {"embedding": torch.randn(6, 16, generator=generator), "logits": torch.randn(6, 2, generator=generator),
           "attr_logits": logits}
    return {"label": labels, "attributes": attributes}, out


def _objective(**loss: object) -> Objective:
    return Objective({**DEFAULTS["loss"], "ce_weight": 0.0, "triplet_weight": 0.0, **loss}, 2, attribute_schema=SCHEMA)


@pytest.mark.parametrize("mode", ["bce", "ce"])
def test_aitl_selects_by_the_predicted_id_irrelevant_attributes_by_default(mode: str) -> None:
    batch, out = _batch_and_outputs()
    objective = _objective(aitl_weight=1.0, attribute_mode=mode)
    _, terms = objective(out, batch)
    assert set(terms) == {"aitl"}  # attribute_weight 0: no BCE term, the streams only predict for the selection
    logits = out["attr_logits"][0]
    if mode == "bce":
        predicted = torch.sigmoid(logits)
    else:
        predicted = torch.cat([b.softmax(dim=1) for b in logits.split(SCHEMA.group_classes(0), dim=1)], dim=1)
    reference = AITLLoss(SCHEMA.group_classes(0), inter_class=False)
    assert terms["aitl"] == pytest.approx(float(reference(out["embedding"], batch["label"], predicted)))
    assert torch.equal(reference.select(batch["label"], predicted)[0],
                       reference.select(batch["label"], objective.attribute_losses[0].predict(logits))[0])


def test_ground_truth_selection_is_a_named_option_and_selects_differently() -> None:
    differ = 0
    for seed in range(10):
        batch, out = _batch_and_outputs(seed)
        labels_term = _objective(aitl_weight=1.0, aitl_selection="labels")(out, batch)[1]["aitl"]
        truth = batch["attributes"][:, SCHEMA.indices(0)]
        reference = AITLLoss(SCHEMA.group_classes(0), inter_class=False)
        assert labels_term == pytest.approx(float(reference(out["embedding"], batch["label"], truth)))
        differ += labels_term != pytest.approx(_objective(aitl_weight=1.0)(out, batch)[1]["aitl"])
    assert differ >= 5  # the two readings pick other positives on most random batches


def test_predicted_selection_needs_a_model_with_attribute_streams() -> None:
    batch, out = _batch_and_outputs()
    del out["attr_logits"]
    with pytest.raises(ValueError, match="asta_.*aitl_selection=labels"):
        _objective(aitl_weight=1.0)(out, batch)
    assert "aitl" in _objective(aitl_weight=1.0, aitl_selection="labels")(out, batch)[1]


def test_attribute_term_follows_its_weight() -> None:
    batch, out = _batch_and_outputs()
    _, terms = _objective(aitl_weight=1.0, attribute_weight=0.5)(out, batch)
    assert set(terms) == {"aitl", "attribute"} and terms["attribute"] > 0

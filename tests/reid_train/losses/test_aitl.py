import math

import pytest
import torch

from reid_train.losses import AITLLoss, BatchHardTripletLoss, attribute_one_hot

CLASSES = [3, 2, 2, 2]
LABELS = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
# With 4 attributes, AD = 1 - (matching attributes) / 4.
ATTRIBUTES = torch.tensor([
    [0, 0, 0, 0],
    [0, 0, 0, 1],      # AD to sample 0: 0.25 -> attribute positive of anchor 0
    [1, 1, 1, 1],      # AD to sample 0: 1.00 -> attribute negative of anchor 0
    [0, 1, 1, 0],      # AD to sample 0: 0.50
    [-1, -1, -1, -1],  # not annotated: never selected, no intra-class term
    [0, 0, 0, 0],      # identical to sample 0 but another identity: never a candidate of anchor 0
    [2, 1, 1, 1],
    [2, 1, 0, 1],
])
# Derived by hand from the table above (ties go to the lowest index).
EXPECTED_AP = {0: 1, 1: 0, 2: 3, 3: 0, 5: 7, 6: 7, 7: 6}
EXPECTED_AN = {0: 2, 1: 2, 2: 0, 3: 1, 5: 6, 6: 5, 7: 5}


def _cosine_distance(u: list[float], v: list[float]) -> float:
    dot = sum(a * b for a, b in zip(u, v))
    return 1.0 - dot / math.sqrt(sum(a * a for a in u) * sum(b * b for b in v))


def _reference_intra(embeddings: torch.Tensor) -> float:
    """Eq. 2 written out over the hand-selected AP / AN, mean over anchors with a term."""
    rows = embeddings.tolist()
    terms = [max(0.0, _cosine_distance(rows[a], rows[EXPECTED_AN[a]]) - _cosine_distance(rows[a], rows[EXPECTED_AP[a]]))
             for a in EXPECTED_AP]
    return sum(terms) / len(terms)


def test_select_picks_attribute_positive_and_negative():
    ap, an, valid = AITLLoss(CLASSES).select(LABELS, ATTRIBUTES)
    assert valid.tolist() == [True, True, True, True, False, True, True, True]
    assert {a: int(ap[a]) for a in EXPECTED_AP} == EXPECTED_AP
    assert {a: int(an[a]) for a in EXPECTED_AN} == EXPECTED_AN


def test_one_hot_vectors_select_like_labels():
    loss = AITLLoss()
    ap, an, valid = loss.select(LABELS, attribute_one_hot(ATTRIBUTES, CLASSES))
    assert valid[4].item() is False
    assert {a: int(ap[a]) for a in EXPECTED_AP} == EXPECTED_AP
    assert {a: int(an[a]) for a in EXPECTED_AN} == EXPECTED_AN


def test_intra_class_term_matches_equation_2():
    torch.manual_seed(0)
    embeddings = torch.randn(8, 5, dtype=torch.double)
    terms = AITLLoss(CLASSES).terms(embeddings, LABELS, ATTRIBUTES)
    assert terms["intra"].item() == pytest.approx(_reference_intra(embeddings), rel=1e-9)


def test_forward_adds_batch_hard_cosine_term():
    torch.manual_seed(1)
    embeddings = torch.randn(8, 5)
    intra = AITLLoss(CLASSES, inter_class=False)(embeddings, LABELS, ATTRIBUTES)
    inter = BatchHardTripletLoss(margin=0.3, metric="cosine")(embeddings, LABELS)
    total = AITLLoss(CLASSES, margin=0.3)(embeddings, LABELS, ATTRIBUTES)
    assert intra.item() == pytest.approx(_reference_intra(embeddings), rel=1e-5)
    torch.testing.assert_close(total, intra + inter)


def test_no_gradient_through_attribute_predictions():
    torch.manual_seed(2)
    embeddings = torch.randn(8, 5, requires_grad=True)
    predictions = torch.rand(8, 9, requires_grad=True)
    AITLLoss(CLASSES)(embeddings, LABELS, predictions).backward()
    assert predictions.grad is None
    assert torch.isfinite(embeddings.grad).all() and embeddings.grad.abs().sum() > 0


def test_identities_with_two_samples_have_no_intra_term():
    embeddings = torch.randn(4, 3, requires_grad=True)
    attributes = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1], [1, 0, 1, 0]])
    loss = AITLLoss(CLASSES, inter_class=False)(embeddings, torch.tensor([0, 0, 1, 1]), attributes)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_dvdp_statistic():
    # One identity at 0, 30 and 90 degrees: per anchor FD(a, FN) - FD(a, FP).
    angles = [0.0, 30.0, 90.0]
    embeddings = torch.tensor([[math.cos(math.radians(d)), math.sin(math.radians(d))] for d in angles])
    d30 = 1 - math.cos(math.radians(30))
    attributes = torch.tensor([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1]])
    terms = AITLLoss(CLASSES).terms(embeddings, torch.tensor([0, 0, 0]), attributes)
    assert terms["dvdp"].item() == pytest.approx(((1 - d30) + (0.5 - d30) + 0.5) / 3, abs=1e-5)
    assert terms["inter"].item() == 0.0


@pytest.mark.parametrize("inter_class", [False, True])
def test_gradcheck(inter_class):
    torch.manual_seed(3)
    embeddings = torch.randn(8, 4, dtype=torch.double, requires_grad=True)
    loss = AITLLoss(CLASSES, margin=0.3, inter_class=inter_class)
    assert torch.autograd.gradcheck(lambda x: loss(x, LABELS, ATTRIBUTES), (embeddings,))


def test_finite_gradient_for_coinciding_embeddings():
    embeddings = torch.randn(8, 4)
    embeddings[1] = embeddings[0]
    embeddings[5] = embeddings[0]
    embeddings.requires_grad_()
    loss = AITLLoss(CLASSES)(embeddings, LABELS, ATTRIBUTES)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(embeddings.grad).all()


def test_rejects_bad_attributes():
    embeddings = torch.randn(8, 4)
    with pytest.raises(ValueError, match="attribute_classes"):
        AITLLoss()(embeddings, LABELS, ATTRIBUTES)
    with pytest.raises(ValueError, match="width 9"):
        AITLLoss(CLASSES)(embeddings, LABELS, torch.rand(8, 5))
    bad = ATTRIBUTES.clone()
    bad[2, 0] = 3
    with pytest.raises(ValueError, match="column 0 of row 2 is 3"):
        AITLLoss(CLASSES)(embeddings, LABELS, bad)

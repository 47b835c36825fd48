import math

import pytest
import torch
import torch.nn.functional as F

from reid_train.losses import BatchHardTripletLoss, cosine_distance, euclidean_distance


def _line(*xs: float) -> torch.Tensor:
    return torch.tensor([[x, 0.0] for x in xs])


def _angles(*degrees: float) -> torch.Tensor:
    return torch.tensor([[math.cos(math.radians(d)), math.sin(math.radians(d))] for d in degrees])


def test_euclidean_two_ids_by_hand():
    # id 0 at x = 0, 1; id 1 at x = 3, 5. Only anchor x=3 violates the margin: 2 - 2 + 0.5.
    embeddings, labels = _line(0, 1, 3, 5), torch.tensor([0, 0, 1, 1])
    loss = BatchHardTripletLoss(margin=0.5)
    assert loss(embeddings, labels).item() == pytest.approx(0.5 / 4, abs=1e-5)
    pos, neg, valid = loss.mine(embeddings, labels)
    assert pos.tolist() == [1, 0, 3, 2]
    assert neg.tolist() == [2, 2, 1, 1]
    assert valid.all()


def test_cosine_two_ids_by_hand():
    # id 0 at 0 and 90 degrees, id 1 at 180 and 60 degrees; distance = 1 - cos(angle between).
    embeddings, labels = _angles(0, 90, 180, 60), torch.tensor([0, 0, 1, 1])
    d30 = 1 - math.cos(math.radians(30))
    expected = [1 - 0.5 + 0.3, 1 - d30 + 0.3, 1.5 - 1 + 0.3, 1.5 - d30 + 0.3]
    loss = BatchHardTripletLoss(margin=0.3, metric="cosine")
    assert loss(embeddings, labels).item() == pytest.approx(sum(expected) / 4, abs=1e-5)
    pos, neg, _ = loss.mine(embeddings, labels)
    assert pos.tolist() == [1, 0, 3, 2]
    assert neg.tolist() == [3, 3, 1, 1]


def test_soft_margin():
    embeddings, labels = _line(0, 1, 3, 5), torch.tensor([0, 0, 1, 1])
    gaps = torch.tensor([1.0 - 3, 1 - 2, 2 - 2, 2 - 4])
    loss = BatchHardTripletLoss(soft=True)(embeddings, labels)
    torch.testing.assert_close(loss, F.softplus(gaps).mean(), atol=1e-5, rtol=1e-5)


def test_anchor_without_positive_is_excluded():
    # Anchor x=2.5 (id 1) has no positive: the mean runs over the two id-0 anchors: (0 + (2 - 0.5 + 0.3)) / 2.
    loss = BatchHardTripletLoss(margin=0.3)(_line(0, 2, 2.5), torch.tensor([0, 0, 1]))
    assert loss.item() == pytest.approx(0.9, abs=1e-5)


@pytest.mark.parametrize("labels", [[3, 3, 3, 3], [0, 1, 2, 3]])
def test_all_anchors_excluded_gives_zero_with_graph(labels):
    embeddings = torch.randn(4, 3, requires_grad=True)
    loss = BatchHardTripletLoss()(embeddings, torch.tensor(labels))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_invariant_to_batch_permutation(metric):
    torch.manual_seed(0)
    embeddings, labels = torch.randn(9, 4), torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    loss = BatchHardTripletLoss(metric=metric)
    perm = torch.randperm(9)
    torch.testing.assert_close(loss(embeddings[perm], labels[perm]), loss(embeddings, labels))


def test_cosine_invariant_to_scaling():
    torch.manual_seed(1)
    embeddings, labels = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
    scale = torch.rand(6, 1) * 10 + 0.1
    loss = BatchHardTripletLoss(metric="cosine")
    torch.testing.assert_close(loss(embeddings * scale, labels), loss(embeddings, labels))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("soft", [False, True])
def test_gradcheck(metric, soft):
    torch.manual_seed(2)
    # Well separated random points: no ties among the hardest pairs, no hinge at its kink.
    embeddings = (torch.randn(6, 3, dtype=torch.double) * 3).requires_grad_()
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = BatchHardTripletLoss(margin=0.3, metric=metric, soft=soft)
    assert torch.autograd.gradcheck(lambda x: loss(x, labels), (embeddings,))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_finite_gradient_at_zero_distance(metric):
    embeddings = torch.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [-3.0, 0.5]], requires_grad=True)
    loss = BatchHardTripletLoss(margin=0.3, metric=metric)(embeddings, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(embeddings.grad).all()


def test_distance_functions():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    torch.testing.assert_close(euclidean_distance(x, x), torch.tensor([[0.0, 5.0], [5.0, 0.0]]), atol=1e-5, rtol=0)
    torch.testing.assert_close(euclidean_distance(x, x, squared=True), torch.tensor([[0.0, 25.0], [25.0, 0.0]]))
    torch.testing.assert_close(cosine_distance(_angles(0), _angles(90, 180)), torch.tensor([[1.0, 2.0]]))


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="metric"):
        BatchHardTripletLoss(metric="manhattan")
    with pytest.raises(ValueError, match="labels"):
        BatchHardTripletLoss()(torch.zeros(4, 2), torch.zeros(3, dtype=torch.long))

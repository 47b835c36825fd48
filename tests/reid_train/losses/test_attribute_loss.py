import pytest
import torch
import torch.nn.functional as F

from reid_runtime.data.attribute_schema import MARS_ATTRIBUTES
from reid_train.losses import AttributeLoss, attribute_one_hot

CLASSES = [3, 2]
ATTRIBUTES = torch.tensor([[2, 0], [1, 1], [0, 1]])


def test_one_hot_per_group():
    expected = torch.tensor([[0, 0, 1, 1, 0], [0, 1, 0, 0, 1], [1, 0, 0, 0, 1]], dtype=torch.float)
    assert torch.equal(attribute_one_hot(ATTRIBUTES, CLASSES), expected)
    assert attribute_one_hot(torch.tensor([[-1, 1]]), CLASSES).tolist() == [[0, 0, 0, 0, 1]]


def test_bce_equals_manual_one_hot_bce():
    torch.manual_seed(0)
    logits = torch.randn(3, 5)
    target = torch.tensor([[0, 0, 1, 1, 0], [0, 1, 0, 0, 1], [1, 0, 0, 0, 1]], dtype=torch.float)
    p = torch.sigmoid(logits)
    manual = -(target * p.log() + (1 - target) * (1 - p).log()).mean()
    torch.testing.assert_close(AttributeLoss(CLASSES, "bce")(logits, ATTRIBUTES), manual)


def test_ce_is_mean_of_per_attribute_cross_entropy():
    torch.manual_seed(1)
    logits = torch.randn(3, 5)
    expected = (F.cross_entropy(logits[:, :3], ATTRIBUTES[:, 0]) + F.cross_entropy(logits[:, 3:], ATTRIBUTES[:, 1])) / 2
    torch.testing.assert_close(AttributeLoss(CLASSES, "ce")(logits, ATTRIBUTES), expected)


@pytest.mark.parametrize("mode", ["bce", "ce"])
def test_missing_rows_are_ignored(mode):
    torch.manual_seed(2)
    logits = torch.randn(4, 5)
    with_missing = torch.cat([ATTRIBUTES, torch.tensor([[-1, -1]])])
    loss = AttributeLoss(CLASSES, mode)
    torch.testing.assert_close(loss(logits, with_missing), loss(logits[:3], ATTRIBUTES))


@pytest.mark.parametrize("mode", ["bce", "ce"])
def test_all_missing_gives_zero_with_graph(mode):
    logits = torch.randn(2, 5, requires_grad=True)
    loss = AttributeLoss(CLASSES, mode)(logits, torch.full((2, 2), -1))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


@pytest.mark.parametrize("mode", ["bce", "ce"])
def test_gradcheck(mode):
    torch.manual_seed(3)
    logits = torch.randn(3, 5, dtype=torch.double, requires_grad=True)
    loss = AttributeLoss(CLASSES, mode)
    assert torch.autograd.gradcheck(lambda x: loss(x, ATTRIBUTES), (logits,))


def test_mars_id_irrelevant_group_width():
    classes = MARS_ATTRIBUTES.group_classes(0)
    labels = torch.zeros(2, len(classes), dtype=torch.long)
    loss = AttributeLoss(classes)(torch.zeros(2, MARS_ATTRIBUTES.one_hot_size(0)), labels)
    assert loss.item() == pytest.approx(F.binary_cross_entropy_with_logits(torch.zeros(1), torch.ones(1)).item())


def test_rejects_bad_input():
    loss = AttributeLoss(CLASSES)
    with pytest.raises(ValueError, match=r"\(B, 5\)"):
        loss(torch.zeros(3, 4), ATTRIBUTES)
    with pytest.raises(ValueError, match="column 1 of row 0 is 2"):
        loss(torch.zeros(1, 5), torch.tensor([[0, 2]]))
    with pytest.raises(ValueError, match="integer"):
        loss(torch.zeros(3, 5), ATTRIBUTES.float())
    with pytest.raises(ValueError, match="mode"):
        AttributeLoss(CLASSES, "mce")

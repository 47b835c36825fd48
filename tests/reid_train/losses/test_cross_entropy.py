import math

import pytest
import torch
import torch.nn.functional as F

from reid_train.losses import CrossEntropyLabelSmooth


def test_epsilon_zero_equals_cross_entropy():
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 5), torch.randint(0, 5, (6,))
    loss = CrossEntropyLabelSmooth(5, epsilon=0.0)(logits, targets)
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets))


def test_known_logit_vector():
    # softmax([0, ln 2, 0]) = [1/4, 1/2, 1/4]; target 1, epsilon 0.3 -> q = [0.1, 0.8, 0.1]
    # loss = -(0.1 ln 1/4 + 0.8 ln 1/2 + 0.1 ln 1/4) = 1.2 ln 2
    logits = torch.tensor([[0.0, math.log(2.0), 0.0]])
    loss = CrossEntropyLabelSmooth(3, epsilon=0.3)(logits, torch.tensor([1]))
    assert loss.item() == pytest.approx(1.2 * math.log(2.0), rel=1e-6)


def test_matches_torch_label_smoothing():
    torch.manual_seed(1)
    logits, targets = torch.randn(8, 7), torch.randint(0, 7, (8,))
    loss = CrossEntropyLabelSmooth(7, epsilon=0.1)(logits, targets)
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets, label_smoothing=0.1))


def test_gradcheck():
    torch.manual_seed(2)
    logits = torch.randn(4, 5, dtype=torch.double, requires_grad=True)
    targets = torch.tensor([0, 3, 4, 1])
    loss = CrossEntropyLabelSmooth(5, epsilon=0.1)
    assert torch.autograd.gradcheck(lambda x: loss(x, targets), (logits,))


def test_rejects_bad_input():
    loss = CrossEntropyLabelSmooth(4)
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        loss(torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="targets must lie"):
        loss(torch.zeros(2, 4), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="epsilon"):
        CrossEntropyLabelSmooth(4, epsilon=1.5)

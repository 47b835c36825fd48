import math

import pytest
import torch

from reid_train.losses import inter_frame_regularization


def _one_hot_maps(frames: int) -> torch.Tensor:
    """(1, frames, 2, 3) maps, frame n has a single 1 at position n: any two distinct frames are sqrt(2) apart."""
    return torch.eye(6)[:frames].view(1, frames, 2, 3)


def test_two_frames_by_hand():
    g = torch.tensor([[[[0.1, 0.4], [0.2, 0.3]], [[0.4, 0.1], [0.2, 0.3]]],
                      [[[0.5, 0.5], [0.0, 0.0]], [[0.0, 0.0], [0.5, 0.5]]]])
    expected = (math.sqrt(0.3**2 + 0.3**2) + math.sqrt(4 * 0.25)) / 2
    assert inter_frame_regularization(g).item() == pytest.approx(expected, rel=1e-6)
    expected_squared = (0.18 + 1.0) / 2
    assert inter_frame_regularization(g, squared=True).item() == pytest.approx(expected_squared, rel=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_draws_two_distinct_frames(seed):
    maps = _one_hot_maps(4).repeat(5, 1, 1, 1)
    reg = inter_frame_regularization(maps, torch.Generator().manual_seed(seed))
    assert reg.item() == pytest.approx(math.sqrt(2), rel=1e-6)


def test_seeded_generator_gives_a_hand_computed_pair():
    g = torch.zeros(1, 3, 1, 2)
    g[0, 1, 0, 0] = 1.0   # ||g0 - g1|| = 1
    g[0, 2, 0, 1] = 2.0   # ||g0 - g2|| = 2, ||g1 - g2|| = sqrt(5)
    values = {round(inter_frame_regularization(g, torch.Generator().manual_seed(s)).item(), 5) for s in range(30)}
    assert values == {1.0, 2.0, round(math.sqrt(5), 5)}
    first = inter_frame_regularization(g, torch.Generator().manual_seed(7))
    assert torch.equal(first, inter_frame_regularization(g, torch.Generator().manual_seed(7)))


def test_identical_maps_give_zero_and_finite_gradient():
    g = torch.rand(1, 1, 4, 2).repeat(3, 4, 1, 1).requires_grad_()
    reg = inter_frame_regularization(g, torch.Generator().manual_seed(0))
    assert reg.item() == 0.0
    reg.backward()
    assert torch.isfinite(g.grad).all()


def test_single_frame_gives_zero_with_graph():
    g = torch.rand(2, 1, 4, 2, requires_grad=True)
    reg = inter_frame_regularization(g)
    assert reg.item() == 0.0
    reg.backward()
    assert torch.equal(g.grad, torch.zeros_like(g))


@pytest.mark.parametrize("squared", [False, True])
def test_gradcheck(squared):
    torch.manual_seed(0)
    g = torch.rand(3, 4, 2, 2, dtype=torch.double, requires_grad=True)

    def reg(x):
        return inter_frame_regularization(x, torch.Generator().manual_seed(5), squared=squared)

    assert torch.autograd.gradcheck(reg, (g,))


def test_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\(B, T, h, w\)"):
        inter_frame_regularization(torch.zeros(2, 4, 8))

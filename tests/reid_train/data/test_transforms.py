import pytest
import torch

from reid_train.data.transforms import (
    IMAGENET_MEAN_PIXEL,
    Compose,
    PadCrop,
    RandomErasing,
    RandomHorizontalFlip,
    Resize,
    build_test_transform,
    build_train_transform,
)


def _clip(t=3, h=16, w=8, seed=0):
    return torch.rand((t, 3, h, w), generator=torch.Generator().manual_seed(seed)) * 255


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_resize_changes_size_and_skips_matching_clips():
    clip = _clip(h=32, w=16)
    out = Resize((16, 8))(clip)
    assert out.shape == (3, 3, 16, 8) and out.dtype == torch.float32
    constant = torch.full((2, 3, 32, 16), 77.0)
    torch.testing.assert_close(Resize((12, 6))(constant), torch.full((2, 3, 12, 6), 77.0))
    assert Resize((32, 16))(clip) is clip


def test_flip_mirrors_every_frame_or_none():
    clip = _clip()
    torch.testing.assert_close(RandomHorizontalFlip(p=1.0)(clip), clip.flip(-1))
    assert torch.equal(RandomHorizontalFlip(p=0.0)(clip), clip)
    flip = RandomHorizontalFlip(p=0.5, generator=_gen(0))
    outcomes = set()
    for _ in range(20):
        out = flip(clip)
        flipped = [torch.equal(out[t], clip[t].flip(-1)) for t in range(3)]
        assert len(set(flipped)) == 1  # the same decision for all frames
        outcomes.add(flipped[0])
    assert outcomes == {True, False}


def test_pad_crop_uses_one_offset_for_all_frames():
    clip = torch.stack([torch.full((3, 16, 8), 10.0 * (t + 1)) for t in range(4)])
    crop = PadCrop(padding=3, generator=_gen(1))
    masks = set()
    for _ in range(20):
        out = crop(clip)
        assert out.shape == clip.shape
        zero = out == 0
        assert all(torch.equal(zero[t], zero[0]) for t in range(4))
        torch.testing.assert_close(out[~zero].unique(), torch.tensor([10.0, 20.0, 30.0, 40.0]))
        rows, cols = (~zero[0, 0]).any(1).sum().item(), (~zero[0, 0]).any(0).sum().item()
        assert rows >= 13 and cols >= 5
        masks.add(zero.numpy().tobytes())
    assert len(masks) > 1
    assert PadCrop(padding=0)(clip) is clip


def test_random_erasing_fills_the_same_rectangle_in_every_frame():
    clip = _clip(t=4, h=32, w=16)
    original = clip.clone()
    erase = RandomErasing(p=1.0, generator=_gen(2))
    for _ in range(10):
        out = erase(clip)
        changed = out != clip
        assert changed.any()
        region = changed.any(1)  # (T, H, W)
        assert all(torch.equal(region[t], region[0]) for t in range(4))
        fraction = region[0].float().mean().item()
        assert 0.01 < fraction < 0.5
        pixels = out.permute(0, 2, 3, 1)[region]  # (n, 3)
        torch.testing.assert_close(pixels, torch.tensor(IMAGENET_MEAN_PIXEL).expand_as(pixels))
    assert torch.equal(clip, original)  # the input is left untouched
    assert torch.equal(RandomErasing(p=0.0)(clip), clip)


def test_random_erasing_noise_is_shared_by_frames_and_in_range():
    clip = torch.full((3, 3, 32, 16), -1.0)
    out = RandomErasing(p=1.0, value="random", generator=_gen(3))(clip)
    erased = out[:, :, (out[0, 0] != -1.0)]
    assert erased.numel() > 0 and erased.min() >= 0 and erased.max() <= 255
    assert torch.equal(erased[0], erased[1]) and torch.equal(erased[0], erased[2])
    out = RandomErasing(p=1.0, value=(1.0, 2.0, 3.0), generator=_gen(3))(clip)
    assert set(out.unique().tolist()) == {-1.0, 1.0, 2.0, 3.0}


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="value"):
        RandomErasing(value="zeros")
    with pytest.raises(ValueError, match="area"):
        RandomErasing(area=(0.5, 0.1))
    with pytest.raises(ValueError, match=r"\(T, 3, H, W\)"):
        RandomHorizontalFlip()(torch.zeros(3, 16, 8))


def test_generator_and_global_rng_make_augmentation_reproducible():
    clip = _clip(h=32, w=16)
    a = build_train_transform((32, 16), generator=_gen(5))(clip)
    b = build_train_transform((32, 16), generator=_gen(5))(clip)
    assert torch.equal(a, b)
    transform = build_train_transform((32, 16))
    torch.manual_seed(9)
    a = transform(clip)
    torch.manual_seed(9)
    b = transform(clip)
    assert torch.equal(a, b)


def test_builders():
    clip = _clip(h=40, w=20)
    train = build_train_transform((16, 8))
    out = train(clip)
    assert out.shape == (3, 3, 16, 8) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 255
    assert [type(t) for t in train.transforms] == [Resize, RandomHorizontalFlip, PadCrop, RandomErasing]
    plain = build_train_transform((16, 8), flip=False, pad=0, erasing_p=0.0)
    torch.testing.assert_close(plain(clip), Resize((16, 8))(clip))
    test = build_test_transform((16, 8))
    assert isinstance(test, Compose)
    torch.testing.assert_close(test(clip), Resize((16, 8))(clip))
    assert "RandomErasing" in repr(train)

"""STA head: Eq. 1-4 and Algorithm 1 against a literal loop, frame selection, ablations, AMP and ONNX export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_train.models import create_model
from reid_train.models.sta import STAHead


def literal_sta(feats: torch.Tensor, num_regions: int) -> torch.Tensor:
    """Eq. 1-4 and Algorithm 1 on full maps, one video and one block at a time, then GAP: (B, T, C, h, w) -> (B, 2C)."""
    feats = feats.double()
    batch, frames, channels, height, width = feats.shape
    rows = height // num_regions
    out = []
    for b in range(batch):
        g = []
        for n in range(frames):
            energy = (feats[b, n] ** 2).sum(dim=0)  # sum over the depth channel
            g.append(energy / energy.sum())  # Eq. 1
        s = torch.zeros(frames, num_regions, dtype=torch.float64)
        for n in range(frames):
            for k in range(num_regions):
                s[n, k] = g[n][k * rows:(k + 1) * rows].abs().sum()  # Eq. 2-3
        S = s / s.abs().sum(dim=0, keepdim=True)  # Eq. 4
        f1 = torch.zeros(channels, height, width, dtype=torch.float64)
        f2 = torch.zeros(channels, height, width, dtype=torch.float64)
        for k in range(num_regions):
            block = slice(k * rows, (k + 1) * rows)
            m = max(range(frames), key=lambda n: (S[n, k].item(), -n))  # first frame on ties
            f1[:, block] = feats[b, m, :, block]
            for n in range(frames):
                f2[:, block] += feats[b, n, :, block] * S[n, k]
        fused = torch.cat([f1, f2], dim=0)
        out.append(fused.mean(dim=(1, 2)))  # global average pooling
    return torch.stack(out)


@pytest.mark.parametrize("frames", [1, 2, 3, 5])
@pytest.mark.parametrize(("num_regions", "height"), [(2, 8), (4, 8), (8, 8), (4, 7), (4, 14), (3, 8), (4, 4)])
def test_fused_feature_equals_literal_algorithm(frames: int, num_regions: int, height: int) -> None:
    """Also where K does not divide the height: floor(h / K)-row blocks, the rest of the padded map zero."""
    generator = torch.Generator().manual_seed(frames * 10 + num_regions + height)
    feats = torch.relu(torch.randn(2, frames, 6, height, 3, generator=generator))
    head = STAHead(6, 5, num_regions=num_regions, embedding_dim=4)
    fused = head.fuse(*head.frame_terms(feats))
    assert fused.shape == (2, 12)
    torch.testing.assert_close(fused.double(), literal_sta(feats, num_regions), atol=1e-5, rtol=1e-5)
    head.eval()
    torch.testing.assert_close(head(feats), head.fc(fused))


def test_frame_terms_can_be_computed_frame_by_frame() -> None:
    feats = torch.relu(torch.randn(2, 4, 6, 8, 2))
    head = STAHead(6, 5, num_regions=4)
    per_frame = [head.frame_terms(feats[:, n:n + 1]) for n in range(4)]
    scores = torch.cat([terms[0] for terms in per_frame], dim=1)
    strips = torch.cat([terms[1] for terms in per_frame], dim=1)
    torch.testing.assert_close(head.fuse(scores, strips), head.fuse(*head.frame_terms(feats)))


def test_attention_maps_and_scores_are_normalised() -> None:
    feats = torch.relu(torch.randn(3, 4, 6, 8, 4))
    head = STAHead(6, 5, num_regions=4)
    g = head.attention_maps(feats)
    assert g.shape == (3, 4, 8, 4) and g.dtype == torch.float32
    torch.testing.assert_close(g.sum(dim=(-2, -1)), torch.ones(3, 4))
    scores, strips = head.frame_terms(feats)
    assert scores.shape == (3, 4, 4) and strips.shape == (3, 4, 4, 6)
    torch.testing.assert_close(scores.sum(dim=-1), torch.ones(3, 4))  # the blocks of a frame share its map
    weights = head.normalize_scores(scores)
    assert torch.all(weights >= 0)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3, 4))  # Eq. 4: sums to 1 over frames
    torch.testing.assert_close(strips[:, :, 1], feats[..., 2:4, :].mean(dim=(-2, -1)))


def test_occluded_block_is_never_selected() -> None:
    # Frame 0 is frame 1 brightened, with block 2 blacked out (occluded). Frame 0 then holds the larger share of the
    # attention in every other block, so it wins those blocks, and block 2 must come from frame 1.
    base = torch.relu(torch.randn(1, 1, 6, 8, 2)) + 0.1
    occluded = base * 2
    occluded[..., 4:6, :] = 0
    feats = torch.cat([occluded, base], dim=1)
    head = STAHead(6, 5, num_regions=4)
    scores, strips = head.frame_terms(feats)
    weights = head.normalize_scores(scores)
    assert weights[0, 0, 2] == 0
    assert weights[0].argmax(dim=0).tolist() == [0, 0, 1, 0]
    selected = head.fuse(scores, strips)[:, :6]
    expected = torch.stack([strips[0, 0, 0], strips[0, 0, 1], strips[0, 1, 2], strips[0, 0, 3]]).mean(dim=0)
    torch.testing.assert_close(selected[0], expected)


def test_ties_select_the_first_frame() -> None:
    feats = torch.relu(torch.randn(1, 1, 4, 4, 2)).repeat(1, 3, 1, 1, 1)  # identical frames: all blocks tie
    head = STAHead(4, 5, num_regions=2)
    scores, _ = head.frame_terms(feats)
    assert head.normalize_scores(scores)[0].argmax(dim=0).tolist() == [0, 0]


def test_ablations_avg_attention_and_no_fusion() -> None:
    feats = torch.relu(torch.randn(2, 3, 6, 8, 2))
    no_fusion = STAHead(6, 5, num_regions=4, fusion=False)
    fused = no_fusion.fuse(*no_fusion.frame_terms(feats))
    torch.testing.assert_close(fused.double(), literal_sta(feats, 4)[:, 6:])
    average = STAHead(6, 5, num_regions=4, attention="avg", fusion=False)
    torch.testing.assert_close(average.fuse(*average.frame_terms(feats)), feats.mean(dim=(1, 3, 4)))
    assert average.fc.in_features == 6 and STAHead(6, 5).fc.in_features == 12
    with pytest.raises(ValueError, match="fusion"):
        STAHead(6, 5, attention="avg", fusion=True)


def test_any_height_of_at_least_k_rows_works() -> None:
    head = STAHead(6, 5, num_regions=4)
    scores, strips = head.frame_terms(torch.rand(1, 2, 6, 6, 2))  # floor(6 / 4) = 1 row per block, 2 rows padded
    assert scores.shape == (1, 2, 4) and strips.shape == (1, 2, 4, 6)
    with pytest.raises(ValueError, match="num_regions=4.*height 3 has too few rows"):
        head.frame_terms(torch.rand(1, 2, 6, 3, 2))
    with pytest.raises(ValueError, match=r"num_regions=8.*4x2 map"):
        create_model("sta_tiny", num_classes=3, input_size=(64, 32), width=8, num_regions=8)
    model = create_model("sta_resnet18", num_classes=3, input_size=(224, 112)).eval()  # 14x7 maps: 3 rows per block
    with torch.no_grad():
        assert model(torch.rand(2, 3, 3, 224, 112) * 255).shape == (2, 1024)


def test_embedding_is_independent_of_clip_length_for_repeated_frames() -> None:
    model = create_model("sta_tiny", num_classes=3, input_size=(64, 32), width=8).eval()
    frame = torch.rand(2, 1, 3, 64, 32) * 255
    with torch.no_grad():
        single = model(frame)
        assert single.shape == (2, 1024)
        for frames in (2, 5):
            torch.testing.assert_close(model(frame.repeat(1, frames, 1, 1, 1)), single, atol=1e-5, rtol=1e-4)
        assert model(torch.rand(3, 4, 3, 64, 32) * 255).shape == (3, 1024)


def test_training_outputs_and_gradients_reach_the_backbone() -> None:
    torch.manual_seed(0)
    model = create_model("sta_tiny", num_classes=3, input_size=(64, 32), width=8, num_regions=2).train()
    out = model(torch.rand(2, 3, 3, 64, 32) * 255)
    assert out["embedding"].shape == (2, 1024) and out["logits"].shape == (2, 3)
    assert out["attention"].shape == (2, 3, 4, 2)
    torch.testing.assert_close(out["attention"].sum(dim=(-2, -1)), torch.ones(2, 3))
    out["embedding"].pow(2).sum().backward()
    for name in ("conv1.weight", "layer1.0.conv1.weight", "layer4.0.conv2.weight"):
        grad = model.backbone.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_attention_is_computed_in_fp32_under_autocast() -> None:
    head = STAHead(64, 5, num_regions=2, embedding_dim=8).eval()
    feats = torch.full((1, 2, 64, 4, 2), 100.0, dtype=torch.float16)  # sum of squares 6.4e5 > fp16 max
    feats[:, 1] = 50.0
    assert torch.isinf(feats.pow(2).sum(dim=2)).all()
    with torch.autocast("cpu", dtype=torch.float16):
        g = head.attention_maps(feats)
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, torch.full((1, 2, 4, 2), 1 / 8))
        assert torch.isfinite(head(feats)).all()


def test_dynamic_batch_and_sequence_onnx_export(tmp_path) -> None:
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    from torch.export import Dim

    torch.manual_seed(0)
    model = create_model("sta_tiny", num_classes=3, input_size=(64, 32), width=8).eval()
    path = tmp_path / "sta_tiny.onnx"
    torch.onnx.export(model, (torch.rand(2, 3, 3, 64, 32) * 255,), path, dynamo=True, input_names=["frames"],
                      dynamic_shapes={"frames": {0: Dim("batch"), 1: Dim("seq")}}, external_data=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "frames"
    for batch, frames in [(1, 1), (1, 4), (4, 2), (3, 7)]:
        x = torch.rand(batch, frames, 3, 64, 32) * 255
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"frames": x.numpy()})[0]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_a_bnneck_gives_sta_the_tp_heads_neck() -> None:
    torch.manual_seed(0)
    model = create_model("sta_tiny", num_classes=3, input_size=(64, 32), width=8, embedding_dim=16, neck=True)
    assert model.metric == "cosine" and "head.neck.bn.running_var" in model.state_dict()
    assert "head.classifier.weight" not in model.state_dict()
    frames = torch.rand(2, 3, 3, 64, 32) * 255
    out = model.train()(frames)
    assert out["logits"].shape == (2, 3) and out["embedding"].shape == (2, 16)
    model.eval()
    with torch.no_grad():
        embedding = model(frames)
        x = model.head.fc(model.head.fuse(*model.frame_terms(model.forward_features(frames))))
        torch.testing.assert_close(embedding, model.head.neck.bn(x))  # BN(X), not X
        torch.testing.assert_close(model.forward_fused(model.head.fuse(*model.frame_terms(
            model.forward_features(frames)))), embedding)  # the split export's head is the same
    plain = create_model("sta_tiny", num_classes=3, input_size=(64, 32), width=8)
    assert plain.metric == "euclidean" and "head.classifier.weight" in plain.state_dict()

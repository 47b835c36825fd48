"""ASTA: attribute-driven spatio-temporal attention (Chen et al. 2020, "AITL" paper, section 4).

Three streams share the backbone map ``f`` ``(B, T, C, h, w)``:

- two attribute streams, ID-irrelevant (schema group 0: action, view, occlusion, ...) and ID-relevant (group 1:
  clothes colours, bag, gender, ...). Each applies a size-preserving convolution (1x1 conv + BN + ReLU), then the
  spatio-temporal attention module of section 4.2, giving a ``T x h x w`` attention ``a`` in (0, 1). The stream's
  feature re-weighted by ``a`` is average-pooled over space then time to C channels, and a linear classifier
  predicts the concatenated one-hot targets of the group (MARS: 25 and 41 outputs).
- the Re-ID stream: ``f``, ``f * a_irrelevant`` and ``f * a_relevant`` are concatenated on channels (3C = 6144 for
  ResNet-50) and pooled the same way; a BNNeck and the ID classifier follow.

Readings where the paper is silent or inconsistent:

- Convolution sizes: "size-preserving convolutional layer" is a 1x1 conv (with BN + ReLU, as in AITL's released code);
  its cost matches the paper's Fig. 8 (about 4.5 GMACs over a 4-frame ResNet-50). The conv reducing C to one channel
  is 3x3 with padding 1. The temporal Conv1d has kernel 3 and padding 1: the paper says "padding is 2" but also that
  the output "has the same size with input", which only padding 1 gives; padding 1 also makes any T work.
- Which feature the attention re-weights in an attribute stream: the paper says it encodes "the attribute recognition
  feature", read here as the stream's own (convolved) feature. AITL's code multiplies the backbone map instead.
- The attribute streams see the backbone map detached (``detach_attributes=True``, as in AITL's released code, which
  produced the published numbers): the attribute BCE trains its own streams but does not pull the shared backbone away
  from identity features, while the Re-ID losses still train the attention modules through the re-weighted features.
  Set ``detach_attributes=False`` for end-to-end multi-task gradients.
- AITL's code also multiplies the Re-ID map by an extra learned sigmoid attention before the concatenation; the paper
  does not describe it and it is left out.
- The training ``"embedding"`` is the pooled 3C feature the triplet losses use (with cosine distance, as the paper
  says); in eval mode ``neck_feat="after"`` (default, AITL's test setting) returns the BNNeck output instead.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor, nn

from reid_runtime.data.attribute_schema import SCHEMAS
from reid_train.models.video_model import BNNeck, VideoReIDModel, check_input_size, check_neck_feat, reid_backbone


class SpatioTemporalAttention(nn.Module):
    """Section 4.2: ``(B, T, C, h, w)`` -> attention ``(B, T, h, w)`` in (0, 1).

    A 2-D conv reduces each frame to one channel; the ``h * w`` positions then become the channels of a 1-D conv
    over time. Its channel count is fixed by ``feature_size``, so the map size must match the one the module was
    built for (checked by ``ASTAHead``).
    """

    def __init__(self, channels: int, feature_size: tuple[int, int]) -> None:
        super().__init__()
        self.feature_size = feature_size
        positions = feature_size[0] * feature_size[1]
        self.spatial = nn.Conv2d(channels, 1, kernel_size=3, padding=1)
        self.temporal = nn.Conv1d(positions, positions, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        # view_as, not unflatten with x.shape[0]: the legacy ONNX exporter would bake B into the graph.
        spatial = self.spatial(x.flatten(0, 1)).view_as(x[:, :, 0]).flatten(2)  # (B, T, h*w)
        temporal = self.temporal(spatial.transpose(1, 2)).transpose(1, 2)
        return torch.sigmoid(temporal).unflatten(-1, self.feature_size)


class AttributeStream(nn.Module):
    """Size-preserving conv, spatio-temporal attention and the attribute classifier of one attribute group."""

    def __init__(self, channels: int, feature_size: tuple[int, int], num_outputs: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.attention = SpatioTemporalAttention(channels, feature_size)
        self.classifier = nn.Linear(channels, num_outputs)

    def forward(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        """Returns the attention ``(B, T, h, w)`` and the attribute logits ``(B, num_outputs)``."""
        x = self.conv(feats.flatten(0, 1)).view_as(feats)  # keeps B and T symbolic in both ONNX exporters
        attention = self.attention(x)
        pooled = (x * attention.unsqueeze(2)).mean(dim=(-2, -1)).mean(dim=1)
        return attention, self.classifier(pooled)


class ASTAHead(nn.Module):
    """Two attribute streams whose attentions re-weight the Re-ID map; ``[f, f*a0, f*a1]`` pooled to 3C, BNNeck."""

    metric = "cosine"
    aggregation = "none"  # the temporal convolution mixes neighbouring frames: no per-frame terms
    num_regions = 1
    fusion = False

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        feature_size: tuple[int, int],
        attribute_outputs: tuple[int, int],
        input_size: tuple[int, int],
        detach_attributes: bool = True,
        neck_feat: str = "after",
    ) -> None:
        super().__init__()
        check_neck_feat(neck_feat)
        self.feature_size = feature_size
        self.input_size = input_size
        self.detach_attributes = detach_attributes
        self.neck_feat = neck_feat
        self.embedding_dim = 3 * in_channels
        self.irrelevant = AttributeStream(in_channels, feature_size, attribute_outputs[0])
        self.relevant = AttributeStream(in_channels, feature_size, attribute_outputs[1])
        self.neck = BNNeck(self.embedding_dim, num_classes)

    def forward(self, feats: Tensor) -> Tensor | dict[str, Any]:
        size = (feats.shape[-2], feats.shape[-1])
        if size != self.feature_size:
            h, w = self.feature_size
            raise ValueError(
                f"ASTA's temporal attention was built for {h}x{w} = {h * w} spatial positions (input size "
                f"{self.input_size[0]}x{self.input_size[1]}), got a {size[0]}x{size[1]} feature map "
                f"({size[0] * size[1]} positions); feed frames of the input size the model was built with"
            )
        stream_input = feats.detach() if self.detach_attributes else feats
        irrelevant, irrelevant_logits = self.irrelevant(stream_input)
        relevant, relevant_logits = self.relevant(stream_input)
        feature = torch.cat([
            feats.mean(dim=(-2, -1)).mean(dim=1),
            (feats * irrelevant.unsqueeze(2)).mean(dim=(-2, -1)).mean(dim=1),
            (feats * relevant.unsqueeze(2)).mean(dim=(-2, -1)).mean(dim=1),
        ], dim=1)
        if not self.training and self.neck_feat == "before":
            return feature
        normed, logits = self.neck(feature)
        if not self.training:
            return normed
        return {
            "embedding": feature,
            "logits": logits,
            "attr_logits": [irrelevant_logits, relevant_logits],
            "attr_attention": [irrelevant, relevant],
        }


def build_asta(
    backbone: str,
    *,
    num_classes: int,
    input_size: tuple[int, int] = (256, 128),
    last_stride: int = 1,
    width: int | None = None,
    pretrained: str | os.PathLike[str] | None = None,
    attribute_schema: str = "mars",
    detach_attributes: bool = True,
    neck_feat: str = "after",
) -> VideoReIDModel:
    """ASTA on a backbone; attribute output widths are the one-hot sizes of the schema's two groups."""
    if attribute_schema not in SCHEMAS:
        raise ValueError(f"unknown attribute_schema {attribute_schema!r}; expected one of {sorted(SCHEMAS)}")
    schema = SCHEMAS[attribute_schema]
    input_size = check_input_size(input_size)
    net = reid_backbone(backbone, last_stride=last_stride, width=width, pretrained=pretrained)
    head = ASTAHead(
        net.out_channels,
        num_classes,
        feature_size=net.feature_size(input_size),
        attribute_outputs=(schema.one_hot_size(0), schema.one_hot_size(1)),
        input_size=input_size,
        detach_attributes=detach_attributes,
        neck_feat=neck_feat,
    )
    return VideoReIDModel(net, head, input_size=input_size)

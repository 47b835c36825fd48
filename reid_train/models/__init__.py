"""Video re-ID models: ResNet backbones, the STA, temporal-pooling and ASTA heads, and the model registry."""

from reid_train.models.registry import backbone_of, create_model, list_models, register_model
from reid_train.models.video_model import VideoReIDModel

__all__ = ["VideoReIDModel", "backbone_of", "create_model", "list_models", "register_model"]

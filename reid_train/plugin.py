"""What ``reid_train`` registers with the runtime: ``reid train`` and the PyTorch backend (checkpoints, model names)."""

from __future__ import annotations

from reid_runtime.plugins import BackendSpec, CommandSpec, Requirement

TRAIN = Requirement(("torch", "yaml"), "train")

COMMANDS = [
    CommandSpec("train", "reid_train.cli:train",
                "Train STA / TP / ASTA+AITL from a recipe (PK batches, resumable).", TRAIN),
]

BACKENDS = [
    BackendSpec("torch", "reid_train.backends.torch_backend:TorchBackend", (".pt", ".pth"),
                "PyTorch: a `reid train` checkpoint, or a registry name (untrained model).",
                model_names=True, requirement=TRAIN),
]

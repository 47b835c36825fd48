"""What ``reid_train`` registers with the runtime: ``reid train``, ``reid checkpoint`` and the PyTorch backend
(checkpoints, model names)."""

from __future__ import annotations

from reid_runtime.plugins import BackendSpec, CommandSpec, Requirement

TRAIN = Requirement(("torch", "yaml"), "train")
TRAIN_COMMAND = Requirement(("torch", "yaml", "pydantic"), "train")  # reid train validates its recipe with pydantic

COMMANDS = [
    CommandSpec("train", "reid_train.cli:train",
                "Train STA / TP / ASTA+AITL from a recipe (PK batches, resumable).", TRAIN_COMMAND),
    CommandSpec("checkpoint", "reid_train.cli_checkpoint:checkpoint",
                "Checkpoint maintenance: convert an old-format checkpoint (for a file you trust).", TRAIN),
]

BACKENDS = [
    BackendSpec("torch", "reid_train.backends.torch_backend:TorchBackend", (".pt", ".pth"),
                "PyTorch: a `reid train` checkpoint, or a registry name (untrained model).",
                model_names=True, requirement=TRAIN),
]

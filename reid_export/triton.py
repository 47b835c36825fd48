"""A Triton Inference Server model repository entry for an exported ONNX file or TensorRT engine.

Layout: ``<repo>/<name>/config.pbtxt`` and ``<repo>/<name>/<version>/model.onnx`` (platform ``onnxruntime_onnx``) or
``model.plan`` (``tensorrt_plan``). With ``max_batch_size > 0`` the batch axis is Triton's implicit first dim, so the
``frames`` dims are ``[-1, 3, H, W]`` (seq, channels, height, width) and ``embedding`` is ``[D]``.

Dynamic batching concatenates requests along the batch axis, so only requests with the same T are batched together:
a client that wants server-side batching should send tracklets sampled to one fixed T.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from reid_runtime import model_format as mf
from reid_runtime.errors import ReidError
from reid_runtime.io import write_atomic, write_text_atomic


class TritonError(ReidError):
    """The model cannot be served by Triton as asked."""


@dataclass(frozen=True)
class TritonEntry:
    """A model folder written into a Triton repository."""

    folder: Path
    config: Path
    model_file: Path
    platform: str
    precision: str


def _string(value: str) -> str:
    """A protobuf text-format string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def config_text(info: mf.ModelInfo, *, name: str, platform: str, max_batch: int, instances: int,
                profile_count: int = 0) -> str:
    """``config.pbtxt`` for a full graph described by ``info``."""
    height, width = info.input_size
    kind = "KIND_GPU" if platform == "tensorrt_plan" else "KIND_AUTO"
    profiles = ""
    if profile_count:
        listed = ", ".join(_string(str(i)) for i in range(profile_count))
        profiles = f"\n    profile: [ {listed} ]"
    parameters = "\n".join(
        f"parameters {{ key: {_string(key)} value: {{ string_value: {_string(value)} }} }}"
        for key, value in sorted(info.to_props().items())
    )
    return f"""# Video re-ID embedding model exported by reid-toolkit {info.toolkit_version}.
# Input: raw RGB float32 0..255 frames (batch, seq, 3, {height}, {width}); pixel normalisation is inside the model.
# max_batch_size > 0 makes batch Triton's implicit first dim, so `frames` dims are [seq, 3, H, W] with seq = -1.
# Dynamic batching concatenates requests along batch: only requests with the SAME seq length (T) are batched
# together; sample every tracklet to one fixed T on the client to get server-side batching.
name: {_string(name)}
platform: {_string(platform)}
max_batch_size: {max_batch}
input [
  {{
    name: {_string(mf.INPUT_FRAMES)}
    data_type: TYPE_FP32
    dims: [ -1, 3, {height}, {width} ]
  }}
]
output [
  {{
    name: {_string(mf.OUTPUT_EMBEDDING)}
    data_type: TYPE_FP32
    dims: [ {info.embedding_dim} ]
  }}
]
dynamic_batching {{ }}
instance_group [
  {{
    count: {instances}
    kind: {kind}{profiles}
  }}
]
{parameters}
"""


def write_triton_repo(model: str | Path, repo: str | Path, *, name: str = "reid", max_batch: int = 32,
                      instances: int = 1, version: int = 1) -> TritonEntry:
    """Copy ``model`` (.onnx or .engine with its sidecar) into a repository entry and write its config."""
    from reid_export.onnx_export import read_info
    from reid_export.tensorrt_build import read_sidecar
    from reid_runtime.tensorrt_profiles import profiles_from_json

    model, repo = Path(model), Path(repo)
    if not name or "/" in name or name in (".", ".."):
        raise TritonError(f"model name {name!r} must be a plain folder name")
    if model.suffix == ".onnx":
        info, platform, target, profile_count = read_info(model), "onnxruntime_onnx", "model.onnx", 0
    elif model.suffix in (".engine", ".plan"):
        content = read_sidecar(model)
        info = mf.ModelInfo.from_props(content["metadata"], source=str(model))
        profiles = profiles_from_json(content["profiles"])
        platform, target, profile_count = "tensorrt_plan", "model.plan", len(profiles)
        too_small = [str(p) for p in profiles if p.min_batch > 1 or p.max_batch < max_batch]
        if too_small:
            raise TritonError(f"{model}: profiles {', '.join(too_small)} do not cover batch 1..{max_batch}; pass "
                              f"--max-batch {min(p.max_batch for p in profiles)} or rebuild with profiles starting "
                              "at batch 1")
    else:
        raise TritonError(f"{model}: expected a .onnx file or a .engine/.plan TensorRT engine")
    if info.role != "full":
        raise TritonError(f"{model}: is a split {info.role} graph; Triton serves the full graph "
                          "(`reid export --format onnx` without --split)")
    folder = repo / name
    destination = folder / str(version) / target
    with model.open("rb") as source:
        write_atomic(destination, lambda f: shutil.copyfileobj(source, f, 1 << 24))
    config = write_text_atomic(folder / "config.pbtxt", config_text(
        info, name=name, platform=platform, max_batch=max_batch, instances=instances, profile_count=profile_count))
    return TritonEntry(folder, config, destination, platform, info.precision)

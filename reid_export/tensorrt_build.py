"""TensorRT engine from an exported full-graph ONNX: profiles over (batch, seq), plain engine plus a JSON sidecar.

Precision comes from the graph: the network is created strongly typed, the only mode TensorRT 11 has (its FP16 /
INT8 builder flags are gone) and an opt-in flag in 10.x. ``--fp16`` therefore converts an FP32 ONNX with the same
block list as ``reid export --format onnx-fp16`` (attention scores, reductions and the head stay FP32), and ``--int8``
builds a QDQ graph written by ``--format onnx-int8`` (implicit INT8 calibration is deprecated since TensorRT 10.1).
``reid_export.api.export(..., format="tensorrt")`` exports that ONNX first when it starts from a checkpoint.

The engine file is a plain serialized engine (trtexec and any TensorRT runtime load it); what a runtime needs to use
it -- the model metadata, the profiles, versions and GPU -- sits in ``<engine>.json``.

Every builder call that can fail is checked and fails in one line naming the file or profile: the parser's errors
(all of them, counted), ``IOptimizationProfile.set_shape`` / ``isValid``, ``add_optimization_profile`` (-1, or an
index that is not the profile's position), ``create_timing_cache`` / ``set_timing_cache(cache,
ignore_mismatch=False)`` (a cache from another TensorRT version or GPU is refused, not silently ignored) and
``build_serialized_network`` (None).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from reid_runtime import model_format as mf
from reid_runtime.errors import ReidError
from reid_runtime.io import write_bytes_atomic, write_json_atomic
from reid_runtime.tensorrt_profiles import DEFAULT_PROFILES, INPUT_NAME, Profile, parse_profiles

SIDECAR_FORMAT = "reid-toolkit-engine/1"
INSTALL_HINT = (
    "TensorRT is not installed: pip install tensorrt (needs an NVIDIA GPU and driver; the wheel downloads the "
    "TensorRT libraries from NVIDIA's index). Without a GPU, deploy the ONNX file with ONNX Runtime instead."
)


class TensorRTError(ReidError):
    """TensorRT is missing, finds no GPU, or cannot build the engine."""


@dataclass
class EngineBuild:
    engine: Path
    sidecar: Path
    precision: str
    profiles: list[Profile]
    seconds: float
    size_bytes: int


def import_tensorrt():
    """The ``tensorrt`` module, or a :class:`TensorRTError` saying how to get it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise TensorRTError(INSTALL_HINT) from exc
    return tensorrt


def sidecar_path(engine: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def engine_precision(info: mf.ModelInfo, *, fp16: bool, int8: bool, source: str = "ONNX") -> str:
    """The engine's precision from the graph's and the flags; rejects combinations the graph cannot give."""
    if fp16 and int8:
        raise TensorRTError("choose --fp16 or --int8: an INT8 QDQ graph keeps its non-quantized layers in FP32")
    if int8 and info.precision != "int8":
        raise TensorRTError(f"{source}: --int8 needs a QDQ graph, this one is {info.precision}; export it with "
                            "`reid export --format onnx-int8 --calib DIR`, or build from the checkpoint with --int8 "
                            "--calib DIR (TensorRT 10 deprecates implicit calibration)")
    if fp16 and info.precision == "int8":
        raise TensorRTError(f"{source}: is an INT8 QDQ graph; build it with --int8, not --fp16")
    return "fp16" if fp16 else info.precision


def sidecar(info: mf.ModelInfo, profiles: list[Profile], *, precision: str, tensorrt_version: str, gpu: str,
            source: str) -> dict[str, Any]:
    """The ``<engine>.json`` content: model metadata (precision updated), profiles with their shapes, build facts."""
    props = dataclasses.replace(info, precision=precision).to_props()
    return {
        "format": SIDECAR_FORMAT,
        "metadata": props,
        "input": INPUT_NAME,
        "output": mf.OUTPUT_EMBEDDING,
        "profiles": [{**profile.to_json(), "shapes": _shapes(profile, info.input_size)} for profile in profiles],
        "tensorrt_version": tensorrt_version,
        "gpu": gpu,
        "source_onnx": source,
    }


def _shapes(profile: Profile, input_size: tuple[int, int]) -> dict[str, list[int]]:
    return {key: list(shape) for key, shape in zip(("min", "opt", "max"), profile.shapes(input_size))}


def write_sidecar(engine: str | Path, content: dict[str, Any]) -> Path:
    return write_json_atomic(sidecar_path(engine), content)


def read_sidecar(engine: str | Path) -> dict[str, Any]:
    """The sidecar of ``engine``, checked for its format key."""
    path = sidecar_path(engine)
    if not path.is_file():
        raise TensorRTError(f"{path}: missing; an engine built by `reid export --format tensorrt` has its metadata "
                            "there")
    content = json.loads(path.read_text(encoding="utf-8"))
    if content.get("format") != SIDECAR_FORMAT:
        raise TensorRTError(f"{path}: not a reid-toolkit engine sidecar (format {content.get('format')!r})")
    return content


def gpu_name() -> str:
    """Name of GPU 0 from nvidia-smi, or ``"unknown"``."""
    if shutil.which("nvidia-smi"):
        result = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", "0"],
                                capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip().splitlines()[0]
    return "unknown"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _parser_error_text(error: Any) -> str:
    """One ``IParserError`` as ``node NAME (OP): description`` (``str(error)`` when the accessors are missing)."""
    try:
        desc = " ".join(str(error.desc()).split())
    except Exception:  # older bindings or an unexpected object: keep what it prints
        return " ".join(str(error).split())
    where = []
    for accessor in ("node_name", "node_operator"):
        try:
            value = getattr(error, accessor)()
        except Exception:
            value = ""
        where.append(str(value) if value else "")
    name, operator = where
    if name or operator:
        return f"node {name or '?'}{f' ({operator})' if operator else ''}: {desc}"
    return desc


def parser_failure(onnx_path: str | Path, parser: Any, log: Callable[[str], None] = lambda line: None) -> str:
    """The one-line error for a failed ``OnnxParser.parse``: how many errors, then every one of them.

    Each error also goes to ``log`` on its own line.
    """
    errors = [_parser_error_text(parser.get_error(i)) for i in range(parser.num_errors)]
    for number, text in enumerate(errors, 1):
        log(f"TensorRT ONNX parser error {number}/{len(errors)}: {text}")
    if not errors:
        return f"{onnx_path}: TensorRT's ONNX parser rejected it without reporting an error"
    listed = "; ".join(f"[{number}] {text}" for number, text in enumerate(errors, 1))
    return f"{onnx_path}: TensorRT's ONNX parser rejected it with {len(errors)} error(s): {listed}"


def add_profile(builder: Any, config: Any, profile: Profile, position: int, input_size: tuple[int, int], *,
                source: str | Path) -> int:
    """Add ``profile`` as optimization profile number ``position``; every way TensorRT refuses it is an error.

    ``IOptimizationProfile.set_shape`` raises in the Python bindings when min/opt/max are inconsistent, the profile's
    truth value is ``isValid()``, and ``IBuilderConfig.add_optimization_profile`` returns the new index or -1.
    The sidecar maps profile ``i`` to engine profile ``i``, so any other index is refused too.
    """
    label = f"{source}: profile {position} ({profile})"
    trt_profile = builder.create_optimization_profile()
    if trt_profile is None:
        raise TensorRTError(f"{label}: TensorRT create_optimization_profile returned None")
    shapes = profile.shapes(input_size)
    try:
        trt_profile.set_shape(INPUT_NAME, *shapes)
    except Exception as exc:
        raise TensorRTError(f"{label}: TensorRT set_shape({INPUT_NAME!r}, min={shapes[0]}, opt={shapes[1]}, "
                            f"max={shapes[2]}) failed ({_one_line(exc)})") from exc
    if not trt_profile:
        raise TensorRTError(f"{label}: TensorRT says the profile is not valid (IOptimizationProfile.isValid() is "
                            f"false for min={shapes[0]}, opt={shapes[1]}, max={shapes[2]})")
    index = config.add_optimization_profile(trt_profile)
    if not isinstance(index, int) or index < 0:
        raise TensorRTError(f"{label}: TensorRT add_optimization_profile returned {index!r} (-1: the profile was "
                            "refused; see the TensorRT messages above)")
    if index != position:
        raise TensorRTError(f"{label}: TensorRT add_optimization_profile returned index {index}, expected {position}; "
                            "the sidecar would describe the wrong profile")
    return index


def use_timing_cache(config: Any, timing_cache: str | Path) -> None:
    """Load ``timing_cache`` (an empty cache when the file does not exist yet) and attach it with
    ``ignore_mismatch=False``: a cache from another TensorRT version or GPU is refused rather than ignored."""
    path = Path(timing_cache)
    blob = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(blob)
    if cache is None:
        raise TensorRTError(f"{path}: TensorRT create_timing_cache returned None: not a TensorRT timing cache (or a "
                            "corrupt one); delete it or pass another --timing-cache path")
    if config.set_timing_cache(cache, ignore_mismatch=False) is not True:
        if not blob:
            raise TensorRTError(f"{path}: TensorRT set_timing_cache refused a new, empty timing cache")
        raise TensorRTError(f"{path}: TensorRT set_timing_cache refused it (ignore_mismatch=False): the cache was made "
                            "by another TensorRT version or GPU; delete it or pass another --timing-cache path")


def build_engine(
    onnx_path: str | Path,
    out: str | Path,
    *,
    fp16: bool = False,
    int8: bool = False,
    profiles: str | list[Profile] | None = None,
    workspace_gb: float = 4.0,
    timing_cache: str | Path | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> EngineBuild:
    """Parse ``onnx_path``, add one optimization profile per T bucket, build, write the engine and its sidecar."""
    from reid_export.onnx_export import read_info

    onnx_path, out = Path(onnx_path), Path(out)
    info = read_info(onnx_path)
    if info.role != "full":
        raise TensorRTError(f"{onnx_path}: is a split {info.role} graph; build engines from the full graph "
                            "(`reid export --format onnx` without --split)")
    precision = engine_precision(info, fp16=fp16, int8=int8, source=str(onnx_path))
    if not isinstance(profiles, list):
        profiles = parse_profiles(profiles or DEFAULT_PROFILES)
    trt = import_tensorrt()

    start = time.perf_counter()
    model = onnx.load(str(onnx_path))
    if fp16 and info.precision == "fp32":
        from reid_export.fp16 import convert_fp16

        model = convert_fp16(model)
    logger = trt.Logger(trt.Logger.WARNING)
    try:
        builder = trt.Builder(logger)
    except Exception as exc:  # TensorRT raises a plain RuntimeError/TypeError when CUDA cannot initialise
        raise TensorRTError(f"TensorRT cannot create a builder ({_one_line(exc)}): no usable NVIDIA GPU or driver") \
            from exc
    if builder is None:
        raise TensorRTError("TensorRT cannot create a builder: no usable NVIDIA GPU or driver")
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    if network is None:
        raise TensorRTError(f"{onnx_path}: TensorRT create_network(STRONGLY_TYPED) returned None")
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model.SerializeToString()):
        raise TensorRTError(parser_failure(onnx_path, parser, log))

    config = builder.create_builder_config()
    if config is None:
        raise TensorRTError(f"{onnx_path}: TensorRT create_builder_config returned None")
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    for position, profile in enumerate(profiles):
        add_profile(builder, config, profile, position, info.input_size, source=onnx_path)
    if timing_cache:
        use_timing_cache(config, timing_cache)

    log(f"building a {precision} engine with profiles {', '.join(map(str, profiles))} (minutes for ResNet-50)")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTError(f"{onnx_path}: TensorRT build_serialized_network returned None: no engine built (see the "
                            "TensorRT messages above)")
    data = bytes(serialized)
    if not data:
        raise TensorRTError(f"{onnx_path}: TensorRT build_serialized_network returned an empty engine")
    cache_data = None
    if timing_cache:
        cache = config.get_timing_cache()
        if cache is None:
            raise TensorRTError(f"{timing_cache}: TensorRT get_timing_cache returned None after the build; nothing "
                                "was written")
        cache_data = bytes(cache.serialize())
    write_bytes_atomic(out, data)
    if cache_data is not None:
        write_bytes_atomic(timing_cache, cache_data)
    content = sidecar(info, profiles, precision=precision, tensorrt_version=trt.__version__, gpu=gpu_name(),
                      source=onnx_path.name)
    return EngineBuild(out, write_sidecar(out, content), precision, profiles, time.perf_counter() - start, len(data))

"""Triton repository entries for ONNX files and TensorRT engines."""

from __future__ import annotations

import json
import re

import pytest

from reid_export.onnx_export import read_info
from reid_export.tensorrt_build import sidecar, write_sidecar
from reid_export.triton import TritonError, write_triton_repo
from reid_runtime.model_format import ModelInfo
from reid_runtime.tensorrt_profiles import parse_profiles


def _field(text: str, name: str) -> str:
    return re.search(rf"^\s*{name}: (.+)$", text, re.MULTILINE).group(1)


def test_onnx_entry_layout_and_config(tmp_path, full_exports):
    path, _ = full_exports["sta_tiny"]
    entry = write_triton_repo(path, tmp_path / "repo", name="sta", max_batch=16, instances=2, version=3)
    folder = entry.folder
    assert folder == tmp_path / "repo" / "sta"
    assert entry.model_file == folder / "3" / "model.onnx" and entry.config == folder / "config.pbtxt"
    assert entry.model_file.read_bytes() == path.read_bytes()
    text = (folder / "config.pbtxt").read_text()
    assert _field(text, "name") == '"sta"' and _field(text, "platform") == '"onnxruntime_onnx"'
    assert _field(text, "max_batch_size") == "16" and _field(text, "count") == "2"
    dims = re.findall(r"dims: \[ (.+) \]", text)
    assert dims == ["-1, 3, 64, 32", "1024"]  # batch is implicit; seq stays dynamic
    assert "data_type: TYPE_FP32" in text and "dynamic_batching" in text
    assert "SAME seq length" in text
    params = dict(re.findall(r'parameters \{ key: "([^"]+)" value: \{ string_value: "((?:[^"\\]|\\.)*)" \} \}', text))
    assert params["reid.architecture"] == "sta_tiny" and params["reid.aggregation"] == "sta"
    assert len(params) == len(read_info(path).to_props())


def test_engine_entry_lists_profiles_and_checks_batch_cover(tmp_path, full_exports):
    info = read_info(full_exports["sta_tiny"][0])
    engine = tmp_path / "sta.engine"
    engine.write_bytes(b"serialized engine")
    profiles = parse_profiles("1-8x1-4,1-8x5-16")
    write_sidecar(engine, sidecar(info, profiles, precision="fp16", tensorrt_version="10.9", gpu="H100",
                                  source="sta.onnx"))
    folder = write_triton_repo(engine, tmp_path / "repo", max_batch=8).folder
    text = (folder / "config.pbtxt").read_text()
    assert (folder / "1" / "model.plan").read_bytes() == b"serialized engine"
    assert _field(text, "platform") == '"tensorrt_plan"' and "kind: KIND_GPU" in text
    assert 'profile: [ "0", "1" ]' in text
    assert 'key: "reid.precision" value: { string_value: "fp16" }' in text
    with pytest.raises(TritonError, match="--max-batch 8"):
        write_triton_repo(engine, tmp_path / "repo2", max_batch=32)


def test_engine_without_sidecar_is_rejected(tmp_path):
    engine = tmp_path / "x.engine"
    engine.write_bytes(b"x")
    with pytest.raises(Exception, match="x.engine.json: missing"):
        write_triton_repo(engine, tmp_path / "repo")


def test_split_graph_and_unknown_suffix_are_rejected(tmp_path, split_exports):
    with pytest.raises(TritonError, match="split backbone"):
        write_triton_repo(split_exports["sta_tiny"][1].files[0], tmp_path / "repo")
    other = tmp_path / "model.pt"
    other.write_bytes(b"x")
    with pytest.raises(TritonError, match=".onnx file or a .engine"):
        write_triton_repo(other, tmp_path / "repo")


def test_metadata_with_quotes_is_escaped(tmp_path, full_exports):
    from reid_export.triton import config_text

    info = ModelInfo(role="full", architecture='a"b\\c', input_size=(64, 32), embedding_dim=8, metric="cosine")
    text = config_text(info, name="m", platform="onnxruntime_onnx", max_batch=4, instances=1)
    assert 'string_value: "a\\"b\\\\c"' in text


def test_cli_triton_from_a_checkpoint_exports_the_onnx_inside(reid, checkpoints, tmp_path):
    repo = tmp_path / "models"
    run = reid("export", "--model", checkpoints["tp_tiny"], "--format", "triton", "--out", repo, "--name", "tp",
               "--max-batch", "4", "--json")
    assert run.code == 0, run.err
    folder = repo / "tp"
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()) == [
        "tp/1/model.onnx", "tp/config.pbtxt"]
    info = read_info(folder / "1" / "model.onnx")
    assert (info.architecture, info.precision, info.seq_lengths_verified) == ("tp_tiny", "fp32", [1, 2, 3, 4, 7, 8, 16])
    text = (folder / "config.pbtxt").read_text()
    assert _field(text, "name") == '"tp"' and _field(text, "max_batch_size") == "4"
    result = json.loads(run.out)
    assert result["format"] == "triton" and result["verification"]["passed"]
    assert [f["path"] for f in result["files"]] == [str(folder / "config.pbtxt"), str(folder / "1" / "model.onnx")]


def test_python_triton_from_an_exported_onnx(full_exports, tmp_path):
    from reid_export import export

    result = export(full_exports["sta_tiny"][0], "triton", tmp_path / "repo", name="sta", version=2)
    assert result.files == [tmp_path / "repo" / "sta" / "config.pbtxt", tmp_path / "repo" / "sta" / "2" / "model.onnx"]
    assert result.verification is None and result.precision == "fp32"

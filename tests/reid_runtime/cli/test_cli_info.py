"""`reid info MODEL`: aligned lines or JSON for ONNX exports, checkpoints, engines and registry names; edge install."""

from __future__ import annotations

import json

from click.testing import CliRunner

from reid_runtime.cli.main import cli


def _info(*args):
    result = CliRunner().invoke(cli, ["info", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _fields(text: str) -> dict[str, str]:
    rows = [line.partition(":") for line in text.splitlines()]
    return {label: value.strip() for label, _, value in rows}


def test_full_onnx_as_aligned_lines(sta_onnx):
    text = _info(sta_onnx).output
    fields = _fields(text)
    assert fields["kind"] == "onnx full" and fields["architecture"] == "sta_tiny"
    assert fields["input"].startswith("64x32 (HxW); frames (batch, seq, 3, H, W) raw RGB float32 0..255")
    assert fields["dynamic axes"] == "frames: batch, seq; embedding: batch"
    assert fields["embedding"] == "32-d, metric euclidean" and fields["precision"] == "fp32"
    assert fields["streaming"].startswith("no")
    values = [line.split(":", 1)[1] for line in text.splitlines()]
    assert len({len(v) - len(v.lstrip()) + len(line.split(":", 1)[0])
                for v, line in zip(values, text.splitlines())}) == 1  # values start in one column


def test_split_export_json_names_both_graphs(sta_split):
    backbone = json.loads(_info("--json", sta_split).stdout)
    assert backbone["kind"] == "onnx split backbone" and backbone["streaming"] is True
    assert backbone["companion"].endswith("sta.head.onnx")
    graphs = {g["graph"]: g for g in backbone["graphs"]}
    assert graphs["backbone"]["inputs"][0] == {"name": "frames", "shape": ["frames", 3, 64, 32], "dtype": "float32"}
    assert graphs["head"]["outputs"][0]["shape"][1] == 32 and isinstance(graphs["head"]["outputs"][0]["shape"][0], str)
    assert backbone["dynamic_axes"]["backbone.frames"] == ["frames"]
    head_file = sta_split.with_name("sta.head.onnx")
    head = json.loads(_info("--json", head_file).stdout)
    assert head["kind"] == "onnx split head" and head["companion"] == str(sta_split)
    assert head["file_size"] == backbone["file_size"] == sta_split.stat().st_size + head_file.stat().st_size


def test_checkpoint_and_registry_name(sta_checkpoint):
    checkpoint = json.loads(_info("--json", sta_checkpoint).stdout)
    assert checkpoint["kind"] == "checkpoint" and checkpoint["backend"] == "torch"
    assert checkpoint["input_size"] == [64, 32] and checkpoint["aggregation"] == "sta"
    name = _fields(_info("tp_tiny").output)
    assert name["kind"] == "registry name" and name["input"].startswith("256x128") and name["file size"] == "-"
    assert name["aggregation"] == "mean, 1 region"


def test_engine_is_described_from_its_sidecar(sta_onnx, tmp_path):
    from reid_runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
    from reid_runtime.tensorrt_profiles import parse_profiles, profiles_to_json

    info = OnnxRuntimeBackend(sta_onnx).info
    engine = tmp_path / "sta.engine"
    engine.write_bytes(b"\0" * 100)
    sidecar = {"format": "reid-toolkit-engine/1", "metadata": info.to_props(), "tensorrt_version": "10.3",
               "gpu": "NVIDIA H200", "profiles": profiles_to_json(parse_profiles("1-8x1-4"))}
    (tmp_path / "sta.engine.json").write_text(json.dumps(sidecar))
    fields = _fields(_info(engine).output)
    assert fields["kind"] == "tensorrt engine" and fields["file size"] == "100 bytes"
    assert "1-8" in fields["profile"] and "NVIDIA H200" in fields["built"]
    (tmp_path / "sta.engine.json").unlink()
    result = CliRunner().invoke(cli, ["info", str(engine)])
    assert result.exit_code == 1 and "sta.engine.json: missing" in str(result.exception)


def test_edge_install_describes_onnx_and_names_the_extra_for_a_checkpoint(run_edge, sta_onnx, sta_checkpoint):
    text = run_edge("info", sta_onnx)
    assert text.returncode == 0, text.stderr
    assert "onnx full" in text.stdout and "frames: batch, seq" in text.stdout
    as_json = run_edge("info", "--json", sta_onnx)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["dynamic_axes"]["frames"] == ["batch", "seq"]
    checkpoint = run_edge("info", sta_checkpoint)
    assert checkpoint.returncode == 1 and "Traceback" not in checkpoint.stderr
    lines = checkpoint.stderr.strip().splitlines()
    assert len(lines) == 1 and "reid-toolkit[train]" in lines[0]


def test_bad_files_exit_2_in_one_line(run_edge, tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    result = run_edge("info", tmp_path / "junk.onnx")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "junk.onnx: not a loadable ONNX model" in result.stderr

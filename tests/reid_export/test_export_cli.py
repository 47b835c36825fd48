"""`reid export` and `export()`: one formats table drives the choices, the option checks (CLI and Python) and help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reid_export import api
from reid_export.formats import FORMATS, ExportOptionError, all_options, check_options, formats_table, get_format


def test_help_lists_every_format_and_option_of_the_table(reid):
    run = reid("export", "--help")
    assert run.code == 0
    assert "Formats" in run.out and "Examples:" in run.out and "reid export --model" in run.out
    for name in FORMATS:
        assert any(line.split()[:1] == [name] for line in run.out.splitlines()), name
    for option in all_options().values():
        assert option.flag in run.out, option.flag
    assert "model.engine" in run.out and "reid-toolkit[tensorrt]" in run.out


def test_formats_table_has_one_row_block_per_format():
    rows = [line.split()[0] for line in formats_table().splitlines()[2:] if line and not line.startswith(" ")]
    assert rows == list(FORMATS)


def test_unknown_format_is_refused_with_the_choices(reid, checkpoints, tmp_path):
    run = reid("export", "--model", checkpoints["sta_tiny"], "--format", "onnx16", "--out", tmp_path / "m.onnx")
    assert run.code == 2 and "onnx-fp16" in run.err and "tensorrt" in run.err
    with pytest.raises(ExportOptionError, match="did you mean onnx-int8"):
        get_format("onnx-int")


def test_cli_refuses_an_option_of_another_format_in_one_line(reid, checkpoints, tmp_path):
    run = reid("export", "--model", checkpoints["sta_tiny"], "--format", "tensorrt", "--out", tmp_path / "m.engine",
               "--split")
    assert run.code == 2 and run.out == ""
    assert run.err.strip().splitlines() == [
        "Error: option --split is not taken by format 'tensorrt'; formats that take it: onnx, onnx-fp16, onnx-int8, "
        "onnx-int8-cpu (tensorrt takes --size, --opset, --simplify, --fp16, --int8, --calib, --calib-dataset, "
        "--calib-method, --calib-seq-len, --calib-max-images, --no-verify, --max-abs, --min-cosine, --profiles, "
        "--workspace-gb, --timing-cache)"]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    (["--format", "onnx", "--size", "64x32"], "option --size applies to a registry name, not to a checkpoint"),
    (["--format", "onnx-int8"], "format 'onnx-int8' needs --calib DIR"),
    (["--format", "onnx", "--name", "sta"], "--name is not taken by format 'onnx'; formats that take it: triton"),
    (["--format", "onnx", "--opset", "0"], "--opset"),
])
def test_cli_option_errors_name_the_option(reid, checkpoints, tmp_path, args, message):
    run = reid("export", "--model", checkpoints["sta_tiny"], "--out", tmp_path / "m.onnx", *args)
    assert run.code == 2 and message in run.err
    assert not (tmp_path / "m.onnx").exists()


def test_cli_refuses_a_model_the_format_cannot_start_from(reid, full_exports, tmp_path):
    onnx_path = full_exports["sta_tiny"][0]
    run = reid("export", "--model", onnx_path, "--format", "onnx-fp16", "--out", tmp_path / "m.onnx")
    assert run.code == 2 and "format 'onnx-fp16' cannot start from an ONNX file" in run.err
    run = reid("export", "--model", onnx_path, "--format", "triton", "--out", tmp_path / "repo", "--opset", "18")
    assert run.code == 2 and "option --opset applies to a checkpoint, a registry name" in run.err
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize("options, message", [
    ({"calib": "crops"}, "option calib is not taken by format 'onnx'; formats that take it: onnx-int8, onnx-int8-cpu, "
                       "tensorrt"),
    ({"opst": 18}, "format 'onnx' has no option 'opst'; did you mean opset?"),
    ({"opset": "x"}, "opset='x'"),
    ({"split": "yes"}, "split='yes': expected True or False"),
    ({"size": (64, 32)}, "option size applies to a registry name, not to a checkpoint"),
])
def test_python_export_checks_keywords_by_the_same_table(checkpoints, tmp_path, options, message):
    with pytest.raises(ExportOptionError) as caught:
        api.export(checkpoints["sta_tiny"], "onnx", tmp_path / "m.onnx", **options)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "m.onnx").exists()


def test_python_export_of_a_missing_file_or_unknown_name(tmp_path):
    from reid_runtime.errors import ReidError

    with pytest.raises(ExportOptionError, match="nope.pt: model file not found"):
        api.export(tmp_path / "nope.pt")
    with pytest.raises(ReidError, match="'sta_huge' is neither a model file nor a registered model name"):
        api.export("sta_huge", "onnx", tmp_path / "m.onnx")


def test_check_options_accepts_what_the_table_lists():
    for fmt in FORMATS.values():
        given = {name for name in fmt.option_names if name != "size"}
        check_options(fmt.name, given, kind="checkpoint")


def test_every_format_has_a_builder():
    assert set(api._BUILDERS) == set(FORMATS)


@pytest.mark.parametrize("command", ["export", "verify"])
def test_commands_have_help_with_examples(reid, command):
    run = reid(command, "--help")
    assert run.code == 0, run.err
    assert "Examples:" in run.out and f"reid {command} --model" in run.out


def test_help_and_option_errors_do_not_import_torch(checkpoints):
    code = ("import sys\nfrom click.testing import CliRunner\nfrom reid_export.cli import export\n"
            "assert CliRunner().invoke(export, ['--help']).exit_code == 0\n"
            f"r = CliRunner().invoke(export, ['--model', {str(checkpoints['sta_tiny'])!r}, '--out', 'x.engine', "
            "'--format', 'tensorrt', '--split'])\n"
            "assert 'not taken by format' in str(r.exception), r.output\n"
            "import reid_export\nreid_export.export\n"
            "assert 'torch' not in sys.modules and 'onnx' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_onnx_split_fp16_at_opset_18(reid, checkpoints, tmp_path):
    import onnx

    from reid_export.onnx_export import read_info

    out = tmp_path / "tp.onnx"
    run = reid("export", "--model", checkpoints["tp_tiny"], "--format", "onnx-fp16", "--out", out, "--split",
               "--opset", "18")
    assert run.code == 0, run.err
    backbone, head = tmp_path / "tp.backbone.onnx", tmp_path / "tp.head.onnx"
    assert f"wrote {backbone}" in run.out and f"wrote {head}" in run.out
    assert "verification passed" in run.out and "export took" in run.out
    assert [read_info(p).precision for p in (backbone, head)] == ["fp16", "fp32"]
    assert all(entry.version == 18 for entry in onnx.load(str(backbone)).opset_import if entry.domain == "")
    assert not out.exists()


def test_cli_exports_a_registry_name_at_a_size_as_json(reid, tmp_path):
    from reid_export.onnx_export import read_info

    out = tmp_path / "tp.onnx"
    run = reid("export", "--model", "tp_tiny", "--size", "64x32", "--out", out, "--json")
    assert run.code == 0, run.err
    result = json.loads(run.out)  # stdout is the JSON document only; messages went to stderr
    assert result["format"] == "onnx" and result["model"] == "tp_tiny" and result["precision"] == "fp32"
    assert result["files"] == [{"path": str(out), "bytes": out.stat().st_size, "precision": "fp32"}]
    assert result["verification"]["passed"] and result["verification"]["seq_lens"] == [1, 2, 3, 4, 7, 8, 16]
    assert "verification passed" in run.err and "untrained" in run.err
    info = read_info(out)
    assert (info.architecture, info.input_size, info.seq_lengths_verified) == ("tp_tiny", (64, 32),
                                                                              [1, 2, 3, 4, 7, 8, 16])


def test_python_export_of_a_built_model_to_the_default_out(checkpoints, tmp_path, monkeypatch):
    from reid_export.onnx_export import read_info
    from reid_train.engine.checkpoint import load_model

    model, _ = load_model(checkpoints["tp_tiny"])
    monkeypatch.chdir(tmp_path)
    result = api.export(model, "onnx", no_verify=True)
    assert result.files == [tmp_path / "tp_tiny.onnx"] and result.verification is None
    assert read_info(result.files[0]).seq_lengths_verified == []
    assert result.to_dict()["model"] == type(model).__name__


def test_an_out_that_cannot_be_written_is_refused_before_exporting(reid, checkpoints, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    run = reid("export", "--model", checkpoints["sta_tiny"], "--format", "triton", "--out", blocker)
    assert run.code == 2 and "exists and is a file; the triton output is a folder" in run.err
    run = reid("export", "--model", checkpoints["sta_tiny"], "--out", tmp_path)
    assert run.code == 2 and "exists and is a folder; the onnx output is a file" in run.err
    run = reid("export", "--model", checkpoints["sta_tiny"], "--out", blocker / "m.onnx")
    assert run.code == 2 and f"{blocker} is a file, not a folder" in run.err

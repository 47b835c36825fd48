"""`reid export` UX: the formats table, suggestions for unknown formats and options, help with examples."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from reid_export.cli import export
from reid_export.formats import FORMATS, ExportOptionError, check_options, formats_table, get_format


def test_help_prints_the_formats_table():
    result = CliRunner().invoke(export, ["--help"])
    assert result.exit_code == 0
    assert "Formats" in result.output and "Examples" in result.output
    for name, fmt in FORMATS.items():
        assert any(line.split()[:1] == [name] for line in result.output.splitlines()), name
    assert "--calib" in result.output and "--profiles" in result.output and "model.engine" in result.output


def test_formats_table_has_one_row_block_per_format():
    rows = [line.split()[0] for line in formats_table().splitlines()[2:] if line and not line.startswith(" ")]
    assert rows == list(FORMATS)


@pytest.mark.parametrize("typo, suggestion", [("onnx16", "onnx-fp16"), ("tensort", "tensorrt"), ("triton2", "triton"),
                                              ("verfy", "verify")])
def test_unknown_format_suggests_the_closest(typo, suggestion):
    result = CliRunner().invoke(export, [typo])
    assert result.exit_code == 2
    assert f"did you mean {suggestion}" in result.output


def test_get_format_suggests_too():
    with pytest.raises(ExportOptionError, match="did you mean onnx-int8"):
        get_format("onnx-int")


def test_option_of_another_format_names_its_owner(tmp_path):
    result = CliRunner().invoke(export, ["tensorrt", "--onnx", "m.onnx", "--out", "m.engine", "--opset", "18"])
    assert result.exit_code == 2
    assert "--opset is not valid for format 'tensorrt'; it belongs to onnx, onnx-fp16, onnx-int8" in result.output


def test_misspelt_option_gets_the_closest_flag():
    with pytest.raises(ExportOptionError, match="did you mean --simplify"):
        check_options("onnx", ["--simplfy"])
    check_options("onnx", ["--checkpoint=x", "--fp16", "--help"])  # valid flags pass


def test_fp16_and_int8_together_is_a_usage_error(checkpoints, tmp_path):
    result = CliRunner().invoke(export, ["onnx", "--checkpoint", str(checkpoints["tp_tiny"]),
                                         "--out", str(tmp_path / "m.onnx"), "--fp16", "--int8"])
    assert result.exit_code == 2 and "choose one of --fp16 and --int8" in result.output


@pytest.mark.parametrize("command", list(FORMATS) + ["verify"])
def test_every_command_has_help_with_examples(command):
    result = CliRunner().invoke(export, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output and f"reid export {command}" in result.output


def test_help_does_not_import_torch():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom reid_export.cli import export\n"
            "assert CliRunner().invoke(export, ['--help']).exit_code == 0\n"
            "assert CliRunner().invoke(export, ['onnx', '--help']).exit_code == 0\n"
            "assert 'torch' not in sys.modules and 'onnx' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_onnx_split_fp16_at_opset_18(checkpoints, tmp_path):
    import onnx

    from reid_export.onnx_export import read_info

    out = tmp_path / "tp.onnx"
    result = CliRunner().invoke(export, ["onnx", "--checkpoint", str(checkpoints["tp_tiny"]), "--out", str(out),
                                         "--split", "--fp16", "--opset", "18"])
    assert result.exit_code == 0, result.output
    backbone, head = tmp_path / "tp.backbone.onnx", tmp_path / "tp.head.onnx"
    assert f"wrote {backbone}" in result.output and f"wrote {head}" in result.output
    assert "verification passed" in result.output and "export took" in result.output
    assert [read_info(p).precision for p in (backbone, head)] == ["fp16", "fp32"]
    assert all(entry.version == 18 for entry in onnx.load(str(backbone)).opset_import if entry.domain == "")
    assert not out.exists()

"""The `reid` entry point: lazy sub-commands, help, suggestions, and no torch for light commands."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from reid_runtime.cli.main import COMMANDS, cli


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_every_command_has_help_with_examples():
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert "Example" in result.output or "Commands:" in result.output, name


def test_unknown_command_suggests_close_match():
    result = CliRunner().invoke(cli, ["trian"])
    assert result.exit_code != 0
    assert "Did you mean 'train'" in result.output


def test_help_and_data_commands_do_not_import_torch():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from reid_runtime.cli.main import cli\n"
        "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0\n"
        "r = CliRunner().invoke(cli, ['data', 'synth', '--help']); assert r.exit_code == 0\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""The `reid` entry point: lazy sub-commands, help, suggestions, and no torch for light commands."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from reid_runtime.cli.main import cli
from reid_runtime.plugins import commands

COMMANDS = commands()


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


def test_every_layer_registers_its_commands_through_entry_points():
    owners = {name: spec.target.split(".")[0] for name, spec in COMMANDS.items()}
    assert owners["train"] == "reid_train" and owners["export"] == "reid_export" and owners["demo"] == "reid_demo"
    assert {owners[n] for n in ("data", "eval", "embed", "search", "info", "bench")} == {"reid_runtime"}


def test_edge_install_lists_what_it_can_run_and_names_the_extra_for_the_rest(run_edge):
    result = run_edge("--help")
    assert result.returncode == 0, result.stderr
    ready, _, missing = result.stdout.partition("Not installed here")
    for name in ("data", "eval", "embed", "search", "info", "bench"):
        assert f"  {name} " in ready
    for name in ("train", "export", "demo"):
        assert f"  {name} " in missing and f"  {name} " not in ready
    assert "reid-toolkit[train]" in missing and "reid-toolkit[export]" in missing
    result = run_edge("train", "--config", "demo")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: 'reid train' needs torch, yaml, pydantic, which are not installed here; install it with: "
        "pip install 'reid-toolkit[train]'"]

"""One name per concept across every ``reid`` command: the options of all registered commands, walked together."""

from __future__ import annotations

import click
import pytest

from reid_runtime.cli import options
from reid_runtime.cli.main import cli

# Names that one concept used to have besides its one name; none may come back.
RETIRED = {"--checkpoint", "--onnx", "--seq-len", "--seq-lengths", "--seq", "--batch-size", "--batch", "--repo",
           "--json-out", "--backends-list"}
# Concept -> (option name, the shared parameter type it must use).
CONCEPTS = {
    "--model": (options.ModelType,),
    "--seq-lens": (options.IntListType,),
    "--batch-sizes": (options.IntListType,),
    "--size": (options.SizeType,),
    "--dataset": (click.Choice,),
    "--protocol": (click.Choice,),
    "--backend": (click.Choice,),
    "--sampling": (click.Choice,),
}
# Commands whose result is a report a script wants: they print it as JSON with --json.
JSON_COMMANDS = {"reid eval", "reid probe", "reid search", "reid info", "reid embed", "reid export", "reid verify",
                 "reid data summary", "reid train", "reid bench latency", "reid bench flops", "reid bench formats",
                 "reid bench mixed", "reid bench tradeoff", "reid bench seeds"}


def walk(command: click.Command, path: str, ctx: click.Context) -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                found += walk(sub, f"{path} {name}", click.Context(sub, parent=ctx, info_name=name))
    return found


@pytest.fixture(scope="module")
def commands() -> dict[str, click.Command]:
    ctx = click.Context(cli, info_name="reid")
    return dict(walk(cli, "reid", ctx))


def test_every_layer_contributes_commands(commands):
    for path in ("reid train", "reid export", "reid verify", "reid demo", "reid bench latency", "reid bench flops",
                 "reid bench formats", "reid bench mixed", "reid info", "reid eval", "reid embed", "reid search"):
        assert path in commands


def test_no_retired_option_names(commands):
    used = {(path, opt) for path, command in commands.items() for param in command.params
            for opt in [*param.opts, *param.secondary_opts] if opt in RETIRED}
    assert used == set()


def test_each_concept_has_one_name_and_one_type(commands):
    wrong = []
    for path, command in commands.items():
        for param in command.params:
            for name in param.opts:
                expected = CONCEPTS.get(name)
                if expected and not isinstance(param.type, expected):
                    wrong.append(f"{path} {name}: {type(param.type).__name__}")
    assert wrong == []


def test_progress_is_the_same_switch_everywhere(commands):
    for path, command in commands.items():
        for param in command.params:
            if "--progress" in param.opts:
                assert param.secondary_opts == ["--no-progress"] and param.default is None, path


def test_report_commands_take_json(commands):
    missing = [path for path in JSON_COMMANDS if not any("--json" in p.opts for p in commands[path].params)]
    assert missing == []


def test_every_command_has_help_with_an_example(commands):
    for path, command in commands.items():
        if isinstance(command, click.Group):
            continue
        assert "Example" in (command.help or ""), path

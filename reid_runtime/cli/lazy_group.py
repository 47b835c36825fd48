"""A click group whose sub-commands come from a plugin registry and are imported only when they run."""

from __future__ import annotations

import difflib
from collections.abc import Callable

import click

from reid_runtime.plugins import CommandSpec


class LazyGroup(click.Group):
    """Sub-commands given by ``specs()`` (name -> :class:`CommandSpec`).

    The help of every command is in its spec, so ``--help`` lists them without importing any (``reid embed`` must
    never pull in torch through a sibling command's module). Commands whose extra is not installed are listed apart,
    with the install line, and answer with that line when run.
    """

    def __init__(self, *args, specs: Callable[[], dict[str, CommandSpec]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.specs = specs

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.specs()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = self.specs().get(cmd_name)
        if spec is None:
            return super().get_command(ctx, cmd_name)
        if not spec.requirement.available:
            return _unavailable(spec, ctx)
        command = spec.load()
        if not isinstance(command, click.Command):
            raise TypeError(f"{spec.target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        ready, missing = [], []
        for name in self.list_commands(ctx):
            spec = self.specs().get(name)
            if spec is None:
                command = super().get_command(ctx, name)
                if command is not None and not command.hidden:
                    ready.append((name, command.get_short_help_str(formatter.width)))
            elif spec.requirement.available:
                ready.append((name, spec.help))
            else:
                missing.append((name, f"{spec.help} [{spec.requirement.install_hint()}]"))
        if ready:
            with formatter.section("Commands"):
                formatter.write_dl(ready)
        if missing:
            with formatter.section("Not installed here"):
                formatter.write_dl(missing)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else None
        if name and name not in self.list_commands(ctx) and not name.startswith("-"):
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            ctx.fail(f"No such command '{name}'.{hint}")
        return super().resolve_command(ctx, args)


def _unavailable(spec: CommandSpec, ctx: click.Context) -> click.Command:
    """A stand-in that answers, in one line, which extra the command needs."""

    def run(**_: object) -> None:
        spec.requirement.check(f"'{ctx.command_path} {spec.name}'")

    return click.Command(spec.name, callback=run, help=f"{spec.help} (not installed here: "
                         f"{spec.requirement.install_hint()})", context_settings={"ignore_unknown_options": True,
                                                                                   "allow_extra_args": True})

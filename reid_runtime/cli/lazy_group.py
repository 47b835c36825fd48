"""A click group that imports a sub-command's module only when that sub-command runs."""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    """Sub-commands given as ``name -> ("package.module:attr", "short help")``.

    The short help is kept in the table so ``--help`` lists every command without importing any of
    them (``reid embed`` must never pull in torch through a sibling command's module).
    """

    def __init__(self, *args, lazy_commands: dict[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            return self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy_commands:
                rows.append((name, self.lazy_commands[name][1]))
            else:
                cmd = super().get_command(ctx, name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(formatter.width)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else None
        if name and name not in self.list_commands(ctx) and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            ctx.fail(f"No such command '{name}'.{hint}")
        return super().resolve_command(ctx, args)

    def _load(self, cmd_name: str) -> click.Command:
        target, _ = self.lazy_commands[cmd_name]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or str(exc)
            if missing.split(".")[0] in ("reid_runtime", "reid_train", "reid_export"):
                raise
            raise click.ClickException(
                f"'reid {cmd_name}' needs the Python package '{missing}', which is not installed. "
                f"Install the toolkit with the extra that provides it, e.g. pip install 'reid-toolkit[train,export]'."
            ) from exc
        cmd = getattr(module, attr)
        if not isinstance(cmd, click.Command):
            raise TypeError(f"{target} is not a click command")
        return cmd

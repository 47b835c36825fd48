"""Entry point of the ``reid`` command: the base's commands plus those the installed packages register."""

from __future__ import annotations

import sys

import click

from reid_runtime import __version__
from reid_runtime.cli.lazy_group import LazyGroup
from reid_runtime.errors import ReidError
from reid_runtime.plugins import MissingExtraError, commands


@click.group(
    cls=LazyGroup,
    specs=commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.version_option(__version__, prog_name="reid")
def cli() -> None:
    """Video-based person re-identification toolkit.

    \b
    Examples:
      reid data synth --layout mars --out data/synth_mars
      reid train --config demo --data-root data/synth_mars --out runs/demo
      reid eval --model runs/demo/best.pt --data-root data/synth_mars --dataset mars
      reid export --model runs/demo/best.pt --format onnx --out sta.onnx
      reid info sta.onnx
      reid demo --fast
    """


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; toolkit errors print as one clear line instead of a traceback."""
    try:
        cli.main(args=argv, prog_name="reid", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except MissingExtraError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except ReidError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

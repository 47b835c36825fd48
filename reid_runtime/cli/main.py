"""Entry point of the ``reid`` command: the base's commands plus those the installed packages register.

Errors answer in one line on stderr: bad input (:class:`ReidError`, click usage errors) exit 2; a failure exits 1 --
a missing extra, or an :class:`OSError` while reading or writing (disk full, read-only folder, permission denied:
``Error: <path>: <reason>``). ``reid --debug COMMAND ...`` shows the traceback instead.
"""

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
@click.option("--debug", is_flag=True, help="On an error, show the full traceback instead of one line.")
def cli(debug: bool) -> None:
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
    _state["debug"] = debug


_state = {"debug": False}


def os_error_line(exc: OSError) -> str:
    """``<path>: <reason>`` of a failed read or write (the reason alone when the error names no file)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    names = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; toolkit errors print as one clear line instead of a traceback (``reid --debug`` shows it)."""
    _state["debug"] = False
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
        _fail(exc, f"Error: {exc}", 1)
    except ReidError as exc:
        _fail(exc, f"Error: {exc}", 2)
    except OSError as exc:
        _fail(exc, f"Error: {os_error_line(exc)}", 1)


def _fail(exc: Exception, line: str, code: int) -> None:
    """Print ``line`` and exit with ``code``; under ``--debug`` re-raise ``exc`` (its traceback)."""
    if _state["debug"]:
        raise exc
    click.echo(line, err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()

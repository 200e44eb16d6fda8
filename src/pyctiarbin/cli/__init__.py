"""The ``pycti`` command: one entry point, one sub-command per task.

Each command module ``pyctiarbin/cli/<name>.py`` defines ``register(app: typer.Typer) -> None``
that adds its commands to the root application. To add a module, write it and add its name to
:data:`COMMAND_MODULES`; nothing else changes. Shared options (cycler, credentials, channels),
consoles and exit codes are in :mod:`pyctiarbin.cli.common`.

``main()`` is the console-script entry point; ``python -m pyctiarbin.cli`` runs it too.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer

from .common import ExitCode, create_app, describe_error, settings

__all__ = ["COMMAND_MODULES", "build_app", "main", "run"]

#: The command modules, in the order their commands are listed in ``pycti --help``.
COMMAND_MODULES: tuple[str, ...] = (
    "status",
    "info",
    "control",
    "barcode",
    "files",
    "sim",
    "log",
    "alerts",
    "plan",
    "schedule",
    "plot",
    "web",
)

# Typer vendors Click in recent versions and uses the click package in older ones; both raise
# a ClickException for usage errors, and BadParameter (public in Typer) derives from it.
_CLICK_EXCEPTION: type[Exception] = next(
    klass for klass in typer.BadParameter.__mro__ if klass.__name__ == "ClickException"
)


def build_app() -> typer.Typer:
    """The ``pycti`` application with the commands of every module in COMMAND_MODULES."""
    app = create_app()
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(app)
    return app


def _usage_error(exc: Any) -> int:
    if type(exc).__name__ == "NoArgsIsHelpError":
        print(exc.format_message(), file=sys.stderr)
        return int(exc.exit_code)
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "pycti"
    print(f"{path}: error: {exc.format_message()} (see '{path} --help')", file=sys.stderr)
    return int(exc.exit_code)


def run(argv: Sequence[str] | None = None) -> int:
    """Run ``pycti`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Errors end in one line on stderr and their exit code (see pyctiarbin.cli.common); with
    ``--debug`` (or PYCTI_DEBUG=1) the traceback is printed too.
    """
    command = typer.main.get_command(build_app())
    try:
        result = command.main(
            args=list(argv) if argv is not None else None,
            prog_name="pycti",
            standalone_mode=False,
        )
    except typer.Abort:
        print("pycti: not confirmed, nothing was done", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except typer.Exit as exc:
        return int(exc.exit_code)
    except Exception as exc:
        if isinstance(exc, _CLICK_EXCEPTION):
            return _usage_error(exc)
        code, message = describe_error(exc)
        if settings.debug:
            traceback.print_exc()
        print(f"pycti: error: {message}", file=sys.stderr)
        return code
    return result if isinstance(result, int) else ExitCode.OK


def main() -> None:
    """Console-script entry point of ``pycti``: exits with the command's exit code."""
    sys.exit(run())

"""``pycti alerts --rules rules.toml``: watch cyclers and send alerts (standalone).

A thin layer over :mod:`pyctiarbin.alerts`: the cyclers are polled by a logger that stores
nothing and feeds the alert engine (inside ``pycti log`` the same engine can listen to the
logger's readings instead). Alerts go to the notifiers of the rules file and are printed on
stdout, one line each. The format of the rules file is in docs/alerts.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import common

if TYPE_CHECKING:
    from ..alerts import AlertConfig

__all__ = ["register"]


def _describe(config: AlertConfig) -> str:
    lines = [f"{len(config.rules)} rule(s), poll every {config.interval_s:g} s:"]
    for rule in config.rules:
        scope = []
        if rule.cyclers is not None:
            scope.append("cyclers " + ",".join(sorted(rule.cyclers)))
        if rule.channels is not None:
            scope.append("channels " + ",".join(str(c) for c in sorted(rule.channels)))
        notify = ", ".join(rule.notify if rule.notify is not None else config.default_notify)
        action = f", then {rule.action} the channel" if rule.action else ""
        where = f" [{'; '.join(scope)}]" if scope else ""
        lines.append(
            f"  {rule.name} ({rule.kind}, {rule.severity.value}){where} -> {notify or 'nobody'}"
            f"{action}"
        )
    for notifier in config.notifiers:
        lines.append(f"  notifier {notifier!r}")
    return "\n".join(lines)


@contextlib.contextmanager
def alerts_on_stdout() -> Iterator[None]:
    """Alert messages on stdout (the root CLI logger only shows warnings, on stderr)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    alerts_logger = logging.getLogger("pyctiarbin.alerts")
    level, propagate = alerts_logger.level, alerts_logger.propagate
    alerts_logger.addHandler(handler)
    alerts_logger.setLevel(logging.INFO)
    alerts_logger.propagate = False
    try:
        yield
    finally:
        alerts_logger.removeHandler(handler)
        alerts_logger.setLevel(level)
        alerts_logger.propagate = propagate


def alerts(
    rules: Annotated[
        Path,
        typer.Option("--rules", help="The rules file (TOML, see docs/alerts.md).", metavar="FILE"),
    ],
    cycler: Annotated[list[str] | None, common.cyclers_option("watch")] = None,
    config_path: common.ConfigOption = None,
    env_file: common.EnvFileOption = None,
    user: common.UserOption = None,
    interval: Annotated[
        float | None,
        common.seconds_option(
            "--interval", "Seconds between polls (default: the rules file's, else 1).", minimum=0.05
        ),
    ] = None,
    duration: common.DurationOption = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help=(
                "Check the rules file, print the rules and exit (secrets such as a webhook URL "
                "from the environment need not be set; missing ones are named)."
            ),
        ),
    ] = False,
) -> None:
    """Watch cyclers and send alerts by the rules of a TOML file.

    Rules: thresholds on any reading or aux channel, status transitions, communication
    failure, stale data, unreachable cyclers; each alert fires once per episode and resolves
    once. Notifiers: log (stdout), HTTP webhook (JSON, Slack, Teams), e-mail; an optional
    action stops the channel. Exit code 2 for an invalid rules file.
    """
    from ..alerts import RuleError, load_alert_config, run_alerts
    from ..logger import install_stop_signals

    with common.usage_errors(RuleError):
        config = load_alert_config(rules, secrets=not check)
    if check:
        common.out_console().print(_describe(config), highlight=False, markup=False)
        for variable in config.unset_env:
            typer.echo(f"note: {variable} is not set; running these rules needs it", err=True)
        return
    specs = common.cycler_specs(cycler, common.optional_lab_config(config_path), env_file, user)
    interval_s = interval if interval is not None else config.interval_s
    engine = config.engine()

    async def main() -> None:
        ready = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            run_alerts(
                engine, specs, interval_s=interval_s, duration_s=duration, logger_ready=ready
            )
        )
        install_stop_signals(await ready)
        await task

    names = ", ".join(spec.name for spec in specs)
    typer.echo(
        f"watching {names} every {interval_s:g} s with {len(config.rules)} rule(s)", err=True
    )
    with alerts_on_stdout():
        try:
            asyncio.run(main())
        finally:
            engine.close()
    active = engine.active
    if active:
        typer.echo(f"{len(active)} alert(s) still active when stopped", err=True)


def register(app: typer.Typer) -> None:
    """Add ``pycti alerts`` to ``app``."""
    app.command("alerts")(alerts)

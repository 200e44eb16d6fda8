"""A live health view of a running :class:`~pyctiarbin.logger.Logger` (Rich).

Per cycler: connection state, age of the last reading, polls, readings, rows written by the
database sinks, missed intervals, gaps and errors; per sink: database state and the backlog
(rows waiting in memory and in the spill file); per other listener (alerts): the figures its
``stats()`` gives (active alerts, deliveries). :func:`render_health` builds the tables from a
:class:`~pyctiarbin.logger.poller.LoggerHealth`; :class:`LiveView` redraws them while the
logger runs. Log lines go through the same console (a ``RichHandler`` on
:attr:`LiveView.console`), so that they scroll above the view instead of breaking it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .mqtt import MqttStats
from .poller import CyclerState, Logger, LoggerHealth
from .sinks.buffered import SinkStats

__all__ = ["LiveView", "health_lines", "listener_details", "render_health"]

_STATE_STYLES = {
    CyclerState.CONNECTED: "green",
    CyclerState.STARTING: "yellow",
    CyclerState.DISCONNECTED: "red",
    CyclerState.STANDBY: "cyan",
    CyclerState.LOST: "magenta",
    CyclerState.FAILED: "bold red",
    CyclerState.STOPPED: "dim",
}


def _age(age_s: float | None) -> str:
    if age_s is None:
        return "-"
    if age_s < 60:
        return f"{age_s:.1f} s"
    if age_s < 3600:
        return f"{age_s / 60:.1f} min"
    return f"{age_s / 3600:.1f} h"


def listener_details(stats: Any) -> str:
    """One line of a listener's own figures (``stats()``: a mapping, a list value joined)."""
    if stats is None:
        return "-"
    if not isinstance(stats, Mapping):
        return str(stats)
    parts = []
    for key, value in stats.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value) or "none"
        parts.append(f"{key}: {value}")
    return "; ".join(parts) or "-"


def _sinks(health: LoggerHealth) -> list[SinkStats]:
    return [x.stats for x in health.listeners if isinstance(x.stats, SinkStats)]


def _sink_state(stats: SinkStats) -> str:
    # "down" would leave the reader guessing: the logger cannot reach the database.
    return "unreachable" if stats.state == "down" else stats.state


def render_health(health: LoggerHealth, now_unix_s: float | None = None) -> Group:
    """The cycler and sink tables of one health snapshot."""
    now = time.time() if now_unix_s is None else now_unix_s
    sinks = _sinks(health)
    cyclers = Table(
        title=f"pycti log: every {health.interval_s:g} s, running {_age(health.running_s)}",
        title_justify="left",
        expand=False,
    )
    for header, justify in (
        ("cycler", "left"),
        ("address", "left"),
        ("state", "left"),
        ("channels", "right"),
        ("last reading", "right"),
        ("polls", "right"),
        ("rows written", "right"),
        ("missed", "right"),
        ("gaps", "right"),
        ("errors", "right"),
        ("last error", "left"),
    ):
        cyclers.add_column(header, justify=justify)  # type: ignore[arg-type]
    for c in health.cyclers:
        written = sum(s.readings_by_cycler.get(c.name, 0) for s in sinks)
        state = Text(c.state.value, style=_STATE_STYLES.get(c.state, ""))
        if c.owner:
            state.append(f" ({c.owner})", style="dim")
        if c.claim_pending:
            state.append(f" (not claimed yet: {c.claim_pending})", style="yellow")
        cyclers.add_row(
            c.name,
            c.address,
            state,
            str(c.num_channels or "-"),
            _age(c.reading_age_s(now)),
            str(c.polls),
            str(written),
            str(c.missed_intervals),
            f"{c.gaps} ({c.gap_intervals} int.)" if c.gaps else "0",
            str(c.errors),
            Text(c.last_error[:80], style="red") if c.last_error else "",
        )
    parts: list[Table] = [cyclers]
    if health.listeners:
        listeners = Table(title="sinks and listeners", title_justify="left", expand=False)
        for header in (
            "listener",
            "database",
            "rows written",
            "backlog",
            "queued",
            "write errors",
            "last error / details",
        ):
            listeners.add_column(header)
        for entry in health.listeners:
            stats = entry.stats
            if isinstance(stats, SinkStats):
                style = {"up": "green", "down": "red"}.get(stats.state, "dim")
                db = Text(_sink_state(stats), style=style)
                backlog = f"{stats.buffered_rows} in memory"
                if stats.spilled_rows:
                    backlog += f", {stats.spilled_rows} spilled"
                listeners.add_row(
                    stats.url,
                    db,
                    str(stats.rows_written),
                    backlog,
                    str(entry.queued),
                    str(stats.write_errors),
                    Text(stats.last_error[:80], style="red") if stats.last_error else "",
                )
            elif isinstance(stats, MqttStats):
                up = stats.connected == stats.cyclers
                listeners.add_row(
                    stats.url,
                    Text(f"up {stats.connected}/{stats.cyclers}", style="green" if up else "red"),
                    f"{stats.published} published",
                    f"{stats.queued} queued",
                    str(entry.queued),
                    Text(f"{stats.dropped} dropped", style="red") if stats.dropped else "0",
                    "",
                )
            else:
                listeners.add_row(
                    entry.name, "-", "-", "-", str(entry.queued), "-", listener_details(stats)
                )
        parts.append(listeners)
    return Group(*parts)


def health_lines(health: LoggerHealth, now_unix_s: float | None = None) -> list[str]:
    """A plain-text summary, one line per cycler and per sink (for logs and pipes)."""
    now = time.time() if now_unix_s is None else now_unix_s
    lines = [
        f"{c.name} {c.state.value} last={_age(c.reading_age_s(now))} polls={c.polls} "
        f"readings={c.readings} missed={c.missed_intervals} gaps={c.gaps} errors={c.errors}"
        + (f" last_error={c.last_error!r}" if c.last_error else "")
        + (f" not_claimed_yet={c.claim_pending!r}" if c.claim_pending else "")
        for c in health.cyclers
    ]
    for entry in health.listeners:
        stats = entry.stats
        if isinstance(stats, SinkStats):
            lines.append(
                f"{stats.url} {_sink_state(stats)} written={stats.rows_written} "
                f"backlog={stats.buffered_rows}+{stats.spilled_rows} errors={stats.write_errors}"
            )
        elif isinstance(stats, MqttStats):
            lines.append(
                f"{stats.url} connected={stats.connected}/{stats.cyclers} "
                f"published={stats.published} queued={stats.queued} dropped={stats.dropped} "
                f"unpublished={stats.unpublished}"
            )
        elif stats is not None:
            lines.append(f"{entry.name} queued={entry.queued} {listener_details(stats)}")
    return lines


class LiveView:
    """Redraws the health tables of ``logger`` every ``refresh_s`` seconds on ``console``.

    ``await view.run()`` shows the view until :meth:`stop` is called, then draws it a last time.
    """

    def __init__(
        self, logger: Logger, console: Console | None = None, refresh_s: float = 1.0
    ) -> None:
        if not refresh_s > 0:
            raise ValueError("refresh_s must be positive")
        self.logger = logger
        self.console = console or Console()
        self.refresh_s = refresh_s
        self._done: asyncio.Event | None = None

    def stop(self) -> None:
        """End :meth:`run` (after a last redraw)."""
        if self._done is not None:
            self._done.set()

    async def run(self) -> None:
        """Show the view until :meth:`stop`."""
        self._done = done = asyncio.Event()
        with Live(
            render_health(self.logger.health()),
            console=self.console,
            auto_refresh=False,
            transient=False,
        ) as live:
            while not done.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(done.wait(), self.refresh_s)
                live.update(render_health(self.logger.health()), refresh=True)

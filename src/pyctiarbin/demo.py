"""``python -m pyctiarbin.demo`` (``make demo``): the toolkit end to end, on a simulated cycler.

It starts an in-process simulator (16 channels, 60 simulated seconds per second), assigns the
shipped schedules to several channels and starts tests through :class:`CyclerClient`, changes a
meta variable of a running test, and shows every channel (one request per refresh) in a live
table for ``--duration`` seconds. Meanwhile the data logger stores every channel in an SQLite
file (``--db``, default a temporary file) and the dashboard (``pycti web``) serves it; its URL
is printed (``--web-port``, default 8050, or a free port when that one is taken; ``--no-web``
turns both off; the dashboard needs the ``web`` extra). Then it stops the tests, closes the
client, the dashboard, the logger and the simulator, and exits 0. On a terminal the table
refreshes in place; otherwise it is printed as plain text every few seconds.

Nothing is needed beyond the package: no cycler, no credentials (the simulator gets a random
password for this run only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.live import Live

from .client import CyclerClient
from .errors import BatchRejected, CommandRejected
from .protocol import AuxOptions
from .shared import DEFAULT_FILE_PORT
from .simulator import Simulator
from .status_formats import plain_table, status_rich_table, status_table_rows

__all__ = ["DEMO_PLAN", "MV_PLAN", "main"]

log = logging.getLogger("pyctiarbin.demo")

#: (schedule, channels, test name) started by the demo.
DEMO_PLAN: tuple[tuple[str, tuple[int, ...], str], ...] = (
    ("CCCV_Charge.sdx", (1, 2, 3), "demo-charge"),
    ("CC_Discharge.sdx", (4, 5, 6), "demo-discharge"),
    ("Cycle_CCCV.sdx", (7, 8, 9), "demo-cycle"),
    ("MV_Current.sdx", (10, 11), "demo-mv-current"),
    ("Rest.sdx", (12,), "demo-rest"),
)
#: MV_Current.sdx makes the current follow MV_UD1: (value set at start, value set half-way), A.
MV_PLAN: dict[int, tuple[float, float]] = {10: (1.5, -1.0), 11: (-0.5, 0.8)}
PLAIN_EVERY_S = 5.0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pyctiarbin.demo",
        description="Start a simulated cycler, run tests on several channels and watch them.",
    )
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds to watch (default 20)"
    )
    parser.add_argument(
        "--speed", type=float, default=60.0, help="simulated seconds per second (default 60)"
    )
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between reads (default 0.5)"
    )
    parser.add_argument(
        "--db", help="log into this SQLite URL (default: a temporary file, deleted at the end)"
    )
    parser.add_argument(
        "--web-port", type=int, default=8050, help="dashboard port (default 8050; 0: any free)"
    )
    parser.add_argument("--no-web", action="store_true", help="neither log nor serve the dashboard")
    args = parser.parse_args(argv)
    if not args.duration > 0 or not args.speed > 0 or not args.interval > 0:
        parser.error("--duration, --speed and --interval must be positive")
    return args


def _start_tests(client: CyclerClient, console: Console) -> list[int]:
    """Assign and start the plan; returns the channels started."""
    started: list[int] = []
    for schedule, channels, test_name in DEMO_PLAN:
        client.assign_schedule(channels, schedule)
        client.start(channels, test_name)
        started.extend(channels)
        listed = ", ".join(str(ch) for ch in channels)
        console.print(f"started {schedule} on channel(s) {listed} as {test_name!r}")
    for channel, (first_a, _) in MV_PLAN.items():
        client.set_meta_variable(channel, "MV_UD1", first_a)
    return started


def _stop_tests(client: CyclerClient, channels: list[int], console: Console) -> None:
    """Stop what still runs; a test that already ended refuses, which is fine here."""
    try:
        client.stop(channels)
    except BatchRejected as exc:
        for channel, rejection in sorted(exc.rejections.items()):
            log.info("channel %d: %s", channel, rejection.meaning)
    except CommandRejected as exc:
        log.info("stop: %s", exc.meaning)
    console.print(f"stopped the tests on channels {channels[0]}..{channels[-1]}")


def _watch(client: CyclerClient, console: Console, duration_s: float, interval_s: float) -> None:
    start = time.monotonic()
    end = start + duration_s
    changed_mv = False
    last_plain = -PLAIN_EVERY_S

    def title() -> str:
        left = max(0.0, end - time.monotonic())
        values = ", ".join(
            f"ch {channel}: {later if changed_mv else first:g} A"
            for channel, (first, later) in MV_PLAN.items()
        )
        return f"simulated cycler  {datetime.now():%H:%M:%S}  {left:.0f} s left  (MV_UD1 {values})"

    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    if live is not None:
        live.start()
    try:
        while True:
            now = time.monotonic()
            if not changed_mv and now - start >= duration_s / 2:
                for channel, (_, later_a) in MV_PLAN.items():
                    client.set_meta_variable(channel, "MV_UD1", later_a)
                changed_mv = True
            statuses = client.read_channels(aux=int(AuxOptions.AUX))
            if live is not None:
                live.update(status_rich_table(statuses, title=title()), refresh=True)
            elif now - last_plain >= PLAIN_EVERY_S or now >= end:
                headers, rows, _ = status_table_rows(statuses)
                console.print(f"\n{title()}\n{plain_table(headers, rows)}", markup=False)
                last_plain = now
            if now >= end:
                return
            time.sleep(min(interval_s, max(0.0, end - time.monotonic())) or interval_s)
    finally:
        if live is not None:
            live.stop()


@contextlib.contextmanager
def logged_dashboard(
    sim: Simulator,
    username: str,
    password: str,
    db_url: str | None,
    web_port: int,
    console: Console,
) -> Iterator[None]:
    """Log ``sim`` (as ``demo``) into an SQLite file and serve the dashboard over it."""
    from .logger import CyclerSpec, Logger, open_sink
    from .logger.sinks.sqlite import SqliteDatabase, path_from_url

    with contextlib.ExitStack() as stack:
        if db_url is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="pycti-demo-"))
            db_url = f"sqlite:///{Path(directory) / 'demo.db'}"
        database = SqliteDatabase(path_from_url(db_url))
        database.connect()  # the schema, so that the dashboard can open the file at once
        database.disconnect()
        spec = CyclerSpec("demo", sim.host, sim.port, username, password)
        logger = Logger([spec], [open_sink(db_url)], interval_s=0.5)
        thread = threading.Thread(
            target=lambda: asyncio.run(logger.run()), name="pycti-demo-logger"
        )
        thread.start()

        def stop_logger() -> None:
            while thread.is_alive():
                logger.stop_threadsafe()
                thread.join(0.2)

        stack.callback(stop_logger)
        try:
            from .web.server import RunningServer, WebSettings
        except ImportError as exc:
            console.print(f"logging into {db_url}; no dashboard: {exc}", markup=False)
            yield
            return
        try:
            server = RunningServer(WebSettings(db_url), port=web_port)
        except OSError:
            server = RunningServer(WebSettings(db_url), port=0)
        stack.enter_context(server)
        console.print(f"logging into {db_url}", markup=False)
        console.print(f"dashboard: {server.url}/ (open it in a browser)", markup=False)
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns the exit code (0, or 130 when interrupted)."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=100_000, no_color=True)
    password = secrets.token_urlsafe(16)
    interrupted = False
    with Simulator(channels=16, speed=args.speed, users={"demo": password}) as sim:
        console.print(
            f"simulator: 16 channels on {sim.host}:{sim.port} (files on port {sim.file_port}), "
            f"{args.speed:g} simulated seconds per second"
        )
        dashboard = (
            contextlib.nullcontext()
            if args.no_web
            else logged_dashboard(sim, "demo", password, args.db, args.web_port, console)
        )
        with (
            dashboard,
            CyclerClient(
                sim.host,
                sim.port,
                file_port=sim.file_port or DEFAULT_FILE_PORT,
                username="demo",
                password=password,
            ) as client,
        ):
            info = client.login_info
            console.print(f"logged in: serial {info.serial_number}, {info.num_channels} channels")
            started = _start_tests(client, console)
            try:
                _watch(client, console, args.duration, args.interval)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                _stop_tests(client, started, console)
    console.print("simulator stopped; demo over")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())

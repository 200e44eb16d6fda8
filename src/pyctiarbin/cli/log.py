"""``pycti log`` (every channel of every cycler into a database) and ``pycti export`` (stored
readings as Battery Data Format files). Thin layers over :mod:`pyctiarbin.logger`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import (
    CliError,
    ConfigOption,
    DurationOption,
    EnvFileOption,
    ExitCode,
    UserOption,
    cycler_specs,
    cyclers_option,
    database_option,
    err_console,
    optional_lab_config,
    out_console,
    parse_channels,
    seconds_option,
    settings,
    usage_errors,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ..config import LabConfig
    from ..logger import DatabaseSink, Logger
    from ..logger.mqtt import MqttPublisher

__all__ = ["register"]

DEFAULT_DB = "sqlite:///pycti-log.db"
_PANEL_STORAGE = "Storage"
_PANEL_MQTT = "Publishing (MQTT)"


def _tolerances(values: list[str] | None) -> dict[str, float]:
    tolerances: dict[str, float] = {}
    for value in values or ():
        name, eq, number = value.partition("=")
        try:
            if not eq:
                raise ValueError
            tolerances[name.strip()] = float(number)
        except ValueError:
            raise CliError(
                f"--tolerance {value!r}: expected FIELD=NUMBER, e.g. voltage_v=0.002"
            ) from None
    return tolerances


def _parse_time(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"{option} {text!r}: expected an ISO 8601 time, e.g. 2024-05-01T12:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _open_sink(url: str, **options: object) -> DatabaseSink:
    from ..logger import open_sink

    try:
        return open_sink(url, **options)
    except ImportError as exc:
        raise CliError(f"--db {url.split('://')[0]}://...: {exc}") from exc


def _mqtt_publisher(
    url: str | None, queue: int | None, config: LabConfig | None
) -> MqttPublisher | None:
    mqtt_config = config.mqtt if config is not None else None
    if url is None and mqtt_config is not None:
        url = mqtt_config.url
    if url is None:
        if queue is not None:
            raise CliError("--mqtt-queue needs --mqtt URL (or a [mqtt] url in the config file)")
        return None
    try:
        from ..logger.mqtt import MqttPublisher, MqttSettings

        options: dict[str, Any] = {"queue_size": queue} if queue is not None else {}
        settings = MqttSettings.from_url(url, config=mqtt_config, **options)
        return MqttPublisher(settings)
    except ValueError as exc:
        raise CliError(f"--mqtt: {exc}", ExitCode.USAGE) from None
    except ImportError as exc:
        raise CliError(f"--mqtt: {exc}") from exc


async def _run_logger(logger: Logger, duration_s: float | None, live: Console | None) -> None:
    from ..logger import install_stop_signals
    from ..logger.live import LiveView

    install_stop_signals(logger)
    if live is None:
        await logger.run(duration_s)
        return
    view = LiveView(logger, live)
    view_task = asyncio.get_running_loop().create_task(view.run())
    try:
        await logger.run(duration_s)
    finally:
        view.stop()
        await view_task


def register(app: typer.Typer) -> None:
    """Add ``pycti log`` and ``pycti export`` to ``app``."""

    @app.command("log")
    def log_command(
        cycler: Annotated[list[str] | None, cyclers_option("log")] = None,
        config_path: ConfigOption = None,
        env_file: EnvFileOption = None,
        user: UserOption = None,
        interval: Annotated[
            float,
            seconds_option("--interval", "Seconds between polls of each cycler.", minimum=0.01),
        ] = 1.0,
        db: Annotated[str, database_option(panel=_PANEL_STORAGE)] = DEFAULT_DB,
        duration: DurationOption = None,
        on_change: Annotated[
            bool,
            typer.Option(
                "--on-change",
                help="Store a reading only when it changed beyond the "
                "tolerances (at least every --max-interval seconds).",
                rich_help_panel=_PANEL_STORAGE,
            ),
        ] = False,
        max_interval: Annotated[
            float,
            seconds_option(
                "--max-interval",
                "With --on-change: store each channel at least this often.",
                minimum=0.001,
                panel=_PANEL_STORAGE,
            ),
        ] = 60.0,
        tolerance: Annotated[
            list[str] | None,
            typer.Option(
                "--tolerance",
                help="With --on-change: FIELD=NUMBER, e.g. "
                "voltage_v=0.002 or aux_temperature=0.5. Repeat it.",
                metavar="FIELD=NUMBER",
                rich_help_panel=_PANEL_STORAGE,
            ),
        ] = None,
        spill: Annotated[
            Path | None,
            typer.Option(
                "--spill",
                help="Spill file for rows the database cannot take yet "
                "(default: next to an SQLite database, else in the working directory).",
                metavar="FILE",
                rich_help_panel=_PANEL_STORAGE,
            ),
        ] = None,
        max_buffer: Annotated[
            int,
            typer.Option(
                "--max-buffer",
                help="Rows kept in memory while the database is down or slow before spilling.",
                min=0,
                metavar="ROWS",
                rich_help_panel=_PANEL_STORAGE,
            ),
        ] = 100_000,
        standby: Annotated[
            bool,
            typer.Option(
                "--standby",
                help="PostgreSQL: wait for cyclers another logger owns "
                "and take them over when it stops (default: refuse to start).",
            ),
        ] = False,
        claim_retry: Annotated[
            float,
            seconds_option(
                "--claim-retry",
                "With --standby: seconds between attempts to take a cycler over.",
                minimum=0.01,
            ),
        ] = 5.0,
        timeout: Annotated[
            float | None,
            seconds_option(
                "--timeout", "Seconds a poll may take (default: max(1, interval)).", minimum=0.01
            ),
        ] = None,
        aux: Annotated[
            bool, typer.Option("--aux/--no-aux", help="Read aux, BMS and SMB values too.")
        ] = True,
        live: Annotated[
            bool | None,
            typer.Option(
                "--live/--no-live", help="Show the live health view (default: on a terminal)."
            ),
        ] = None,
        alerts: Annotated[
            Path | None,
            typer.Option(
                "--alerts",
                help="Also evaluate the alert rules of this file (see pycti alerts) on the "
                "logged readings, in this process, without a second polling loop.",
                metavar="RULES.toml",
            ),
        ] = None,
        mqtt: Annotated[
            str | None,
            typer.Option(
                "--mqtt",
                help="Also publish every reading to this MQTT broker: mqtt://HOST[:PORT][/PREFIX] "
                "or mqtts:// (TLS). Credentials and TLS files: PYCTI_MQTT_* variables or the "
                "config file's [mqtt] table (see docs/mqtt.md). Default: the config's [mqtt] url.",
                metavar="URL",
                rich_help_panel=_PANEL_MQTT,
            ),
        ] = None,
        mqtt_queue: Annotated[
            int | None,
            typer.Option(
                "--mqtt-queue",
                help="Messages kept per cycler while the broker is away (default 50000).",
                min=1,
                max=60_000,
                metavar="MESSAGES",
                rich_help_panel=_PANEL_MQTT,
            ),
        ] = None,
    ) -> None:
        """Log every channel of every cycler into a database until stopped.

        Polls all cyclers concurrently at a fixed interval, one request per cycler; records
        test boundaries and gaps; buffers and spills while the database is down, also when it
        is down at start (the cyclers' PostgreSQL claims are then taken once it answers).
        Ctrl-C or SIGTERM flush and exit cleanly.
        """
        from ..logger import Listener, Logger, OnChangeFilter, OwnershipError

        lab_config = optional_lab_config(config_path)
        specs = cycler_specs(cycler, lab_config, env_file, user)
        filter_ = None
        if on_change:
            filter_ = OnChangeFilter(_tolerances(tolerance), max_interval)
        elif tolerance:
            raise CliError("--tolerance only applies with --on-change")
        listeners: list[Listener] = []
        publisher = _mqtt_publisher(mqtt, mqtt_queue, lab_config)
        if publisher is not None:
            listeners.append(publisher)
        if alerts is not None:
            from ..alerts import RuleError, load_alert_config
            from .alerts import alerts_on_stdout

            with usage_errors(RuleError):
                alert_config = load_alert_config(alerts)
            from ..alerts.history import AlertHistory, RecordingAlertListener

            # The alerts also go to the database (table alert_events) for the dashboard.
            listeners.append(
                RecordingAlertListener(
                    alert_config.engine(),
                    AlertHistory(db),
                    specs,
                    on_alert=publisher.alert_sink() if publisher is not None else None,
                )
            )
        sink = _open_sink(db, max_buffer_rows=max_buffer, spill_path=spill, on_change=filter_)
        logger = Logger(
            specs,
            [sink, *listeners],
            interval_s=interval,
            aux=aux,
            timeout_s=timeout,
            standby=standby,
            claim_retry_s=claim_retry,
        )
        show_live = live if live is not None else sys.stdout.isatty()
        console: Console | None = None
        if show_live:
            from rich.logging import RichHandler

            # One console for the view and every log line (the logger's, the alerts', any
            # warning of the package): lines scroll above the view, frames do not pile up.
            console = out_console() if sys.stdout.isatty() else err_console()
            handler: logging.Handler = RichHandler(console=console, show_path=False)
        else:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler.setLevel(logging.DEBUG if settings.debug else logging.INFO)
        package_log = logging.getLogger("pyctiarbin")
        logger_log = logging.getLogger("pyctiarbin.logger")
        alerts_log = logging.getLogger("pyctiarbin.alerts")
        saved = (logger_log.level, alerts_log.level)
        package_log.addHandler(handler)
        package_log.propagate = False
        logger_log.setLevel(logging.INFO)
        if alerts is not None and show_live:
            alerts_log.setLevel(logging.INFO)  # alert lines above the view
        try:
            with (
                alerts_on_stdout()
                if alerts is not None and not show_live
                else contextlib.nullcontext()
            ):
                asyncio.run(_run_logger(logger, duration, console))
        except OwnershipError as exc:
            raise CliError(str(exc), ExitCode.REFUSED) from exc
        finally:
            package_log.removeHandler(handler)
            package_log.propagate = True
            logger_log.setLevel(saved[0])
            alerts_log.setLevel(saved[1])
        from ..logger.live import health_lines

        health = logger.health()
        if not show_live:
            for line in health_lines(health):
                typer.echo(line)
        if publisher is not None:
            mqtt_stats = publisher.stats()
            if mqtt_stats.dropped or mqtt_stats.unpublished:
                typer.echo(
                    f"pycti log: MQTT {mqtt_stats.url}: {mqtt_stats.dropped} reading(s) dropped "
                    f"(queue full), {mqtt_stats.unpublished} message(s) not published at stop; "
                    "the database has every reading",
                    err=True,
                )
        stats = sink.stats()
        if stats.backlog_rows:
            typer.echo(
                f"pycti log: {stats.spilled_rows} rows wait in the spill file "
                f"{stats.spill_path or spill}; the next 'pycti log' with this --db writes them",
                err=True,
            )

    @app.command("export")
    def export_command(
        db: Annotated[str, database_option()],
        out: Annotated[
            Path,
            typer.Option(
                "--out", help="Directory for the files (created if missing).", metavar="DIR"
            ),
        ],
        fmt: Annotated[
            str,
            typer.Option(
                "--format",
                help="csv (*.bdf.csv) or parquet (*.bdf.parquet).",
                metavar="csv|parquet",
            ),
        ] = "csv",
        by: Annotated[
            str,
            typer.Option(
                "--by",
                help="One file per 'test', or per 'channel' (with --start/--end for a time range).",
                metavar="test|channel",
            ),
        ] = "test",
        cycler: Annotated[
            list[str] | None,
            typer.Option("--cycler", help="Only this cycler (repeat it).", metavar="NAME"),
        ] = None,
        channel: Annotated[
            list[str] | None,
            typer.Option(
                "--channel", "-c", help="Only these channels: N, A-B or A,B,C.", metavar="N|A-B"
            ),
        ] = None,
        test_id: Annotated[
            list[int] | None,
            typer.Option("--test-id", help="Only this test (repeat it).", metavar="ID"),
        ] = None,
        start: Annotated[
            str | None,
            typer.Option(
                "--start",
                help="From this time (ISO 8601; UTC when no zone is given).",
                metavar="TIME",
            ),
        ] = None,
        end: Annotated[
            str | None,
            typer.Option("--end", help="Until this time (exclusive).", metavar="TIME"),
        ] = None,
        include_idle: Annotated[
            bool,
            typer.Option(
                "--include-idle",
                help="With --by channel: also channels that ran no test in the range (their "
                "idle readings).",
            ),
        ] = False,
    ) -> None:
        """Write stored readings as Battery Data Format files with metadata sidecars.

        Exits with 1 and says why when nothing matches; never creates a database."""
        from ..logger.export import describe_empty_export, export_bdf
        from ..logger.sinks import open_database

        if fmt not in ("csv", "parquet"):
            raise CliError(f"--format {fmt!r}: expected csv or parquet")
        if by not in ("test", "channel"):
            raise CliError(f"--by {by!r}: expected test or channel")
        start_s = _parse_time(start, "--start")
        end_s = _parse_time(end, "--end")
        if start_s is not None and end_s is not None and end_s <= start_s:
            raise CliError("--end must be after --start")
        if include_idle and by != "channel":
            raise CliError(
                "--include-idle applies to --by channel (idle readings belong to no test)"
            )
        try:
            database = open_database(db)
        except ImportError as exc:
            raise CliError(f"--db: {exc}") from exc
        try:
            database.connect_existing()
        except (FileNotFoundError, LookupError) as exc:
            raise CliError(f"--db {database.display_url}: {exc}") from exc
        except Exception as exc:
            raise CliError(
                f"cannot open {database.display_url}: {exc}", ExitCode.CONNECTION
            ) from exc
        selection: dict[str, Any] = {
            "by": by,
            "cyclers": cycler or None,
            "channels": parse_channels(channel) or None,
            "test_ids": test_id or None,
            "start_s": start_s,
            "end_s": end_s,
            "include_idle": include_idle,
        }
        try:
            files = export_bdf(database, out, fmt=fmt, **selection)
            why = "" if files else describe_empty_export(database, **selection)
        except ImportError as exc:
            raise CliError(str(exc)) from exc
        finally:
            database.disconnect()
        if not files:
            raise CliError(f"nothing exported: {why}", ExitCode.REFUSED)
        for exported in files:
            typer.echo(f"{exported.path}  ({exported.rows} rows)")
        typer.echo(f"{len(files)} file(s) written to {out}", err=True)

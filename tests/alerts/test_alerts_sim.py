"""Alerts end to end: the logger polls a simulator over TCP and feeds the alert engine (the
standalone mode of `pycti alerts`), rules fire, and the
notifiers deliver to real local servers (HTTP webhook, SMTP)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from email import message_from_string
from pathlib import Path
from typing import Any

import pytest

from lab_servers import PASSWORD, USER, SmtpServer, WebhookServer, wait_until
from pyctiarbin.alerts import (
    AlertEngine,
    AlertEvent,
    AlertListener,
    EmailNotifier,
    EventKind,
    FieldRef,
    Severity,
    StatusRule,
    ThresholdRule,
    UnreachableRule,
    WebhookNotifier,
    run_alerts,
)
from pyctiarbin.client import AsyncCyclerClient
from pyctiarbin.logger import CyclerSpec, Logger, open_sink
from pyctiarbin.protocol import StatusCode
from pyctiarbin.simulator import Simulator


async def eventually(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {predicate}")
        await asyncio.sleep(0.02)


def polls(logger: Logger) -> int:
    return logger.health().cyclers[0].polls


def watch(
    sim: Simulator,
    engine: AlertEngine,
    scenario: Callable[[Logger], Awaitable[None]],
    *,
    interval_s: float = 0.05,
    timeout_s: float | None = None,
) -> None:
    """Run ``scenario`` while the standalone alerts (a logger that stores nothing) poll
    ``sim`` as cycler "A"."""
    spec = CyclerSpec("A", sim.host, sim.port, username=USER, password=PASSWORD)

    async def main() -> None:
        ready: asyncio.Future[Logger] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            run_alerts(
                engine, [spec], interval_s=interval_s, timeout_s=timeout_s, logger_ready=ready
            )
        )
        logger = await ready
        try:
            await scenario(logger)
        finally:
            logger.stop()
            await task

    asyncio.run(main())


def test_temperature_excursion_fires_once_and_resolves_once(
    simulator: Simulator, webhook: WebhookServer
) -> None:
    rule = ThresholdRule(
        name="cell too hot",
        field=FieldRef.parse("aux.temperature"),
        op=">",
        value=45.0,
        clear=43.0,
        for_s=0.3,
        severity=Severity.CRITICAL,
    )
    hook = WebhookNotifier("lab", webhook.url, timeout_s=2.0)
    engine = AlertEngine([rule], [hook], default_notify=("log", "lab"))

    async def scenario(logger: Logger) -> None:
        await eventually(lambda: polls(logger) >= 3)
        # Noisy excursion on channel 5: above, briefly inside the band, above again.
        for temperature in (50.0, 44.0, 51.0, 46.0):
            simulator.set_aux(5, temperature_c=temperature)
            await asyncio.sleep(0.2)
        await eventually(lambda: len(engine.active) == 1)
        simulator.set_aux(5, temperature_c=44.0)  # inside the hysteresis band: still active
        await asyncio.sleep(0.3)
        assert len(engine.active) == 1
        simulator.set_aux(5, clear=True)  # back to the cell's own temperature (~25 °C)
        await eventually(lambda: not engine.active)

    try:
        watch(simulator, engine, scenario)
    finally:
        engine.close()
    posts = webhook.wait_for(2)
    assert [p["event"] for p in posts] == ["fired", "resolved"]
    fired, resolved = posts
    assert (fired["cycler"], fired["channel"], fired["rule"]) == ("A", 5, "cell too hot")
    assert fired["severity"] == "critical" and fired["value"] > 45.0
    assert resolved["value"] < 43.0 and resolved["duration_s"] > 0.0
    assert engine.stats["lab"].delivered == 2 and engine.stats["lab"].failed == 0


def test_status_transition_alerts(simulator: Simulator, webhook: WebhookServer) -> None:
    rules = [
        StatusRule(name="unsafe", to=frozenset({StatusCode.UNSAFE}), severity=Severity.CRITICAL),
        StatusRule(name="paused", to=frozenset({StatusCode.PAUSE})),
    ]
    engine = AlertEngine(rules, [WebhookNotifier("lab", webhook.url)], default_notify=("lab",))

    async def scenario(logger: Logger) -> None:
        client = AsyncCyclerClient(simulator.host, simulator.port, username=USER, password=PASSWORD)
        async with client:
            await client.assign_schedule([2, 3], "Rest.sdx")
            await client.start([2, 3], "status-alerts")
        await eventually(lambda: polls(logger) >= 3)
        simulator.make_unsafe(2, "Unsafe: over temperature")
        simulator.pause(3)
        await eventually(lambda: len(engine.active) == 2)

    try:
        watch(simulator, engine, scenario)
    finally:
        engine.close()
    posts = webhook.wait_for(2)
    assert sorted((p["rule"], p["channel"], p["event"], p["value"]) for p in posts) == [
        ("paused", 3, "fired", "Pause"),
        ("unsafe", 2, "fired", "Unsafe"),
    ]


def test_stop_action_stops_the_channel(simulator: Simulator) -> None:
    rule = ThresholdRule(
        name="too hot, stop",
        field=FieldRef.parse("temperature[1]"),
        op=">=",
        value=60.0,
        action="stop",
    )
    engine = AlertEngine([rule])

    async def scenario(logger: Logger) -> None:
        client = AsyncCyclerClient(simulator.host, simulator.port, username=USER, password=PASSWORD)
        async with client:
            await client.assign_schedule(4, "CC_Discharge.sdx")
            await client.start(4, "stop-action")
            await eventually(lambda: simulator.channel(4).status.is_running)
            simulator.set_aux(4, temperature_c=65.0)
            await eventually(lambda: not simulator.channel(4).status.is_running)

    try:
        watch(simulator, engine, scenario)
    finally:
        engine.close()
    assert engine.stats["action:stop"].delivered == 1


def test_unreachable_cycler_fires_and_resolves(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pyctiarbin.alerts")
    engine = AlertEngine([UnreachableRule(name="cycler down", after=2)])
    first = Simulator(channels=2).start()
    port = first.port
    events: list[AlertEvent] = []
    restarted: list[Simulator] = []

    async def scenario(logger: Logger) -> None:
        await eventually(lambda: polls(logger) >= 2)
        await asyncio.to_thread(first.stop)
        await eventually(lambda: len(engine.active) == 1)
        events.extend(engine.active)
        restarted.append(await asyncio.to_thread(Simulator(channels=2, port=port).start))
        await eventually(lambda: not engine.active)

    try:
        watch(first, engine, scenario, interval_s=0.05, timeout_s=0.5)
    finally:
        engine.close()
        first.stop()
        for sim in restarted:
            sim.stop()
    assert events[0].channel is None and events[0].kind is EventKind.FIRED
    logged = [r.getMessage() for r in caplog.records if "cycler down" in r.getMessage()]
    assert len(logged) == 2 and logged[1].startswith("[RESOLVED] cycler down: A")


def test_webhook_retries_then_delivers(webhook: WebhookServer) -> None:
    webhook.fail_first = 2
    hook = WebhookNotifier("lab", webhook.url, retries=3, backoff_s=0.01)
    from .test_rules import hot_rule, reading

    with AlertEngine([hot_rule(for_s=0)], [hook], default_notify=("lab",)) as engine:
        engine.on_readings("A", [reading(temps=(50.0,))], 0.0)
        webhook.wait_for(1)
    assert engine.stats["lab"].attempts == 3 and engine.stats["lab"].delivered == 1


def test_webhook_failure_never_reaches_the_engine(
    webhook: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.status = 404
    hook = WebhookNotifier("lab", webhook.url, retries=3, backoff_s=0.01)
    dead = WebhookNotifier("dead", "http://127.0.0.1:9/nothing", retries=1, backoff_s=0.01)
    from .test_rules import hot_rule, reading

    with AlertEngine([hot_rule(for_s=0)], [hook, dead], default_notify=("lab", "dead")) as engine:
        engine.on_readings("A", [reading(temps=(50.0,))], 0.0)
        wait_until(lambda: engine.stats["lab"].failed == 1 and engine.stats["dead"].failed == 1)
        # The engine keeps working.
        assert len(engine.on_readings("A", [reading(temps=(20.0,))], 1.0)) == 1
    assert engine.stats["lab"].attempts == 2  # a 404 is not retried (two events, one try each)
    assert engine.stats["dead"].attempts == 4  # refused: retried once per event
    text = caplog.text
    assert "HTTP 404" in text and "SECRET-TOKEN" not in text


def mail_as_alice(smtp_server: SmtpServer, password: str, **options: Any) -> EmailNotifier:
    """The notifier "mail": ``smtp_server`` without TLS, logged in as alice with ``password``."""
    return EmailNotifier(
        "mail",
        "127.0.0.1",
        port=smtp_server.port,
        security="none",
        username="alice",
        password=password,
        **options,
    )


def test_email_notifier_sends_through_smtp(smtp_server: SmtpServer) -> None:
    mail = mail_as_alice(
        smtp_server,
        smtp_server.password,
        sender="alerts@lab.example",
        recipients=["oncall@lab.example"],
        timeout_s=5.0,
    )
    assert smtp_server.password not in repr(mail)
    from .test_rules import hot_rule, reading

    with AlertEngine([hot_rule(for_s=0)], [mail], default_notify=("mail",)) as engine:
        engine.on_readings("A", [reading(3, temps=(50.0,))], 0.0)
        wait_until(lambda: len(smtp_server.messages) == 1)
    assert smtp_server.logins == [("alice", smtp_server.password)]
    sent = smtp_server.messages[0]
    assert sent["to"] == ["oncall@lab.example"]
    message = message_from_string(sent["data"])
    assert message["Subject"] == "[pycti] WARNING: hot on A ch 3"


def test_email_login_refused_is_reported_without_password(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    mail = mail_as_alice(
        smtp_server, "wrong-password", sender="a@x", recipients=["b@x"], retries=2, backoff_s=0.01
    )
    from .test_rules import hot_rule, reading

    with AlertEngine([hot_rule(for_s=0)], [mail], default_notify=("mail",)) as engine:
        engine.on_readings("A", [reading(temps=(50.0,))], 0.0)
        wait_until(lambda: engine.stats["mail"].failed == 1)
    assert engine.stats["mail"].attempts == 1  # a refused login is not retried
    assert "login refused for user 'alice'" in caplog.text
    assert "wrong-password" not in caplog.text


def test_alerts_inside_the_logger_share_its_readings(
    simulator: Simulator, webhook: WebhookServer, tmp_path: Path
) -> None:
    """One polling loop: the logger stores readings in SQLite and the alert listener sees the
    very same batches."""
    rule = ThresholdRule(
        name="hot", field=FieldRef.parse("temperature"), op=">", value=45.0, clear=43.0
    )
    engine = AlertEngine([rule], [WebhookNotifier("lab", webhook.url)], default_notify=("lab",))
    spec = CyclerSpec("bay1", simulator.host, simulator.port, username=USER, password=PASSWORD)
    database = tmp_path / "lab.db"
    alerts = AlertListener(engine, [spec])

    async def main() -> None:
        logger = Logger([spec], [open_sink(f"sqlite:///{database}"), alerts], interval_s=0.05)
        task = asyncio.create_task(logger.run())
        await eventually(lambda: logger.health().cyclers[0].polls >= 2)
        simulator.set_aux(6, temperature_c=48.0)
        await eventually(lambda: len(engine.active) == 1)
        simulator.set_aux(6, clear=True)
        await eventually(lambda: not engine.active)
        assert alerts.stats()["active"] == 0
        logger.stop()
        await task

    asyncio.run(main())
    posts = webhook.wait_for(2)
    assert [(p["event"], p["cycler"], p["channel"]) for p in posts] == [
        ("fired", "bay1", 6),
        ("resolved", "bay1", 6),
    ]
    with sqlite3.connect(database) as connection:
        hot_rows = connection.execute(
            "SELECT COUNT(*) FROM readings WHERE cycler = 'bay1' AND channel = 6 "
            "AND aux LIKE '%48.0%'"
        ).fetchone()[0]
    connection.close()
    assert hot_rows >= 1

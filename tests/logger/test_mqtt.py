"""Live readings on MQTT, against a real Mosquitto: every reading of a multi-cycler run reaches
a subscriber in order and equal to what the database stored; a broker restart loses nothing
within the queue bound (and what overflows is counted); the last will fires when the logger is
killed; every payload validates against the shipped JSON Schema."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

pytest.importorskip("gmqtt", reason="the mqtt extra (gmqtt) is not installed")
pytest.importorskip("paho.mqtt", reason="the test extra (paho-mqtt, the subscriber) is missing")
jsonschema = pytest.importorskip("jsonschema")

from pyctiarbin import CyclerClient  # noqa: E402
from pyctiarbin.alerts.events import AlertEvent, EventKind, Severity  # noqa: E402
from pyctiarbin.config import ConfigError, load_lab_config  # noqa: E402
from pyctiarbin.logger import CyclerSpec, Gap, Logger, open_sink  # noqa: E402
from pyctiarbin.logger.live import health_lines, render_health  # noqa: E402
from pyctiarbin.logger.mqtt import (  # noqa: E402
    MqttPublisher,
    MqttSettings,
    _ChannelOutbox,
    payload_schema,
    reading_payload,
    row_payload,
)
from pyctiarbin.logger.readings import (  # noqa: E402
    READING_COLUMNS,
    CyclerInfo,
    Reading,
    ReadingBatch,
    reading_row,
)
from pyctiarbin.simulator import Simulator  # noqa: E402

from .mqtt_support import (  # noqa: E402
    OwnMosquitto,
    Subscriber,
    free_port,
    make_password_file,
    make_tls_files,
    shared_broker,
    unique_prefix,
)
from .odd_readings import ODD_STATUS, PLAIN_STATUSES  # noqa: E402
from .support import (  # noqa: E402
    PASSWORD,
    USER,
    query,
    start_logger_process,
    until,
    wait_until,
)

INTERVAL_S = 0.1
#: The readings of the mid-write test: polls of this many channels (ODD_STATUS payloads).
WINDOW_CHANNELS = 128
WINDOW_POLLS = 24


# -- helpers -----------------------------------------------------------------------------------


def validators() -> dict[str, Any]:
    """A validator per payload kind (``$defs/<kind>`` of the shipped schema)."""
    schema = payload_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    result = {}
    for kind in ("reading", "state", "event", "online"):
        sub = {k: v for k, v in schema.items() if k != "anyOf"}
        sub["$ref"] = f"#/$defs/{kind}"
        result[kind] = jsonschema.Draft202012Validator(sub)
    result["any"] = jsonschema.Draft202012Validator(schema)
    return result


def kind_of(topic: str) -> str:
    last = topic.rsplit("/", 1)[-1]
    return {"reading": "reading", "state": "state", "events": "event", "online": "online"}[last]


def validate_all(messages: list[tuple[str, Any, bool]]) -> None:
    checks = validators()
    for topic, payload, _retain in messages:
        checks[kind_of(topic)].validate(payload)
        checks["any"].validate(payload)


def stored_rows(url: str) -> list[dict[str, Any]]:
    """Every stored reading as the MQTT payload would carry it, in time order per channel."""
    columns = ", ".join(READING_COLUMNS)
    rows = query(url, f"SELECT {columns} FROM readings ORDER BY cycler, channel, unix_time_s")
    result = []
    for row in rows:
        entry = dict(zip(READING_COLUMNS, row, strict=True))
        for name in ("aux", "bms", "smb"):
            entry[name] = json.loads(entry[name]) if entry[name] is not None else None
        result.append(entry)
    return result


def by_channel(readings: list[dict[str, Any]]) -> dict[tuple[str, int], list[float]]:
    """Reading times per (cycler, channel), in the order given, without repeats (QoS 1 may
    deliver a reading twice after a reconnect)."""
    result: dict[tuple[str, int], list[float]] = {}
    for reading in readings:
        times = result.setdefault((reading["cycler"], reading["channel"]), [])
        if reading["unix_time_s"] not in times:
            times.append(reading["unix_time_s"])
    return result


async def run_until(logger: Logger, step: Callable[[], Any], timeout_s: float = 60.0) -> None:
    """Run ``logger`` while ``step`` (a coroutine function returning True when done) says so."""
    task = asyncio.get_running_loop().create_task(logger.run())
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not await step():
            if task.done():
                task.result()
                pytest.fail("the logger stopped by itself")
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"timed out after {timeout_s} s")
            await asyncio.sleep(0.05)
    finally:
        logger.stop()
        await task


def polls_at_least(logger: Logger, count: int) -> Callable[[], Any]:
    async def step() -> bool:
        return all(c.polls >= count for c in logger.health().cyclers)

    return step


@pytest.fixture
def sims() -> Iterator[list[Simulator]]:
    with Simulator(channels=4) as a, Simulator(channels=3) as b:
        with CyclerClient(a.host, a.port, username=USER, password=PASSWORD) as client:
            client.assign_schedule([1], "CCCV_Charge.sdx")
            client.start([1], "mqtt-test")
        yield [a, b]


def specs_of(sims: list[Simulator]) -> list[CyclerSpec]:
    return [
        CyclerSpec(name, sim.host, sim.port, USER, PASSWORD)
        for name, sim in zip(("a", "b"), sims, strict=True)
    ]


# -- against the shared broker -----------------------------------------------------------------


def test_a_subscriber_gets_every_reading_in_order_as_stored(
    sims: list[Simulator], tmp_path: Path
) -> None:
    host, port = shared_broker()
    prefix = unique_prefix()
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    subscriber = Subscriber(host, port, prefix)
    try:
        logger = Logger(
            specs_of(sims),
            [open_sink(url)],
            interval_s=INTERVAL_S,
            mqtt=f"mqtt://{host}:{port}/{prefix}",
        )
        asyncio.run(run_until(logger, polls_at_least(logger, 8)))
        stored = stored_rows(url)
        assert len(stored) >= 8 * (4 + 3)
        wait_until(lambda: len(subscriber.received("/reading")) >= len(stored), 30, "every reading")
        wait_until(
            lambda: sum(p["online"] is False for _, p, _ in subscriber.received("/online")) == 2,
            30,
            "both cyclers offline",
        )
        messages = subscriber.received()
    finally:
        subscriber.close()

    readings = [payload for topic, payload, _ in messages if topic.endswith("/reading")]
    # Every reading, once, in order per channel, and equal to the stored row.
    assert len(readings) == len(stored)
    assert by_channel(readings) == by_channel(stored)
    key = lambda r: (r["cycler"], r["channel"], r["unix_time_s"])  # noqa: E731
    assert sorted(readings, key=key) == stored
    for topic, payload, _ in messages:
        if topic.endswith("/reading"):
            assert topic == f"{prefix}/{payload['cycler']}/{payload['channel']}/reading"
    validate_all(messages)

    # The running channel's state, retained, and equal to its last stored reading.
    states = [(t, p) for t, p, _ in messages if t.endswith("/state")]
    assert {t for t, _ in states} == {f"{prefix}/a/{n}/state" for n in range(1, 5)} | {
        f"{prefix}/b/{n}/state" for n in range(1, 4)
    }
    last_state = [p for t, p in states if t == f"{prefix}/a/1/state"][-1]
    last_stored = [r for r in stored if r["cycler"] == "a" and r["channel"] == 1][-1]
    for name in ("status", "test_id", "schedule", "test_name", "step_and_cycle_format"):
        assert last_state[name] == last_stored[name]
    assert last_state["test_name"] == "mqtt-test"

    events = [p for t, p, _ in messages if t.endswith("/events")]
    assert {e["cycler"] for e in events if e["event"] == "cycler_up"} == {"a", "b"}
    assert any(e["event"] == "test" and e["cycler"] == "a" and e["channel"] == 1 for e in events)
    for cycler in ("a", "b"):
        online = [p for t, p, _ in messages if t == f"{prefix}/{cycler}/online"]
        assert online[0]["online"] is True
        assert online[-1] == {
            "cycler": cycler,
            "online": False,
            "reason": "logger stopped",
            "unix_time_s": online[-1]["unix_time_s"],
        }
    stats = next(x.stats for x in logger.health().listeners if x.name == "MqttPublisher")
    assert stats.dropped == 0 and stats.unpublished == 0 and stats.queued == 0
    assert stats.published == len(messages)
    lines = health_lines(logger.health())
    assert f"{stats.url} connected=0/2 published={len(messages)} queued=0 dropped=0" in "\n".join(
        lines
    )
    table = Console(width=200, record=True)
    table.print(render_health(logger.health()))
    assert f"{len(messages)} published" in table.export_text()


def test_more_messages_than_packet_ids_are_published() -> None:
    """The publisher takes the broker's acknowledgements itself: each one must free its
    packet id (MQTT has 65535), or publishing stops with gmqtt's "all ids used" once that many
    went out unacknowledged. More readings than that are all acknowledged."""
    host, port = shared_broker()
    channels, polls = 128, 520  # 66 560 readings
    info = CyclerInfo("bay1", "127.0.0.1", 9031, "SN42", channels)
    start_s = 1_700_000_000.0
    statuses = [replace(ODD_STATUS, channel_index=i) for i in range(channels)]
    publisher = MqttPublisher(MqttSettings(host, port, unique_prefix(), queue_size=60_000))

    async def main() -> None:
        await publisher.on_start(["bay1"])
        for k in range(polls):
            readings = [Reading("bay1", start_s + k, 7, status) for status in statuses]
            await publisher.on_readings(ReadingBatch(info, k, start_s + k, readings))
            if k % 100 == 99:
                await until(lambda: publisher.stats().queued == 0, "the broker to take a batch")
        await until(lambda: publisher.stats().queued == 0, "the broker to take everything")
        await publisher.stop()

    asyncio.run(main())
    stats = publisher.stats()
    # Every reading, each channel's state, the online flag, then the offline flag at the stop.
    assert (stats.published, stats.queued, stats.dropped) == (channels * (polls + 1) + 2, 0, 0)


def test_alerts_go_to_the_events_topic() -> None:
    host, port = shared_broker()
    prefix = unique_prefix()
    subscriber = Subscriber(host, port, prefix)
    publisher = MqttPublisher(f"mqtt://{host}:{port}/{prefix}")
    alert = AlertEvent(
        EventKind.FIRED,
        "too-hot",
        Severity.CRITICAL,
        "bay1",
        3,
        1_700_000_000.5,
        1_700_000_000.5,
        61.5,
        "bay1 ch 3: temperature 61.5 > 60",
    )

    async def main() -> None:
        await publisher.on_start(["bay1"])
        publisher.alert_sink()(alert)
        await publisher.stop()

    try:
        asyncio.run(main())
        wait_until(lambda: subscriber.received("/events"), 20, "the alert")
        messages = subscriber.received()
    finally:
        subscriber.close()
    validate_all(messages)
    event = subscriber.received("/events")[0][1]
    assert (event["event"], event["alert"], event["rule"], event["channel"]) == (
        "alert",
        "fired",
        "too-hot",
        3,
    )
    assert event["value"] == 61.5 and event["unix_time_s"] == alert.time


def test_the_last_will_fires_when_the_logger_is_killed(
    sims: list[Simulator], tmp_path: Path
) -> None:
    host, port = shared_broker()
    prefix = unique_prefix()
    subscriber = Subscriber(host, port, prefix)
    sim = sims[0]
    process = start_logger_process(
        [
            "--cycler",
            f"a={sim.host}:{sim.port}",
            "--db",
            f"sqlite:///{tmp_path / 'lab.db'}",
            "--interval",
            "0.2",
            "--mqtt",
            f"mqtt://{host}:{port}/{prefix}",
        ],
        tmp_path,
        tmp_path / "logger.out",
    )
    try:
        wait_until(lambda: subscriber.received("/reading"), 60, "a reading from the logger")
        online = subscriber.received(f"{prefix}/a/online")
        assert online[-1][1]["online"] is True
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        wait_until(
            lambda: subscriber.received(f"{prefix}/a/online")[-1][1]["online"] is False,
            60,
            "the last will",
        )
        will = subscriber.received(f"{prefix}/a/online")[-1][1]
        # A subscriber that comes later finds the retained flag: the logger is gone.
        late = Subscriber(host, port, f"{prefix}/a/online")
        try:
            wait_until(lambda: late.messages, 20, "the retained online flag")
            late_flag = late.messages[0]
        finally:
            late.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        subscriber.close()
    assert will == {"cycler": "a", "online": False, "reason": "connection lost"}
    validators()["online"].validate(will)
    assert late_flag[1] == will and late_flag[2] is True  # retained


# -- a broker of the test's own, restarted mid-run ---------------------------------------------


@pytest.mark.parametrize("queue_size", [60_000, 12])
def test_a_broker_restart_loses_nothing_within_the_queue_bound(
    sims: list[Simulator], tmp_path: Path, queue_size: int
) -> None:
    broker = OwnMosquitto(tmp_path)
    broker.start()
    prefix = unique_prefix()
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    subscriber = Subscriber("127.0.0.1", broker.port, prefix, session=f"sub-{queue_size}")
    publisher = MqttPublisher(
        MqttSettings("127.0.0.1", broker.port, prefix, queue_size=queue_size, window=10)
    )
    logger = Logger(specs_of(sims), [open_sink(url), publisher], interval_s=INTERVAL_S)
    phase = {"name": "before"}

    async def step() -> bool:
        stats = publisher.stats()
        if phase["name"] == "before":
            if len(subscriber.received("/reading")) >= 20:
                await asyncio.to_thread(broker.stop)
                phase["name"] = "down"
        elif phase["name"] == "down":
            # Readings pile up (or overflow) while the broker is away; polling goes on.
            full = stats.dropped > 0 if queue_size < 100 else stats.queued >= 60
            if full:
                phase["polls"] = sum(c.polls for c in logger.health().cyclers)
                await asyncio.to_thread(broker.start)
                phase["name"] = "up"
        elif stats.queued == 0 and stats.connected == 2:
            polls = sum(c.polls for c in logger.health().cyclers)
            return polls >= phase["polls"] + 4
        return False

    try:
        asyncio.run(run_until(logger, step, timeout_s=90))
        stored = stored_rows(url)
        stats = publisher.stats()
        expected = len(stored) - stats.dropped
        wait_until(
            lambda: len(unique_readings(subscriber)) >= expected,
            30,
            f"{expected} readings at the subscriber",
        )
        messages = subscriber.received()
    finally:
        subscriber.close()
        broker.stop()

    readings = [p for t, p, _ in messages if t.endswith("/reading")]
    received = by_channel(readings)
    wanted = by_channel(stored)
    assert stats.unpublished == 0
    assert sum(len(times) for times in received.values()) == expected
    assert stats.reconnects == 2
    if queue_size < 100:
        assert stats.dropped > 0
        overflow = [p for t, p, _ in messages if t.endswith("/events")]
        overflow = [p for p in overflow if p["event"] == "queue_overflow"]
        assert sum(p["dropped"] for p in overflow) == stats.dropped
        # What arrived is in order: a subsequence of each channel's stored readings.
        for channel, times in received.items():
            assert times == [t for t in wanted[channel] if t in set(times)]
    else:
        assert stats.dropped == 0
        assert received == wanted
    validate_all(messages)


async def kill_the_broker_holding(
    broker: OwnMosquitto, publisher: MqttPublisher, feed: Callable[[], Awaitable[None]]
) -> int:
    """Connect ``publisher`` (cycler ``bay1``) to ``broker``, freeze the broker, ``feed`` the
    publisher, then kill the broker with all of it unacknowledged; returns how many messages
    were waiting."""
    await publisher.on_start(["bay1"])
    await until(lambda: publisher.stats().published == 1, "the online flag")
    broker.pause()
    await feed()
    await asyncio.sleep(0.2)
    waiting = publisher.stats().queued
    broker.kill()
    return waiting


def test_what_was_in_flight_when_the_broker_died_is_sent_again(tmp_path: Path) -> None:
    """A broker that dies with messages unacknowledged and comes back without our session
    (it was killed: nothing saved): those messages go out again, before the ones after them."""
    broker = OwnMosquitto(tmp_path)
    broker.start()
    publisher = MqttPublisher(MqttSettings("127.0.0.1", broker.port, unique_prefix(), window=50))
    gaps = [Gap("bay1", 1_700_000_000.0 + k, 1_700_000_000.5 + k, 1, "timed out") for k in range(5)]

    async def feed() -> None:
        for gap in gaps:
            await publisher.on_gap(gap)

    async def main() -> tuple[int, int]:
        waiting = await kill_the_broker_holding(broker, publisher, feed)
        await asyncio.to_thread(broker.start)
        await until(lambda: publisher.stats().queued == 0, "the broker to take everything")
        published = publisher.stats().published
        await publisher.stop()
        return waiting, published

    try:
        waiting, published = asyncio.run(main())
    finally:
        broker.stop()
    stats = publisher.stats()
    assert waiting == len(gaps)
    # The online flag twice (each connection) and the gaps; then the offline flag at the stop.
    assert published == len(gaps) + 2
    assert (stats.published, stats.reconnects, stats.unpublished) == (len(gaps) + 3, 1, 0)
    # The ids of what the lost session held are free again, as those acknowledged.
    handler = publisher._links["bay1"].client._package_handler
    assert handler.id_generator._used_ids == set()


def test_windows_written_at_once_lose_nothing_when_the_broker_dies_mid_write(
    tmp_path: Path,
) -> None:
    """A window goes to the socket as one write. A broker that dies with a window written but
    unacknowledged and comes back without our session gets every reading again, exactly once,
    in order per channel (the re-sent window, then windows of several polls each)."""
    broker = OwnMosquitto(tmp_path)
    broker.start()
    prefix = unique_prefix()
    publisher = MqttPublisher(MqttSettings("127.0.0.1", broker.port, prefix, window=1000))
    info = CyclerInfo("bay1", "127.0.0.1", 9031, "SN42", WINDOW_CHANNELS)
    start_s = 1_700_000_000.0

    def poll(k: int) -> ReadingBatch:
        """Every channel at ``start_s + k``, its voltage ``k`` (to check each payload)."""
        statuses = (
            replace(ODD_STATUS, channel_index=i, voltage_v=float(k)) for i in range(WINDOW_CHANNELS)
        )
        readings = [Reading("bay1", start_s + k, 7, status) for status in statuses]
        return ReadingBatch(info, k, start_s + k, readings)

    batches = [poll(k) for k in range(WINDOW_POLLS)]
    subscribers: list[Subscriber] = []

    async def feed() -> None:
        for batch in batches:
            await publisher.on_readings(batch)

    async def main() -> None:
        # The first poll was handed over (and written at once), the others wait behind it.
        waiting = await kill_the_broker_holding(broker, publisher, feed)
        assert waiting >= WINDOW_POLLS * WINDOW_CHANNELS
        # The event loop is held until the subscriber is in: gmqtt cannot reconnect before.
        broker.start()
        subscribers.append(Subscriber("127.0.0.1", broker.port, prefix))
        await until(lambda: publisher.stats().queued == 0, "the broker to take everything")
        await publisher.stop()

    try:
        asyncio.run(main())
        wanted = WINDOW_POLLS * WINDOW_CHANNELS
        subscriber = subscribers[0]
        wait_until(lambda: len(subscriber.received("/reading")) >= wanted, 30, "every reading")
        readings = [p for _, p, _ in subscriber.received("/reading")]
    finally:
        for subscriber in subscribers:
            subscriber.close()
        broker.stop()
    assert len(readings) == wanted  # once each: none had been acknowledged
    times: dict[int, list[float]] = {}
    for payload in readings:
        times.setdefault(payload["channel"], []).append(payload["unix_time_s"])
        assert payload["voltage_v"] == payload["unix_time_s"] - start_s
    expected = [start_s + k for k in range(WINDOW_POLLS)]
    assert times == {i + 1: expected for i in range(WINDOW_CHANNELS)}
    stats = publisher.stats()
    assert (stats.reconnects, stats.dropped, stats.unpublished) == (1, 0, 0)


def test_a_broker_never_reached_leaves_everything_counted_as_not_published(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens there
    publisher = MqttPublisher(MqttSettings("127.0.0.1", port, unique_prefix(), drain_timeout_s=0.5))
    gap = Gap("bay1", 1_700_000_000.0, 1_700_000_010.0, 9, "timed out")

    async def main() -> None:
        await publisher.on_start(["bay1"])
        await publisher.on_gap(gap)
        await asyncio.sleep(0.3)  # a first attempt fails meanwhile
        await publisher.stop()

    with caplog.at_level("WARNING", logger="pyctiarbin.logger"):
        asyncio.run(main())
    stats = publisher.stats()
    assert (stats.published, stats.unpublished, stats.connected) == (0, 2, 0)  # gap, offline
    assert "cannot connect to the broker" in caplog.text and "not published" in caplog.text


def unique_readings(subscriber: Subscriber) -> set[tuple[str, int, float]]:
    """The readings received so far, each once (QoS 1 may repeat one after a reconnect)."""
    return {
        (p["cycler"], p["channel"], p["unix_time_s"]) for _, p, _ in subscriber.received("/reading")
    }


# -- payloads ----------------------------------------------------------------------------------


def test_a_reading_payload_is_its_stored_row() -> None:
    """The payload is built from cached pieces; it must equal the row the database stores,
    for odd texts, numbers that are not finite, and a channel whose test changes."""
    readings = [
        Reading("bay1", 1_700_000_000.123456, 99, ODD_STATUS),
        Reading("bay1", 1_700_000_001.5, 99, ODD_STATUS),
        *(Reading("bay-2", 0.1 * n, n or None, s) for n, s in enumerate(PLAIN_STATUSES)),
    ]
    check = validators()["reading"]
    for reading in readings:
        payload = json.loads(reading_payload(reading))
        row = dict(zip(READING_COLUMNS, reading_row(reading), strict=True))
        for name in ("aux", "bms", "smb"):
            row[name] = json.loads(row[name]) if row[name] is not None else None
        assert payload == row
        check.validate(payload)
    first = json.loads(reading_payload(readings[0]))
    assert first["current_a"] is None and first["charge_capacity_ah"] is None
    assert first["power_w"] == -1e-300 and first["unix_time_s"] == 1_700_000_000.123456
    assert json.loads(reading_payload(readings[3]))["test_name"] == "next"


def test_a_channel_reuses_unchanged_text_and_nothing_else() -> None:
    """A channel's readings reuse the text of their unchanged parts: every payload still
    equals the one built from scratch, byte for byte (the sign of a zero included), and the
    state goes out exactly when it changes."""
    plain = PLAIN_STATUSES[1]
    statuses = [
        plain,
        plain,  # nothing changed
        replace(plain, current_a=-0.0),  # equal to 0.0, printed otherwise
        replace(plain, current_a=-0.0),
        replace(plain, current_a=float("nan")),  # stored as NULL
        replace(plain, current_a=float("nan")),
        replace(plain, exit_condition="done"),  # a static column, not the state
        replace(plain, exit_condition="done", test_name="other"),  # the state
        replace(plain, exit_condition="done", test_name="other", voltage_v=3.5),
    ]
    outbox = _ChannelOutbox("lab", "bay1", 2)
    readings: list[tuple[bytes, bytes, bool]] = []
    states: list[tuple[bytes, bytes, bool]] = []
    for n, status in enumerate(statuses):
        row = reading_row(Reading("bay1", 1_700_000_000.0 + n, 5, status))
        outbox.messages(row, repr(row[2]).encode(), readings, states)
        assert readings[-1] == (b"lab/bay1/2/reading", row_payload(row), False)
    currents = [payload.split(b'"current_a":')[1].split(b",")[0] for _, payload, _ in readings]
    assert currents == [b"0.0", b"0.0", b"-0.0", b"-0.0", b"null", b"null", b"0.0", b"0.0", b"0.0"]
    assert [json.loads(payload)["test_name"] for _, payload, _ in states] == ["next", "other"]
    assert {topic for topic, _, retain in states if retain} == {b"lab/bay1/2/state"}


# -- settings ----------------------------------------------------------------------------------


def test_settings_from_a_url_and_the_environment() -> None:
    settings = MqttSettings.from_url(
        "mqtts://broker.lab/lab1/arbin",
        environ={"PYCTI_MQTT_USERNAME": "logger", "PYCTI_MQTT_PASSWORD": "S3cret-mq"},
    )
    assert (settings.host, settings.port, settings.prefix, settings.tls) == (
        "broker.lab",
        8883,
        "lab1/arbin",
        True,
    )
    assert settings.username == "logger" and settings.password == "S3cret-mq"
    assert "S3cret-mq" not in repr(settings) and "S3cret-mq" not in settings.display_url
    plain = MqttSettings.from_url("mqtt://10.0.0.9", environ={})
    assert (plain.port, plain.prefix, plain.tls, plain.username) == (1883, "pycti", False, None)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mqtt://user:pw@broker", "must not hold a user name or password"),
        ("http://broker", "must start with mqtt:// or mqtts://"),
        ("mqtt://broker:99999", "port"),
        ("mqtt:///prefix", "has no host"),
        ("mqtt://broker/a/+/b", "must not hold '+'"),
        ("mqtt://broker?x=1", "no ?query"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("?", r"\?").replace("+", r"\+")) as info:
        MqttSettings.from_url(url, environ={})
    assert "pw@" not in str(info.value)


def test_the_lab_config_mqtt_table(tmp_path: Path) -> None:
    config = tmp_path / "lab.toml"
    config.write_text(
        '[mqtt]\nurl = "mqtts://broker.lab:8884/lab2"\nusername = "logger"\n'
        'password = "Cfg-pass-77"\nca_file = "ca.pem"\nqueue_size = 1000\n'
    )
    config.chmod(stat.S_IRUSR | stat.S_IWUSR)
    lab = load_lab_config(config)
    assert lab.mqtt.url == "mqtts://broker.lab:8884/lab2"
    assert lab.mqtt.ca_file == tmp_path / "ca.pem"
    assert "Cfg-pass-77" not in repr(lab)
    settings = MqttSettings.from_url(lab.mqtt.url, config=lab.mqtt, environ={})
    assert (settings.port, settings.username, settings.password, settings.queue_size) == (
        8884,
        "logger",
        "Cfg-pass-77",
        1000,
    )
    # The environment wins over the file.
    env = {"PYCTI_MQTT_USERNAME": "other", "PYCTI_MQTT_PASSWORD": "Env-pass-1"}
    assert MqttSettings.from_url(lab.mqtt.url, config=lab.mqtt, environ=env).username == "other"
    config.chmod(0o644)
    with pytest.raises(ConfigError, match="other users may read it"):
        load_lab_config(config)
    config.write_text('[mqtt]\nurl = "mqtt://b"\nport = 1\n')
    with pytest.raises(ConfigError, match=r"\[mqtt\] has unknown key\(s\) port"):
        load_lab_config(config)


def test_a_tls_file_that_cannot_be_loaded_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing-ca.pem"
    publisher = MqttPublisher(MqttSettings("127.0.0.1", 8883, "lab", tls=True, ca_file=missing))

    async def main() -> None:
        await publisher.on_start(["bay1"])

    with pytest.raises(ValueError, match=r"cannot load the CA file .*missing-ca\.pem"):
        asyncio.run(main())


def pycti_log(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``pycti log --cycler a=127.0.0.1:9 ARGS`` (nothing listens there: for usage errors)."""
    return subprocess.run(
        [sys.executable, "-m", "pyctiarbin.cli", "log", "--cycler", "a=127.0.0.1:9", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "ARBIN_CTI_USERNAME": "u", "ARBIN_CTI_PASSWORD": "p"},
    )


def test_pycti_log_refuses_credentials_in_the_mqtt_url(tmp_path: Path) -> None:
    result = pycti_log("--mqtt", "mqtt://logger:Url-secret-5@127.0.0.1/lab", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "must not hold a user name or password" in result.stderr
    assert "Url-secret-5" not in result.stderr + result.stdout


def test_pycti_log_publishes_to_the_config_broker_with_alerts(
    sims: list[Simulator], tmp_path: Path
) -> None:
    host, port = shared_broker()
    prefix = unique_prefix()
    sim = sims[1]
    config = tmp_path / "lab.toml"
    config.write_text(
        f'[cyclers.b]\nhost = "{sim.host}"\nport = {sim.port}\n\n'
        f'[mqtt]\nurl = "mqtt://{host}:{port}/{prefix}"\n'
    )
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rules]]\nname = "any voltage"\nkind = "threshold"\nfield = "voltage_v"\n'
        'op = ">"\nvalue = 0.0\n'
    )
    subscriber = Subscriber(host, port, prefix)
    try:
        process = start_logger_process(
            [
                "--config",
                str(config),
                "--alerts",
                str(rules),
                "--db",
                f"sqlite:///{tmp_path / 'lab.db'}",
                "--interval",
                "0.2",
                "--duration",
                "1",
            ],
            tmp_path,
            tmp_path / "logger.out",
        )
        assert process.wait(60) == 0, (tmp_path / "logger.out").read_text()
        wait_until(
            lambda: any(p["online"] is False for _, p, _ in subscriber.received("/online")),
            30,
            "the logger's goodbye",
        )
        messages = subscriber.received()
    finally:
        subscriber.close()
    validate_all(messages)
    readings = [p for t, p, _ in messages if t.endswith("/reading")]
    stored = stored_rows(f"sqlite:///{tmp_path / 'lab.db'}")
    assert readings and sorted(readings, key=lambda r: (r["channel"], r["unix_time_s"])) == stored
    alerts = [p for t, p, _ in messages if t == f"{prefix}/b/events" and p["event"] == "alert"]
    assert {(a["rule"], a["alert"], a["channel"]) for a in alerts} == {
        ("any voltage", "fired", channel) for channel in (1, 2, 3)
    }


def test_tls_and_a_login_from_the_environment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Mq-tls-pass-31"
    tls = make_tls_files(tmp_path)
    passwd = make_password_file(tmp_path, "logger", secret)
    broker = OwnMosquitto(
        tmp_path,
        f"cafile {tls['ca.crt']}\ncertfile {tls['server.crt']}\nkeyfile {tls['server.key']}\n"
        f"allow_anonymous false\npassword_file {passwd}\n",
    )
    broker.start()
    prefix = unique_prefix()
    environ = {
        "PYCTI_MQTT_USERNAME": "logger",
        "PYCTI_MQTT_PASSWORD": secret,
        "PYCTI_MQTT_CA_FILE": str(tls["ca.crt"]),
    }
    url = f"mqtts://127.0.0.1:{broker.port}/{prefix}"
    gap = Gap("bay1", 1_700_000_000.0, 1_700_000_010.0, 9, "timed out")
    try:
        subscriber = Subscriber(
            "127.0.0.1", broker.port, prefix, ca_file=tls["ca.crt"], login=("logger", secret)
        )
        try:
            publisher = MqttPublisher(MqttSettings.from_url(url, environ=environ))

            async def main(publisher: MqttPublisher) -> None:
                await publisher.on_start(["bay1"])
                await publisher.on_gap(gap)
                await publisher.stop()

            asyncio.run(main(publisher))
            wait_until(lambda: subscriber.received("/events"), 20, "the gap event")
            event = subscriber.received("/events")[0][1]
        finally:
            subscriber.close()
        assert publisher.stats().published == 3  # online, the gap, offline
        assert (event["event"], event["missed_intervals"], event["end_s"]) == ("gap", 9, gap.end_s)

        # A wrong password: refused, logged without the password, reported as not published.
        wrong = MqttSettings.from_url(
            url, environ={**environ, "PYCTI_MQTT_PASSWORD": "Wrong-pass-8"}, drain_timeout_s=1
        )
        refused = MqttPublisher(wrong)
        with caplog.at_level("WARNING", logger="pyctiarbin.logger"):
            asyncio.run(main(refused))
    finally:
        broker.stop()
    assert refused.stats().unpublished == 2 and refused.stats().published == 0  # gap, offline
    assert "refused the connection" in caplog.text and "not published" in caplog.text
    assert "Wrong-pass-8" not in caplog.text and secret not in caplog.text
    assert "Wrong-pass-8" not in repr(refused) + repr(wrong)


def test_pycti_log_refuses_a_queue_size_without_a_broker(tmp_path: Path) -> None:
    result = pycti_log("--mqtt-queue", "100", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "--mqtt-queue needs --mqtt URL" in result.stderr


def test_without_gmqtt_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gmqtt", None)
    with pytest.raises(ImportError, match=r"pip install 'pycti-arbin\[mqtt\]'"):
        MqttPublisher("mqtt://127.0.0.1/lab")
    with pytest.raises(ImportError, match="gmqtt"):
        Logger([CyclerSpec("a", "127.0.0.1", 9031)], mqtt="mqtt://127.0.0.1/lab")

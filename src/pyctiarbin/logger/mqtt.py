"""Live readings on an MQTT broker: the logger's readings, channel states and events as JSON.

:class:`MqttPublisher` is a :class:`~pyctiarbin.logger.Listener`. For each cycler it keeps its
own connection to the broker (so each cycler has its own last will) and publishes:

* ``PREFIX/<cycler>/<channel>/reading``: every reading (QoS 1);
* ``PREFIX/<cycler>/<channel>/state``: status, test and step, retained, when they change;
* ``PREFIX/<cycler>/events``: cycler up/down, gaps, test boundaries, alerts, queue overflows;
* ``PREFIX/<cycler>/online``: retained ``true`` while the logger runs, ``false`` when it stops
  or (the last will) when its connection dies.

What it guarantees: publishing never blocks the poller or the database sinks. Messages wait in
a bounded in-memory queue per cycler while the broker is away and go out in order, per cycler,
when it is back (a window of messages is handed to the MQTT client at a time, written to the
socket at once, and the next one only once the broker acknowledged the whole window, so a
reconnect can re-send but never reorder). A reading that finds the queue full is dropped and
counted (:meth:`stats`, a log line, and a ``queue_overflow`` event once the queue has room
again). QoS 1 means "at least once": after a reconnect a subscriber may see a reading twice
(same channel and ``unix_time_s``).

The payloads are described by the JSON Schema :func:`payload_schema` (shipped as
``mqtt_payloads.schema.json``); see ``docs/mqtt.md``. The MQTT protocol itself is gmqtt's, an
asyncio client that runs on the logger's event loop (``pip install 'pycti-arbin[mqtt]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import operator
import os
import socket
import ssl
import struct
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..client.status import MEASUREMENT_FIELDS
from ..config import (
    ENV_MQTT_CA_FILE,
    ENV_MQTT_CERT_FILE,
    ENV_MQTT_KEY_FILE,
    ENV_MQTT_PASSWORD,
    ENV_MQTT_USERNAME,
    MqttConfig,
)
from .listener import Listener
from .readings import (
    GAP_COLUMNS,
    READING_COLUMNS,
    CyclerInfo,
    Gap,
    Reading,
    ReadingBatch,
    reading_row,
)

if TYPE_CHECKING:
    from ..alerts.events import AlertEvent

__all__ = [
    "DEFAULT_PREFIX",
    "MqttPublisher",
    "MqttSettings",
    "MqttStats",
    "payload_schema",
    "reading_payload",
    "row_payload",
]

log = logging.getLogger("pyctiarbin.logger")

DEFAULT_PREFIX = "pycti"
_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
#: Messages are numbered with 16-bit packet ids; a window that large could reuse one.
_MAX_QUEUE = 60_000
_INSTALL_HINT = "MQTT publishing needs gmqtt: pip install 'pycti-arbin[mqtt]'"
_DISCONNECT_TIMEOUT_S = 5.0
_SCHEMA_FILE = "mqtt_payloads.schema.json"


# -- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Where to publish and how to log in. The password never appears in the repr.

    Build it with :meth:`from_url` (``mqtt://HOST[:PORT][/PREFIX]``, ``mqtts://`` for TLS),
    which takes credentials and TLS files from the environment or the lab config, never from
    the URL.

    ``queue_size``: messages kept per cycler while the broker is away (at most 60000);
    ``window``: messages handed to the MQTT client before waiting for the broker's
    acknowledgements; ``drain_timeout_s``: how long :meth:`MqttPublisher.stop` waits for the
    queue to empty.

    Raises:
        ValueError: from the constructor, for an empty host, a bad port, prefix or size.
    """

    host: str
    port: int = 1883
    prefix: str = DEFAULT_PREFIX
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    queue_size: int = 50_000
    window: int = 500
    keepalive_s: int = 30
    drain_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("MQTT broker: the host is empty")
        port = self.port
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"MQTT broker port must be 1..65535, not {port!r}")
        prefix = self.prefix
        if not prefix or prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
            raise ValueError(f"MQTT topic prefix {prefix!r} must be non-empty levels joined by '/'")
        if any(c in prefix for c in "+#\0"):
            raise ValueError(f"MQTT topic prefix {prefix!r} must not hold '+', '#' or NUL")
        if not 1 <= self.queue_size <= _MAX_QUEUE:
            raise ValueError(f"MQTT queue_size must be 1..{_MAX_QUEUE}, not {self.queue_size!r}")
        if not 1 <= self.window <= self.queue_size:
            raise ValueError(f"MQTT window must be 1..queue_size, not {self.window!r}")
        if self.keepalive_s < 5 or self.drain_timeout_s < 0:
            raise ValueError("MQTT keepalive_s must be >= 5 and drain_timeout_s >= 0")
        if self.password is not None and self.username is None:
            raise ValueError("an MQTT password is given without a user name")

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        config: MqttConfig | None = None,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> MqttSettings:
        """Settings for ``mqtt://HOST[:PORT][/PREFIX]`` or ``mqtts://...`` (TLS; port 8883).

        The user name, password and TLS files come from the environment
        (``PYCTI_MQTT_USERNAME``, ``PYCTI_MQTT_PASSWORD``, ``PYCTI_MQTT_CA_FILE``,
        ``PYCTI_MQTT_CERT_FILE``, ``PYCTI_MQTT_KEY_FILE``), else from ``config`` (the lab
        config's ``[mqtt]`` table). ``options`` set the other fields (``queue_size``, ...).

        Raises:
            ValueError: for another scheme, credentials in the URL, a missing host, a bad
                port or prefix, or a password without a user name.
        """
        parts = urllib.parse.urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, not {url!r}")
        if "@" in parts.netloc:
            raise ValueError(
                "MQTT URL must not hold a user name or password; set "
                f"{ENV_MQTT_USERNAME}/{ENV_MQTT_PASSWORD} or the config file's [mqtt] table"
            )
        if parts.query or parts.fragment:
            raise ValueError(f"MQTT URL takes no ?query or #fragment: {url!r}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"MQTT URL {url!r}: the port must be a number in 1..65535") from None
        host = parts.hostname or ""
        if not host:
            raise ValueError(f"MQTT URL {url!r} has no host")
        prefix = parts.path.strip("/") or DEFAULT_PREFIX
        env = os.environ if environ is None else environ
        cfg = config if config is not None else MqttConfig()

        def pick(name: str, configured: Any) -> Any:
            value = env.get(name)
            return value if value else configured

        def path(name: str, configured: Path | None) -> Path | None:
            value = pick(name, configured)
            return Path(value).expanduser() if value is not None else None

        values: dict[str, Any] = {
            "host": host,
            "port": port if port is not None else _DEFAULT_PORTS[scheme],
            "prefix": prefix,
            "tls": scheme == "mqtts",
            "username": pick(ENV_MQTT_USERNAME, cfg.username),
            "password": pick(ENV_MQTT_PASSWORD, cfg.password),
            "ca_file": path(ENV_MQTT_CA_FILE, cfg.ca_file),
            "cert_file": path(ENV_MQTT_CERT_FILE, cfg.cert_file),
            "key_file": path(ENV_MQTT_KEY_FILE, cfg.key_file),
        }
        if cfg.queue_size is not None:
            values["queue_size"] = cfg.queue_size
        values.update(options)
        return cls(**values)

    @property
    def display_url(self) -> str:
        """The broker's URL without credentials, for logs and tables."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}/{self.prefix}"


# -- payloads ----------------------------------------------------------------------------------

# The payload of a reading is its ``readings`` row (the one the database sinks store, built once
# per batch) as a JSON object, in three pieces of UTF-8: the head, the columns that rarely
# change (cycler, channel, test, status, names), encoded once per distinct value; the time;
# the tail, the measurements through one %-format (the repr() of a finite float is the JSON
# number json.dumps writes; the row holds None for a number that is not finite) and aux, BMS
# and SMB, the row's JSON texts, nested. Each channel keeps its last head and tail while they
# do not change (see _ChannelOutbox). tests/logger/test_mqtt.py checks that the payload
# equals the row.
_RAW_JSON = ("aux", "bms", "smb")
_SCALAR_COUNT = len(READING_COLUMNS) - len(_RAW_JSON)
_MEASURE_START = READING_COLUMNS.index(MEASUREMENT_FIELDS[0])
_HEAD_COLUMNS = ("cycler", "channel", "unix_time_s", "test_id", "status")
if (  # pragma: no cover - a layout change
    READING_COLUMNS[: len(_HEAD_COLUMNS)] != _HEAD_COLUMNS
    or READING_COLUMNS[_MEASURE_START:_SCALAR_COUNT] != MEASUREMENT_FIELDS
    or READING_COLUMNS[_SCALAR_COUNT:] != _RAW_JSON
):
    raise RuntimeError("row_payload expects the readings columns in another layout")
# Every column before the measurements but the time.
_STATIC_POSITIONS = (0, 1, *range(3, _MEASURE_START))
_STATIC_COLUMNS = tuple(READING_COLUMNS[i] for i in _STATIC_POSITIONS)
_static_values = operator.itemgetter(*_STATIC_POSITIONS)
_measurements = operator.itemgetter(slice(_MEASURE_START, _SCALAR_COUNT))
_raw_json = operator.itemgetter(slice(_SCALAR_COUNT, None))
_TAIL_FORMAT = ',%s,"aux":%s,"bms":%s,"smb":%s}'
_MEASUREMENTS_FORMAT = ",".join(f'"{name}":%r' for name in MEASUREMENT_FIELDS)
_MEASUREMENTS_TEXT_FORMAT = _MEASUREMENTS_FORMAT.replace("%r", "%s")
#: The measurements' bits: two readings whose packed measurements are equal print the same
#: (a comparison of the floats would take -0.0 for 0.0); packing refuses a None.
_measurement_bits = struct.Struct(f"<{len(MEASUREMENT_FIELDS)}d").pack
_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
#: A reading's state (the retained ``state`` topic): status, test_id, schedule, test_name,
#: barcode, step_and_cycle_format, from its row (all among its static columns).
_STATE_COLUMNS = ("status", "test_id", "schedule", "test_name", "barcode", "step_and_cycle_format")
_state_of = operator.itemgetter(*(READING_COLUMNS.index(name) for name in _STATE_COLUMNS))
if not set(_STATE_COLUMNS) <= set(_STATIC_COLUMNS):  # pragma: no cover - a layout change
    raise RuntimeError("a channel's state must be among the static columns of its readings")


@functools.lru_cache(maxsize=4096)
def _head(values: tuple[Any, ...]) -> bytes:
    # '{"cycler":...,"master_channel":0,"unix_time_s":' for one channel's unchanging columns.
    return (
        _dumps(dict(zip(_STATIC_COLUMNS, values, strict=True)))[:-1] + ',"unix_time_s":'
    ).encode()


def _measurements_text(numbers: tuple[float | None, ...]) -> str:
    # '"test_time_s":12.5,...,"aci_phase_degrees":0.0'
    if None in numbers:  # a number that is not finite, stored as NULL
        return _MEASUREMENTS_TEXT_FORMAT % tuple(
            ["null" if v is None else repr(v) for v in numbers]
        )
    return _MEASUREMENTS_FORMAT % numbers


def _tail(measurements: tuple[float | None, ...], raw_json: tuple[str | None, ...]) -> bytes:
    # ',"test_time_s":12.5,...,"aux":{...},"bms":null,"smb":null}'
    aux, bms, smb = raw_json
    text = _TAIL_FORMAT % (
        _measurements_text(measurements),
        aux or "null",
        bms or "null",
        smb or "null",
    )
    return text.encode()


def row_payload(row: tuple[Any, ...]) -> bytes:
    """The JSON payload of the reading whose ``readings`` row is ``row``: the row as an
    object (the same names and values the database stores; aux, BMS and SMB as nested JSON,
    not text)."""
    return b"".join(
        (
            _head(_static_values(row)),
            repr(row[2]).encode(),
            _tail(_measurements(row), _raw_json(row)),
        )
    )


def reading_payload(reading: Reading) -> bytes:
    """The JSON payload of one reading (:func:`row_payload` of its row)."""
    return row_payload(reading_row(reading))


class _ChannelOutbox:
    """One channel's topics, and what its last reading published, so that a reading whose
    static columns or measurements did not change reuses their JSON text (an idle channel's
    measurements, a running channel's names and state)."""

    __slots__ = (
        "head",
        "measurement_bits",
        "raw_json",
        "reading_topic",
        "state",
        "state_topic",
        "static",
        "tail",
    )

    def __init__(self, prefix: str, cycler: str, channel: int) -> None:
        base = f"{prefix}/{cycler}/{channel}"
        self.reading_topic = f"{base}/reading".encode()
        self.state_topic = f"{base}/state".encode()
        self.static: tuple[Any, ...] | None = None
        self.head = b""
        self.state: tuple[Any, ...] | None = None
        self.measurement_bits = b""
        self.raw_json: tuple[str | None, ...] = ()
        self.tail = b""

    def messages(
        self, row: tuple[Any, ...], time_text: bytes, into: list[_Message], states: list[_Message]
    ) -> None:
        """Add the reading of ``row`` to ``into``, and its state to ``states`` if it changed
        (``time_text``: the repr() of its time, encoded)."""
        static = _static_values(row)
        if static != self.static:
            self.static = static
            self.head = _head(static)
            state = _state_of(row)
            if state != self.state:
                self.state = state
                states.append((self.state_topic, _state_payload(row, state), True))
        measurements = _measurements(row)
        raw_json = _raw_json(row)
        try:
            bits = _measurement_bits(*measurements)
        except struct.error:  # a None: a number that is not finite
            bits = b""
        if bits != self.measurement_bits or raw_json != self.raw_json or not bits:
            self.measurement_bits = bits
            self.raw_json = raw_json
            self.tail = _tail(measurements, raw_json)
        into.append((self.reading_topic, b"".join((self.head, time_text, self.tail)), False))


def _state_payload(row: tuple[Any, ...], state: tuple[Any, ...]) -> bytes:
    body: dict[str, Any] = {"cycler": row[0], "channel": row[1], "unix_time_s": row[2]}
    body.update(zip(_STATE_COLUMNS, state, strict=True))
    return _dumps(body).encode()


def _event_payload(event: str, cycler: str, unix_time_s: float, /, **details: Any) -> bytes:
    body = {"event": event, "cycler": cycler, "unix_time_s": unix_time_s, **details}
    return _dumps(body).encode()


def _online_payload(cycler: str, online: bool, reason: str) -> bytes:
    body: dict[str, Any] = {"cycler": cycler, "online": online, "reason": reason}
    if online or reason != "connection lost":
        body["unix_time_s"] = time.time()
    return _dumps(body).encode()


def payload_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of every payload: ``$defs`` ``reading``, ``state``,
    ``event`` and ``online``, one per topic kind."""
    text = resources.files(__package__).joinpath(_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


# -- one cycler's connection -------------------------------------------------------------------


def _import_gmqtt() -> Any:
    try:
        import gmqtt  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return gmqtt


#: A message to publish: its topic (UTF-8), its payload and whether it is retained.
_Message = tuple[bytes, bytes, bool]
_unpack_packet_id = struct.Struct("!H").unpack_from
#: Fixed wait between two connection attempts once the broker went away (gmqtt's reconnect).
_RECONNECT_DELAY_S = 2
#: The first connection's attempts: 1 s doubling up to this.
_MAX_CONNECT_DELAY_S = 30.0


class _InFlight:
    """The messages handed to gmqtt and not yet acknowledged, by packet id, in send order,
    each with its PUBLISH packet; the store gmqtt keeps its unacknowledged QoS 1 packets in
    (its ``persistent_storage``): it re-sends them after a reconnect that finds the broker's
    session, and clears them when the session is gone, which gives the messages back to the
    link. Tells the link when a window is all acknowledged."""

    def __init__(self, link: _CyclerLink) -> None:
        self._link = link
        #: (packet, message) by packet id: the link adds them as it writes them.
        self.entries: dict[int, tuple[bytes, _Message]] = {}
        #: The packet ids gmqtt counts as in use (set by :func:`_take_pubacks`).
        self.used_ids: set[int] = set()
        self.acknowledged = 0
        self._empty_waiters: list[asyncio.Future[None]] = []

    def acknowledge(self, mid: int) -> None:
        """The broker acknowledged packet ``mid``."""
        entries = self.entries
        if entries.pop(mid, None) is not None:
            self.acknowledged += 1
            if not entries:
                self._link.window_acknowledged()
                if not entries:
                    self._wake()

    # The interface gmqtt's Client calls.

    def push_message(self, mid: int, raw_package: bytes) -> None:
        entry = self.entries.get(mid)
        if entry is None:  # pragma: no cover - only the link publishes, and stores first
            raise RuntimeError("MQTT: gmqtt stored a message we did not hand it")
        self.entries[mid] = (raw_package, entry[1])

    remove_message_by_mid = acknowledge

    @property
    def is_empty(self) -> bool:
        return not self.entries

    async def wait_empty(self) -> None:
        if self.entries:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._empty_waiters.append(waiter)
            await waiter

    def clear(self) -> None:
        lost = [message for _, message in self.entries.values()]
        # gmqtt frees an id only on its acknowledgement: those of a lost session would stay
        # in use for good, and a few hundred broker restarts would use up all 65535.
        self.used_ids.difference_update(self.entries)
        self.entries.clear()
        self._wake()
        if lost:
            self._link.session_lost(lost)

    def get_all(self) -> list[tuple[int, bytes]]:
        return [(mid, packet) for mid, (packet, _) in self.entries.items()]

    def _wake(self) -> None:
        waiters, self._empty_waiters = self._empty_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def _take_pubacks(client: Any, in_flight: _InFlight) -> None:
    """Let ``in_flight`` take ``client``'s PUBACKs straight from gmqtt's packet handler.

    gmqtt's handler takes each packet it reads through a debug-log call (with its arguments
    formatted), a look-up of the packet type's method, the PUBACK's own method (another debug
    call), the id's release (another) and the client's callback (another) to the store: a
    dozen Python calls per message published. For a PUBACK this does what they do, the
    acknowledged id freed and the store told, in one; any other packet goes through gmqtt's
    handler as before.
    """
    handler = client._package_handler
    dispatch = handler._handle_packet
    used_ids = in_flight.used_ids = handler.id_generator._used_ids
    acknowledge = in_flight.acknowledge
    puback = int(_import_gmqtt().constants.MQTTCommands.PUBACK)

    def handle_packet(command: int, packet: bytes) -> None:
        if command == puback:
            (mid,) = _unpack_packet_id(packet)  # a short packet raises: gmqtt's handler logs it
            used_ids.discard(mid)
            acknowledge(mid)
        else:
            dispatch(command, packet)

    # gmqtt's handler looks the method up on its instance for every packet.
    handler._handle_packet = handle_packet


class _CyclerLink:
    """One cycler's MQTT connection, its queue and its counters. Everything runs on the event
    loop's thread (gmqtt is an asyncio client): no locks, no thread of its own."""

    def __init__(self, settings: MqttSettings, cycler: str, client_id: str) -> None:
        gmqtt = _import_gmqtt()

        self.cycler = cycler
        self.settings = settings
        self.online_topic = f"{settings.prefix}/{cycler}/online".encode()
        self.events_topic = f"{settings.prefix}/{cycler}/events".encode()
        self._queue: deque[_Message] = deque()
        self._connected = False
        self._closing = False
        self._ever_connected = False
        self._failing = False
        self._last_refusal = ""
        self.dropped = 0
        self.unpublished = 0
        self.reconnects = 0
        self._dropping_since: float | None = None
        self._dropped_in_episode = 0
        will = gmqtt.Message(
            self.online_topic, _online_payload(cycler, False, "connection lost"), 1, True
        )
        self._in_flight = _InFlight(self)
        client = gmqtt.Client(
            client_id, clean_session=True, will_message=will, persistent_storage=self._in_flight
        )
        client.set_config({"reconnect_delay": _RECONNECT_DELAY_S})
        if settings.username is not None:
            client.set_auth_credentials(settings.username, settings.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        _take_pubacks(client, self._in_flight)
        self._v311 = gmqtt.constants.MQTTv311
        self._refused = gmqtt.MQTTConnectError
        self._build_publish = gmqtt.mqtt.package.PublishPacket.build_package
        #: The one gmqtt Message the windows' packets are built from, loaded with each message.
        self._publishing = gmqtt.Message(b"", b"", 1)
        self.client = client
        self._ssl = self._ssl_context()
        self._connecting: asyncio.Task[None] | None = None

    def _ssl_context(self) -> ssl.SSLContext | bool:
        settings = self.settings
        if not settings.tls:
            return False
        try:
            context = ssl.create_default_context(
                cafile=str(settings.ca_file) if settings.ca_file else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"MQTT TLS: cannot load the CA file {settings.ca_file}: {exc}"
            ) from exc
        if settings.cert_file is not None:
            try:
                context.load_cert_chain(
                    str(settings.cert_file), str(settings.key_file) if settings.key_file else None
                )
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"MQTT TLS: cannot load the client certificate {settings.cert_file} "
                    f"(key {settings.key_file}): {exc}"
                ) from exc
        return context

    def start(self) -> None:
        self._connecting = asyncio.get_running_loop().create_task(
            self._connect(), name=f"mqtt-connect-{self.cycler}"
        )
        self._connecting.add_done_callback(self._connect_ended)

    def _connect_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "MQTT %s: connecting to %s failed for good; nothing will be published",
                self.cycler,
                self.settings.display_url,
                exc_info=task.exception(),
            )

    async def _connect(self) -> None:
        """Connect the first time, retrying (1 s doubling to 30 s) until the broker takes us;
        from then on gmqtt reconnects by itself."""
        settings = self.settings
        delay = 1.0
        while not self._closing:
            try:
                await self.client.connect(
                    settings.host,
                    settings.port,
                    ssl=self._ssl,
                    keepalive=settings.keepalive_s,
                    version=self._v311,
                )
                return
            except self._refused as exc:
                refusal = str(exc)
                if refusal != self._last_refusal:
                    log.error(
                        "MQTT %s: broker %s refused the connection: %s",
                        self.cycler,
                        settings.display_url,
                        refusal,
                    )
                self._last_refusal = refusal
            except OSError as exc:
                if not self._failing:
                    self._failing = True
                    log.warning(
                        "MQTT %s: cannot connect to the broker %s (%s); queueing up to %d "
                        "messages and retrying",
                        self.cycler,
                        settings.display_url,
                        exc,
                        settings.queue_size,
                    )
            await asyncio.sleep(delay)
            delay = min(2 * delay, _MAX_CONNECT_DELAY_S)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def published(self) -> int:
        """Messages the broker acknowledged."""
        return self._in_flight.acknowledged

    @property
    def queued(self) -> int:
        """Messages not yet acknowledged by the broker."""
        return len(self._queue) + len(self._in_flight.entries)

    # -- feeding -------------------------------------------------------------------------------

    def put(self, messages: Sequence[_Message], *, bounded: bool = True) -> int:
        """Queue ``messages`` (in order); returns how many found no room (bounded only)."""
        refused = 0
        if bounded:
            room = self.settings.queue_size - len(self._queue) - len(self._in_flight.entries)
            if room < len(messages):
                refused = len(messages) - max(0, room)
                messages = messages[: max(0, room)]
                self.dropped += refused
        self._queue.extend(messages)
        if not self._in_flight.entries and self._connected:
            self._hand_window()
        if refused:
            self._count_refused(refused)
        elif self._dropping_since is not None and bounded:
            self._end_overflow()
        return refused

    def _hand_window(self) -> None:
        """Hand the next window of queued messages to gmqtt (none is in flight): each one's
        PUBLISH packet built by gmqtt and kept in the in-flight store, then all of them written
        to the socket at once."""
        queue = self._queue
        count = min(len(queue), self.settings.window)
        if not count:
            return
        # gmqtt's protocol of the current connection numbers the packets and writes them. Its
        # Client.publish would write each packet on its own (asyncio sends each write at
        # once: a send() per message) and build a Message for each.
        protocol = self.client._connection._protocol
        build = self._build_publish
        message = self._publishing
        entries = self._in_flight.entries
        packets = []
        for _ in range(count):
            entry = queue.popleft()
            message.topic, payload, message.retain = entry
            message.payload = payload
            message.payload_size = len(payload)
            mid, packet = build(message, protocol)
            entries[mid] = (packet, entry)
            packets.append(packet)
        # Nothing is lost if the write fails: every packet is in the in-flight store already,
        # which gmqtt re-sends (or hands back to the queue) after a reconnect.
        protocol.write_data(b"".join(packets))

    # -- gmqtt's callbacks (the event loop's thread) -------------------------------------------

    def window_acknowledged(self) -> None:
        """The broker acknowledged every message handed to gmqtt: hand the next window."""
        if self._connected:
            self._hand_window()

    def session_lost(self, lost: list[_Message]) -> None:
        """The broker lost our session (it restarted without it): what was in flight goes back
        to the head of the queue, in order, to be sent again."""
        self._queue.extendleft(reversed(lost))

    def _on_connect(self, client: Any, session_present: int, result: int, properties: Any) -> None:
        self._last_refusal = ""
        self._failing = False
        self._connected = True
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        backlog = self.queued
        # The online flag goes first: it is retained and its order does not matter.
        self._queue.appendleft(
            (self.online_topic, _online_payload(self.cycler, True, "logger running"), True)
        )
        log.info(
            "MQTT %s: connected to %s (%d message(s) waiting)",
            self.cycler,
            self.settings.display_url,
            backlog,
        )
        # What is still in flight is being re-sent by gmqtt; the next window waits for it.
        if not self._in_flight.entries:
            self._hand_window()

    def _on_disconnect(self, client: Any, packet: Any, exc: Any = None) -> None:
        was_connected = self._connected
        self._connected = False
        if was_connected and not self._closing:
            log.warning(
                "MQTT %s: lost the broker %s; queueing up to %d messages",
                self.cycler,
                self.settings.display_url,
                self.settings.queue_size,
            )

    def _count_refused(self, count: int) -> None:
        self._dropped_in_episode += count
        if self._dropping_since is None:
            self._dropping_since = time.time()
            log.warning(
                "MQTT %s: the queue is full (%d messages, broker %s); new readings are dropped "
                "from MQTT (the database still gets them) until the broker takes them",
                self.cycler,
                self.settings.queue_size,
                "connected" if self._connected else "unreachable",
            )

    def _end_overflow(self) -> None:
        since, count = self._dropping_since, self._dropped_in_episode
        self._dropping_since = None
        self._dropped_in_episode = 0
        now = time.time()
        log.warning(
            "MQTT %s: %d reading(s) were dropped while the queue was full (%.1f s)",
            self.cycler,
            count,
            now - (since or now),
        )
        event = _event_payload(
            "queue_overflow", self.cycler, now, dropped=count, start_s=since, end_s=now
        )
        self.put([(self.events_topic, event, False)], bounded=False)

    # -- stopping ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Disconnect (no last will: the offline flag was published) and stop reconnecting."""
        self.unpublished = self.queued
        self._closing = True
        connecting = self._connecting
        if connecting is not None and not connecting.done():
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
        self.client.stop_reconnect()
        try:
            # Also closes a connection that the cancelled first attempt left half-open.
            await asyncio.wait_for(self.client.disconnect(), _DISCONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            log.warning(
                "MQTT %s: the disconnect from %s did not end cleanly: %r",
                self.cycler,
                self.settings.display_url,
                exc,
            )
        self._connected = False


# -- the listener ------------------------------------------------------------------------------


@dataclass
class MqttStats:
    """Figures of an :class:`MqttPublisher` (``Logger.health()``, the live view)."""

    url: str
    #: Cyclers whose connection to the broker is up / all cyclers.
    connected: int = 0
    cyclers: int = 0
    #: Messages the broker acknowledged.
    published: int = 0
    #: Messages waiting for the broker (queued or not yet acknowledged).
    queued: int = 0
    #: Readings dropped because a queue was full (the database still has them).
    dropped: int = 0
    #: Messages still waiting when the publisher stopped (broker unreachable).
    unpublished: int = 0
    reconnects: int = 0
    dropped_by_cycler: dict[str, int] = field(default_factory=dict)


class MqttPublisher(Listener):
    """Publishes the logger's readings, channel states and events to an MQTT broker.

    ``MqttPublisher("mqtt://broker.lab:1883/lab1")`` or ``MqttPublisher(MqttSettings(...))``;
    credentials and TLS files as :meth:`MqttSettings.from_url` finds them. Add it to the
    logger's listeners (or pass ``mqtt=`` to :class:`~pyctiarbin.logger.Logger`).
    :meth:`alert_sink` gives the callback that puts alert events on the events topic.

    Raises:
        ImportError: from the constructor, when gmqtt is not installed (with the hint).
        ValueError: from the constructor, for a malformed URL or settings; from
            :meth:`on_start` (or the first message of a cycler), for TLS files it cannot load.
    """

    def __init__(self, broker: str | MqttSettings) -> None:
        _import_gmqtt()
        self.settings = (
            broker if isinstance(broker, MqttSettings) else MqttSettings.from_url(broker)
        )
        self._links: dict[str, _CyclerLink] = {}
        self._outboxes: dict[str, dict[int, _ChannelOutbox]] = {}
        self._client_tag = f"{socket.gethostname()[:20]}-{os.getpid()}"

    def __repr__(self) -> str:
        return f"MqttPublisher({self.settings.display_url!r})"

    def _link(self, cycler: str) -> _CyclerLink:
        link = self._links.get(cycler)
        if link is None:
            link = _CyclerLink(self.settings, cycler, f"pycti-{cycler}-{self._client_tag}")
            self._links[cycler] = link
            link.start()
        return link

    async def on_start(self, cyclers: Sequence[str]) -> None:
        for name in cyclers:
            self._link(name)

    async def on_readings(self, batch: ReadingBatch) -> None:
        cycler = batch.cycler.name
        link = self._link(cycler)
        outboxes = self._outboxes.setdefault(cycler, {})
        prefix = self.settings.prefix
        readings: list[_Message] = []
        changes: list[_Message] = []
        unix_time_s: float | None = None
        time_text = b""
        for row in batch.rows():
            if row[2] is not unix_time_s:  # the rows of a poll share their time
                unix_time_s = row[2]
                time_text = repr(unix_time_s).encode()
            outbox = outboxes.get(row[1])
            if outbox is None:
                outbox = outboxes[row[1]] = _ChannelOutbox(prefix, cycler, row[1])
            outbox.messages(row, time_text, readings, changes)
        events = link.events_topic
        for event in batch.events:
            payload = _event_payload(
                "test",
                cycler,
                event.unix_time_s,
                channel=event.channel,
                kind=event.kind.value,
                test_id=event.test_id,
                status=event.status,
                previous_status=event.previous_status,
                schedule=event.schedule,
                test_name=event.test_name,
                barcode=event.barcode,
                test_time_s=event.test_time_s,
            )
            changes.append((events, payload, False))
        if readings:
            link.put(readings)
        if changes:
            # State and events are few and are never dropped (they bypass the bound).
            link.put(changes, bounded=False)

    async def on_cycler(self, info: CyclerInfo) -> None:
        payload = _event_payload(
            "cycler_up",
            info.name,
            time.time(),
            address=f"{info.host}:{info.port}",
            serial_number=info.serial_number,
            num_channels=info.num_channels,
        )
        self._put_event(info.name, payload)

    async def on_gap(self, gap: Gap) -> None:
        if gap.end_s is None:
            payload = _event_payload(
                "cycler_down", gap.cycler, time.time(), start_s=gap.start_s, reason=gap.reason
            )
        else:
            # Its columns in the gaps table, but the cycler (named by the topic and the event).
            columns = dict(zip(GAP_COLUMNS, gap.row(), strict=True))
            del columns["cycler"]
            payload = _event_payload("gap", gap.cycler, gap.end_s, **columns)
        self._put_event(gap.cycler, payload)

    def alert_sink(self) -> Callable[[AlertEvent], None]:
        """A callback for alert events (``AlertListener(..., on_alert=...)``): each goes to
        ``PREFIX/<cycler>/events`` as ``{"event": "alert", ...}``. Call it on the event loop's
        thread."""

        def publish_alert(alert: AlertEvent) -> None:
            details = alert.to_dict()
            details["alert"] = details.pop("event")
            details.pop("cycler")
            payload = _event_payload("alert", alert.cycler, alert.time, **details)
            self._put_event(alert.cycler, payload)

        return publish_alert

    def _put_event(self, cycler: str, payload: bytes) -> None:
        link = self._link(cycler)
        link.put([(link.events_topic, payload, False)], bounded=False)

    async def stop(self) -> None:
        """Publish ``online: false``, wait up to ``drain_timeout_s`` for the queues to empty,
        then disconnect. What could not be published is logged and counted."""
        links = list(self._links.values())
        for link in links:
            if link._dropping_since is not None:
                link._end_overflow()
            offline = _online_payload(link.cycler, False, "logger stopped")
            link.put([(link.online_topic, offline, True)], bounded=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.drain_timeout_s
        while any(link.queued for link in links) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for link in links:
            await link.close()
            if link.unpublished:
                log.warning(
                    "MQTT %s: %d message(s) were not published (the broker %s did not take them "
                    "before the stop)",
                    link.cycler,
                    link.unpublished,
                    self.settings.display_url,
                )
            if link.dropped:
                log.warning(
                    "MQTT %s: %d reading(s) in all were dropped because the queue was full",
                    link.cycler,
                    link.dropped,
                )

    def stats(self) -> MqttStats:
        """A snapshot of the publisher's figures."""
        links = list(self._links.values())
        return MqttStats(
            url=self.settings.display_url,
            connected=sum(link.connected for link in links),
            cyclers=len(links),
            published=sum(link.published for link in links),
            queued=sum(link.queued for link in links),
            dropped=sum(link.dropped for link in links),
            unpublished=sum(link.unpublished for link in links),
            reconnects=sum(link.reconnects for link in links),
            dropped_by_cycler={link.cycler: link.dropped for link in links if link.dropped},
        )

"""The connection logic both clients share, and their two small I/O pumps.

:class:`LinkCore` holds everything that is not I/O: settings, credentials, the connection state
machine (connect, log in, exchange, retry), the frame reader and inbox, error translation. It
writes each run of an operation as a script: a generator that yields the I/O it needs next
(open the transport, send these bytes, wait for data, pause before a retry) and is told how
that went. :class:`SyncLink` (sockets, a thread lock) and :class:`AsyncLink` (an asyncio
protocol, an asyncio lock) are pumps: they perform those steps and nothing else. The one
shortcut: an operation that declares itself one request and one answer (a status poll) is
tried first by :meth:`SyncLink._exchange_once`, with the script's own checks, on a connection
that is open and idle; anything else, a failure included, goes to the script.

Rules, the same for both (this module is the one place that applies them):

* Connecting means TCP connect, then LOGIN; a refused login raises :class:`LoginError` at once
  (never retried in a loop). Reconnecting replays the whole handshake.
* One operation at a time per connection. CTI has no request ids, so an answer is accepted only
  if it matches the waiting request: its feedback code, and where the feedback carries them its
  channel indexes and transfer identity (time stamp, chunk index). The operations in
  :mod:`.operations` state what they accept; the link applies the rest below.
* Anything else on the connection while an operation waits -- a malformed frame (bad checksum,
  bad length), an unknown command code, bytes that are not a frame, another command's or
  another channel's feedback, one answer too many, UNKNOWN_CODE_FEEDBACK for a request not
  sent -- means the stream can no longer be trusted: the connection is closed. A read is then
  retried on a fresh connection (with login), within the retry policy; a control command
  raises :class:`CtiConnectionError` with ``outcome_unknown=True`` and is never sent again.
* Data that arrived while no operation waited (a duplicate, a late answer, an unsolicited
  frame, the peer closing) is found before the next request is written: the blocking link
  looks at its socket without blocking, the asyncio link's protocol marks the connection
  poisoned (and stops reading: an idle connection holds no unclaimed data). The connection is
  then replaced before anything is sent, so such data is never taken for an answer.
* UNKNOWN_CODE_FEEDBACK (0xBB111111) naming a request the operation sent raises
  :class:`UnsupportedCommand`; the cycler did nothing, and the connection stays usable (it is
  replaced only if the operation had sent several frames, whose other answers would follow).
* A read whose connection drops is retried on a fresh connection, up to ``retries`` times with
  capped exponential backoff. A control command is never re-sent once any of its frames left:
  the error says the outcome is unknown (``outcome_unknown=True``).
* A timeout closes the connection (a late answer must not be taken for the next command's) and
  raises :class:`CtiTimeout`, also a builtin ``TimeoutError``.
* Command variants follow the server version of the login feedback, as in Arbin's client
  (DLL reference 2.2); ``server_version`` overrides it for a server that reports the wrong one.
* ``zero_checksum=True`` (lenient, off by default) also accepts frames whose checksum field is
  zero and whose real checksum follows the frame, as pycti-arbin 0.0.13's ``ArbinSpoofer``
  sends them; a warning is logged once per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, TypeAlias, TypeVar

from ..credentials import Credentials
from ..errors import (
    ChecksumError,
    CtiConnectionError,
    CtiError,
    CtiTimeout,
    LoginError,
    ProtocolError,
    UnsupportedCommand,
)
from ..protocol import (
    FrameReader,
    LoginFeedback,
    LoginRequest,
    ServerVersion,
    UnknownCommandFeedback,
    decode,
    encode,
)
from ..protocol.codes import LoginResult
from ..protocol.framing import HEADER
from ..protocol.messages import Message
from ..shared import Backoff
from .operations import RECEIVE, Mismatch, Operation, expect

__all__ = [
    "AsyncLink",
    "ConnectionState",
    "LinkCore",
    "LocalWork",
    "Plan",
    "RetryPolicy",
    "SyncLink",
]

log = logging.getLogger("pyctiarbin.client")

T = TypeVar("T")

# A longer timeout is waited out in several waits: poll() takes at most 2**31 - 1 ms.
_LONGEST_WAIT_S = 86_400.0


class ConnectionState(enum.Enum):
    """Where a connection stands."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


class RetryPolicy:
    """How often, and how patiently, a read is retried after its connection dropped."""

    __slots__ = ("_backoff", "backoff_s", "max_backoff_s", "retries")

    def __init__(
        self, retries: int = 3, backoff_s: float = 0.2, max_backoff_s: float = 5.0
    ) -> None:
        if retries < 0 or backoff_s < 0 or max_backoff_s < 0:
            raise ValueError("retries and backoff times must not be negative")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        # A first wait above the cap waits the cap, as min(cap, first * 2**n) always did.
        self._backoff = Backoff(min(backoff_s, max_backoff_s), max_backoff_s)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based). Raises ValueError below 1."""
        return self._backoff.delay(attempt)

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(retries={self.retries}, backoff_s={self.backoff_s}, "
            f"max_backoff_s={self.max_backoff_s})"
        )


class _Aborted(Exception):
    """Internal: the operation was interrupted by the link; carries the translated error."""


class _Need(enum.Enum):
    """What a script asks its pump for, besides sending the bytes it yields and pausing for
    the seconds (a float) it yields."""

    #: Open the transport (within ``connect_timeout``).
    TRANSPORT = "transport"
    #: Receive until the inbox holds something (before the exchange's deadline).
    DATA = "data"


class LocalWork:
    """Blocking local work within a command (reading or writing a file): the blocking link
    does it in place, the asyncio link in a worker thread. Its errors pass through unchanged."""

    __slots__ = ("args", "call", "result")

    def __init__(self, call: Callable[..., Any], *args: Any) -> None:
        self.call = call
        self.args = args
        self.result: Any = None


#: A command made of several steps: a generator that yields operations (and is sent their
#: results) or :class:`LocalWork` (and is sent its result), and returns the command's result.
Plan = Generator["Operation[Any] | LocalWork", Any, T]

#: What a script asks its pump to do: send bytes, pause a float of seconds, a _Need, local work.
_Step: TypeAlias = "bytes | float | _Need | LocalWork"

#: A script: yields I/O steps, is sent None once a step is done (or thrown its failure), and
#: returns its result.
Script = Generator[_Step, None, T]


# The steps as module constants: a global lookup is cheaper than an enum member's.
_TRANSPORT = _Need.TRANSPORT
_DATA = _Need.DATA
_CONNECTED = ConnectionState.CONNECTED


def _advance(script: Script[T], failure: BaseException | None) -> _Step:
    """The next step of ``script``, once it is told how the last one went."""
    return script.send(None) if failure is None else script.throw(failure)


# Interruptions of an exchange (not failures of it): they pass through, after the connection
# is dropped if a frame had left.
_INTERRUPTED = (KeyboardInterrupt, SystemExit, asyncio.CancelledError)

# Failures of an exchange: the connection is dropped, and the operation retried if it may be.
_EXCHANGE_FAILURES = (OSError, CtiConnectionError, CtiTimeout, ProtocolError, Mismatch)

#: How an attempt failed: the library's error, its cause, whether a frame had left.
_Failure: TypeAlias = "tuple[CtiError, BaseException | None, bool]"

# SyncLink._exchange_once could not make the attempt: the script makes it.
_BY_SCRIPT: Any = object()


@dataclasses.dataclass(frozen=True)
class LinkSettings:
    """Where one connection goes and how it behaves (the client's control and file links
    differ in ``port``, ``label`` and ``login``).

    ``zero_checksum``: the lenient mode described in the module docstring. ``server_version``
    overrides the one the login reports. Raises ValueError for a timeout that is not positive.
    """

    host: str
    port: int
    credentials: Credentials = dataclasses.field(repr=False)
    timeout: float = 10.0
    connect_timeout: float = 10.0
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    label: str = "cycler"
    login: bool = True
    zero_checksum: bool = False
    server_version: ServerVersion | None = None

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeouts must be positive")

    @property
    def where(self) -> str:
        """``"<label> <host>:<port>"``, as messages name the connection."""
        return f"{self.label} {self.host}:{self.port}"


class LinkCore:
    """State and rules shared by the blocking and the asyncio link (no I/O here)."""

    def __init__(self, settings: LinkSettings) -> None:
        self.settings = settings
        self.state = ConnectionState.DISCONNECTED
        self.login_info: LoginFeedback | None = None
        #: The server version the login reported (``login_info`` holds the one in use).
        self.reported_version: ServerVersion | None = None
        self._reader = FrameReader("client", zero_checksum=settings.zero_checksum)
        self._inbox: deque[Message | ProtocolError] = deque()
        self._reported_skipped = 0
        self._zero_checksum_warned = False
        # The frames the running operation has written (their codes are only looked at when
        # the cycler says it does not know one).
        self._sent: list[bytes] = []
        # When the running exchange times out, on the pump's clock.
        self._deadline = 0.0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.settings.where} {self.state.value}>"

    # -- sans-IO pieces --------------------------------------------------------------------

    def _reset_stream(self) -> None:
        self._reader = FrameReader("client", zero_checksum=self.settings.zero_checksum)
        self._inbox.clear()
        self._reported_skipped = 0
        self._zero_checksum_warned = False

    def _absorb(self, count: int) -> None:
        """Take ``count`` bytes received into the reader's :meth:`~FrameReader.receive_buffer`;
        decode every whole frame into the inbox, in order."""
        reader = self._reader
        reader.received(count)
        inbox = self._inbox
        while True:
            try:
                frame = reader.next_frame()
            except ProtocolError as exc:
                self._note_skipped()
                log.warning("%s: dropped a malformed frame: %s", self.settings.label, exc)
                inbox.append(exc)
                continue
            # Bytes skipped before this frame come before it in the inbox: they are what the
            # waiting operation meets first.
            if reader.skipped_bytes != self._reported_skipped:
                self._note_skipped()
            if frame is None:
                break
            try:
                inbox.append(decode(frame, verify_checksum=False))
            except ProtocolError as exc:
                log.warning("%s: could not decode a frame: %s", self.settings.label, exc)
                inbox.append(exc)
        if reader.zero_checksum_frames and not self._zero_checksum_warned:
            self._zero_checksum_warned = True
            log.warning(
                "%s sends frames with a zeroed checksum field and the checksum after the frame "
                "(pycti-arbin 0.0.13's ArbinSpoofer does); accepted in lenient mode",
                self.settings.where,
            )

    def _note_skipped(self) -> None:
        skipped = self._reader.skipped_bytes - self._reported_skipped
        if skipped:
            self._reported_skipped = self._reader.skipped_bytes
            self._inbox.append(ProtocolError(f"{skipped} bytes that are not part of a frame"))

    def _take(self, op: Operation[Any]) -> Message:
        """The next message of the inbox for ``op``, after the link-wide checks.

        Raises ProtocolError for a malformed frame or stray bytes, UnsupportedCommand for
        UNKNOWN_CODE_FEEDBACK naming a request ``op`` sent, and Mismatch for one naming a
        request it did not send.
        """
        item = self._inbox.popleft()
        if isinstance(item, ProtocolError):
            raise item
        if type(item) is UnknownCommandFeedback:
            if item.command in {HEADER.unpack_from(frame)[2] for frame in self._sent}:
                raise UnsupportedCommand(op.name, item.command, item.command_name)
            raise Mismatch(
                f"UNKNOWN_CODE_FEEDBACK for {item.command_name}, a request {op.name} did not send"
            )
        return item

    def _unclaimed(self) -> str | None:
        """Why the connection holds data nobody asked for (None if it holds none)."""
        if self._inbox:
            item = self._inbox[0]
            what = str(item) if isinstance(item, ProtocolError) else f"a {type(item).__name__}"
            return f"{what}, which no request was waiting for"
        if self._reader.buffered:
            return f"{self._reader.buffered} bytes that no request was waiting for"
        return None

    def _release_unclaimed(self) -> None:
        """After an operation, however it ended: data left over means the connection is
        replaced."""
        reason = self._unclaimed()
        if reason is not None:
            log.warning(
                "%s sent %s; closing the connection",
                self.settings.where,
                reason,
            )
            self._drop()

    def _login_operation(self) -> Operation[LoginFeedback]:
        credentials = self.settings.credentials

        def run(_info: LoginFeedback) -> Any:
            yield encode(LoginRequest(credentials.username, credentials.password))
            feedback = yield from expect(LoginFeedback)
            return feedback

        return Operation("login", False, run)

    def _connected(self, info: LoginFeedback) -> None:
        self.reported_version = info.server_version
        override = self.settings.server_version
        if override is not None and override != info.version:
            # Variants follow the version in the login info the operations are given.
            log.info(
                "%s: the server reports version %s; using %s as configured",
                self.settings.label,
                info.server_version.name,
                override.name,
            )
            info = dataclasses.replace(info, version=int(override))
        self.login_info = info
        self.state = ConnectionState.CONNECTED
        if self.settings.login:
            log.info("%s: logged in", self.settings.where)

    def _login_failed(self, exc: BaseException) -> BaseException:
        """Drop the half-open connection; return the error to raise for ``exc``."""
        self._drop()
        return exc.args[0] if isinstance(exc, _Aborted) else exc

    def _check_login(self, feedback: LoginFeedback) -> LoginFeedback:
        if feedback.result == LoginResult.ALREADY_LOGGED_IN:
            # The cycler still counts an earlier session of this user (a reconnect after a
            # dropped connection): the session is logged in, as pycti-arbin 0.0.13 also held.
            log.info(
                "%s: the cycler says user %r was already logged in",
                self.settings.label,
                self.settings.credentials.username,
            )
            return feedback
        if feedback.result != LoginResult.SUCCESS:
            raise LoginError(
                f"{self.settings.where} refused the login of user "
                f"{self.settings.credentials.username!r}: {feedback.meaning}",
                result=feedback.result,
            )
        return feedback

    def _fail(self, op: Operation[Any], exc: BaseException, sent: bool) -> CtiError:
        """Translate a low-level failure during ``op`` into the library's error (one place)."""
        unknown = op.control and sent
        where = self.settings.where
        suffix = (
            "; the command was sent, its outcome is unknown and it was not sent again"
            if unknown
            else ""
        )
        if isinstance(exc, (ProtocolError, Mismatch)):
            hint = ""
            frame = getattr(exc, "frame", None)
            if isinstance(exc, ChecksumError) and frame is not None and frame[-2:] == b"\0\0":
                hint = (
                    " (a peer that zeroes the checksum field, as pycti-arbin 0.0.13's "
                    "ArbinSpoofer does, needs lenient_checksum=True)"
                )
            error: CtiError = CtiConnectionError(
                f"{op.name}: {where}: {exc}{hint}; the connection was closed, as its "
                f"answers can no longer be matched to requests{suffix}",
                outcome_unknown=unknown,
            )
        elif isinstance(exc, CtiTimeout):
            error = CtiTimeout(
                f"{op.name}: no answer from {where} within {self.settings.timeout:g} s{suffix}",
                outcome_unknown=unknown,
            )
        elif isinstance(exc, (TimeoutError, socket.timeout)):
            error = CtiTimeout(f"{op.name}: {where} timed out{suffix}", outcome_unknown=unknown)
        elif isinstance(exc, CtiConnectionError):
            error = CtiConnectionError(f"{op.name}: {exc}{suffix}", outcome_unknown=unknown)
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            reason = reason or type(exc).__name__
            error = CtiConnectionError(
                f"{op.name}: connection to {where} failed: {reason}{suffix}",
                outcome_unknown=unknown,
            )
        return error

    # -- what each pump provides (non-blocking, so the scripts call them directly) ----------

    def _drop(self) -> None:  # pragma: no cover - each link closes its own transport
        raise NotImplementedError

    def _clock(self) -> float:  # pragma: no cover - each link keeps its own time
        raise NotImplementedError

    def _pending(self) -> str | None:  # pragma: no cover - each link looks at its transport
        """Why the idle connection cannot be used as it is (None if it can)."""
        raise NotImplementedError

    def _ready_to_send(self) -> None:  # pragma: no cover - each link checks its transport
        """Raise if no frame can be written now (nothing has left yet)."""
        raise NotImplementedError

    #: Whether the link wants to know when an exchange starts and ends (``_listen``).
    _listens = False

    def _listen(self, active: bool) -> None:
        """An exchange starts (True) or ends (False); data arriving in between is awaited."""

    def _after_unsupported(self, op: Operation[Any], error: UnsupportedCommand) -> None:
        if len(self._sent) > 1:
            # The answers to the operation's other frames would follow: the connection is
            # replaced, and what became of those frames is not known.
            self._drop()
            error.outcome_unknown = op.control

    def _replace(self, reason: str) -> None:
        """Before a request is written, the connection held data nobody asked for, or was
        closed by the peer: it is dropped (to be opened again)."""
        log.warning(
            "%s: before a request, the connection held %s; replacing it",
            self.settings.where,
            reason,
        )
        self._drop()

    def _check_fresh(self, reason: str | None) -> None:
        """A connection opened a moment ago already holds data nobody asked for."""
        if reason is not None:
            self._drop()
            raise CtiConnectionError(f"{self.settings.where} sent {reason} right after the login")

    def _retry_delay(
        self,
        op: Operation[Any],
        error: CtiError,
        cause: BaseException | None,
        sent: bool,
        attempt: int,
    ) -> float:
        """After a failed attempt: the seconds to wait before the next, or raise ``error``.

        The connection is dropped whatever the error. Only reads, and control commands none of
        whose frames left, are tried again; never after a timeout or a refused login.
        """
        self._drop()
        retry = (
            attempt <= self.settings.retry.retries
            and not isinstance(error, (LoginError, CtiTimeout))
            and not (op.control and sent)
            and isinstance(error, CtiConnectionError)
        )
        if not retry:
            raise error from cause
        delay = self.settings.retry.delay(attempt)
        log.warning(
            "%s: %s; retrying %s in %.2f s (attempt %d of %d)",
            self.settings.label,
            error,
            op.name,
            delay,
            attempt,
            self.settings.retry.retries,
        )
        return delay

    # -- the scripts: the connection state machine, written once ------------------------------

    def _plan(self, steps: Plan[T]) -> Script[T]:
        """Run the operations of ``steps`` one after the other, with its local work between."""
        result: Any = None
        try:
            while True:
                step = steps.send(result)
                if isinstance(step, Operation):
                    result = yield from self._attempts(step)
                else:
                    yield step
                    result = step.result
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _attempts(self, op: Operation[T], failed: _Failure | None = None) -> Script[T]:
        """Run ``op``: connect if needed, retry reads on a dropped connection, translate errors.

        ``failed``: how a first attempt made without the script (:meth:`SyncLink._exchange_once`)
        failed; the script goes on from there, as if it had made that attempt itself."""
        attempt = 0
        if failed is not None:
            attempt = 1
            yield self._retry_delay(op, *failed, attempt)
        while True:
            sent = False
            try:
                info = self.login_info
                if self.state is not ConnectionState.CONNECTED or info is None:
                    info = yield from self._open()
                reason = self._pending()
                if reason is not None:
                    self._replace(reason)
                    info = yield from self._open()
                    self._check_fresh(self._pending())
                return (yield from self._exchange(op, info))
            except _Aborted as aborted:
                error, sent = aborted.args
                cause = aborted.__cause__
            except CtiConnectionError as exc:
                error, cause = exc, exc.__cause__
            attempt += 1
            yield self._retry_delay(op, error, cause, sent, attempt)

    def _open(self) -> Script[LoginFeedback]:
        """Connect and log in, unless connected. Raises CtiConnectionError, LoginError."""
        if self.state is ConnectionState.CONNECTED and self.login_info is not None:
            return self.login_info
        if self.state is ConnectionState.CLOSED:
            raise CtiConnectionError(f"{self.settings.label} connection was closed")
        self.state = ConnectionState.CONNECTING
        self._reset_stream()
        try:
            yield _TRANSPORT
        except (OSError, asyncio.TimeoutError) as exc:
            self.state = ConnectionState.DISCONNECTED
            reason = getattr(exc, "strerror", None) or str(exc)
            if not reason:
                timed_out = isinstance(exc, (TimeoutError, asyncio.TimeoutError))
                reason = "timed out" if timed_out else type(exc).__name__
            raise CtiConnectionError(f"cannot connect to {self.settings.where}: {reason}") from exc
        if not self.settings.login:
            self._connected(self.login_info or LoginFeedback())
        else:
            try:
                login = self._login_operation()
                feedback = yield from self._exchange(login, LoginFeedback(), release=False)
                self._connected(self._check_login(feedback))
            except BaseException as exc:
                raise self._login_failed(exc) from exc.__cause__
        info = self.login_info
        if info is None:  # pragma: no cover - _connected sets it
            raise CtiConnectionError("login did not complete")
        return info

    def _exchange(
        self, op: Operation[T], info: LoginFeedback, *, release: bool = True
    ) -> Script[T]:
        """Run one operation on the open connection. Errors come out wrapped in _Aborted.

        ``release``: drop the connection if data is left over afterwards (not after the login,
        where the check before the first request does it)."""
        sent = False
        self._deadline = self._clock() + self.settings.timeout
        sent_frames = self._sent
        sent_frames.clear()
        if self._listens:
            self._listen(True)
        inbox = self._inbox
        gen = op.run(info)
        try:
            item = next(gen)
            while True:
                if item is RECEIVE:
                    if not inbox:
                        yield _DATA
                    item = gen.send(self._take(op))
                else:
                    self._ready_to_send()
                    sent = True
                    sent_frames.append(item)  # type: ignore[arg-type]
                    yield item  # type: ignore[misc]
                    item = gen.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        except UnsupportedCommand as unsupported:
            self._after_unsupported(op, unsupported)
            raise
        except _EXCHANGE_FAILURES as exc:
            raise _Aborted(self._fail(op, exc, sent), sent) from exc
        except _INTERRUPTED:
            self._interrupted(sent)
            raise
        finally:
            if self._listens:
                self._listen(False)
            gen.close()
            self._exchange_ended(release)

    def _exchange_ended(self, release: bool) -> None:
        self._sent.clear()  # an upload's chunks are not kept
        if release and (self._inbox or self._reader.buffered):
            self._release_unclaimed()

    def _interrupted(self, sent: bool) -> None:
        # Interrupted in the middle of an exchange: an answer may still be on its way and
        # would be taken for the next command's, so the connection is dropped.
        if sent:
            self._drop()


class SyncLink(LinkCore):
    """A blocking connection (socket) that pumps operations; thread-safe."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sock: socket.socket | None = None
        self._lock = threading.RLock()
        # Asks whether the socket is readable, without building lists each time as
        # select.select does (poll objects are not on Windows: select.select is used there).
        self._poller: Any = None

    def open(self) -> LoginFeedback:
        """Connect and log in (if not connected yet). Raises CtiConnectionError, LoginError."""
        with self._lock:
            return self._pump(self._open())

    def run(self, command: Operation[T] | Plan[T]) -> T:
        """Run ``command`` (see :meth:`LinkCore._attempts`); raises the library's errors."""
        lock = self._lock
        lock.acquire()  # rather than a with block, which costs twice as much per call
        try:
            if type(command) is not Operation:
                return self._pump(self._plan(command))  # type: ignore[arg-type]
            if command.exchange is not None and self.state is _CONNECTED:
                result = self._exchange_once(command)
                if result is not _BY_SCRIPT:
                    return result
            return self._pump(self._attempts(command))
        finally:
            lock.release()

    def _exchange_once(self, op: Operation[T]) -> T:
        """The first attempt at a one-exchange operation (``op.exchange``), made directly.

        Most polls are one request and one answer on an open, idle connection. Made through
        the script, such a read costs a chain of generators; made here, it is the same steps as
        :meth:`~LinkCore._exchange` (the same checks, in the same order) in one call. Returns
        ``_BY_SCRIPT`` where the attempt needs the script: data is waiting unclaimed (the
        script replaces the connection), or the operation takes more than one exchange on this
        server. A failure is handed to the script as its first attempt, to be retried or raised
        by the same rules.
        """
        info = self.login_info
        if info is None or self._pending() is not None:
            return _BY_SCRIPT  # type: ignore[no-any-return]
        exchange = op.exchange(info)  # type: ignore[misc] # checked by run
        if exchange is None:
            return _BY_SCRIPT  # type: ignore[no-any-return]
        frame, answer, finish = exchange
        self._deadline = time.monotonic() + self.settings.timeout
        self._sent.append(frame)
        try:
            self._send(frame)
            self._fill()
            message = self._take(op)
            if type(message) is not answer:
                raise Mismatch.instead_of(message, answer)
            return finish(message)
        except UnsupportedCommand as unsupported:
            self._after_unsupported(op, unsupported)
            raise
        except _EXCHANGE_FAILURES as exc:
            failed: _Failure = (self._fail(op, exc, True), exc, True)
        except _INTERRUPTED:
            self._interrupted(True)
            raise
        finally:
            self._exchange_ended(True)
        return self._pump(self._attempts(op, failed))

    def close(self) -> None:
        """Close the connection; later calls raise CtiConnectionError."""
        with self._lock:
            self._drop()
            self.state = ConnectionState.CLOSED

    def _pump(self, script: Script[T]) -> T:
        """Perform the steps ``script`` asks for until it returns (or raises)."""
        resume = script.send
        try:
            step = resume(None)
            while True:
                try:
                    if step is _DATA:
                        self._fill()
                    elif type(step) is bytes:
                        self._send(step)
                    elif step is _TRANSPORT:
                        self._open_socket()
                    elif type(step) is LocalWork:
                        step.result = step.call(*step.args)
                    else:
                        time.sleep(step)  # type: ignore[arg-type]
                except BaseException as exc:
                    failure = exc
                else:
                    step = resume(None)
                    continue
                step = script.throw(failure)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    # -- the I/O -----------------------------------------------------------------------------

    def _open_socket(self) -> None:
        sock = socket.create_connection(
            (self.settings.host, self.settings.port), timeout=self.settings.connect_timeout
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The link waits itself, against the exchange's deadline, and only before a receive
        # (or a send that found the buffer full): a socket timeout would poll before every
        # send and receive, one system call more each.
        sock.setblocking(False)
        self._sock = sock
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN)

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        self._poller = None
        if sock is not None:
            with contextlib.suppress(OSError):  # closing a broken socket
                sock.close()
        self._reset_stream()  # what the closed connection held is worth nothing now
        if self.state is not ConnectionState.CLOSED:
            self.state = ConnectionState.DISCONNECTED

    _clock = staticmethod(time.monotonic)

    def _wait(self, sock: socket.socket, poller: Any, writing: bool) -> bool:
        """Whether ``sock`` became readable (or writable) before the exchange's deadline.

        ``poller``: a poll object registered for that event (None where there is none)."""
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                return False
            if remaining > _LONGEST_WAIT_S:
                remaining = _LONGEST_WAIT_S
            if poller is not None:
                if poller.poll(int(remaining * 1000) + 1):  # in whole milliseconds, not less
                    return True
            elif writing:
                if select.select([], [sock], [], remaining)[1]:
                    return True
            elif select.select([sock], [], [], remaining)[0]:
                return True

    def _ready_to_send(self) -> None:
        if self._sock is None:
            raise CtiConnectionError("not connected")
        if self._deadline <= time.monotonic():
            raise CtiTimeout("timed out")

    def _send(self, frame: bytes) -> None:
        sock: socket.socket = self._sock  # type: ignore[assignment] # checked by _ready_to_send
        try:
            sent = sock.send(frame)
        except BlockingIOError:
            sent = 0
        if sent < len(frame):
            self._send_rest(sock, memoryview(frame)[sent:])

    def _send_rest(self, sock: socket.socket, rest: memoryview) -> None:
        """The send buffer is full: send the rest as it drains, within the deadline."""
        poller = None
        if self._poller is not None:
            poller = select.poll()
            poller.register(sock, select.POLLOUT)
        while rest:
            if not self._wait(sock, poller, True):
                raise TimeoutError("timed out")
            with contextlib.suppress(BlockingIOError):
                rest = rest[sock.send(rest) :]

    def _fill(self) -> None:
        sock = self._sock
        inbox = self._inbox
        poller = self._poller
        while not inbox:
            if sock is None:
                raise CtiConnectionError("not connected")
            if not self._wait(sock, poller, False):
                raise CtiTimeout("timed out")
            try:
                count = sock.recv_into(self._reader.receive_buffer())
            except BlockingIOError:
                continue  # woken with nothing to read after all
            if not count:
                raise CtiConnectionError(f"{self.settings.where} closed the connection")
            self._absorb(count)

    def _pending(self) -> str | None:
        reason = self._unclaimed() if self._inbox or self._reader.buffered else None
        sock = self._sock
        if reason is None and sock is not None:
            try:
                poller = self._poller
                if poller is not None:
                    readable = bool(poller.poll(0))
                else:
                    readable = bool(select.select([sock], [], [], 0)[0])
                if readable:
                    peek = sock.recv(1, socket.MSG_PEEK)
                    reason = (
                        "data that no request was waiting for"
                        if peek
                        else "the end of the connection"
                    )
            except OSError as exc:
                reason = f"a connection error ({exc.strerror or exc})"
        return reason


class _AsyncProtocol(asyncio.BufferedProtocol):
    """Receives bytes (straight into the link's frame reader) for the link's inbox and wakes
    the waiting operation."""

    def __init__(self, link: AsyncLink) -> None:
        self._link = link
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        # True while an operation runs (and until the login has run); bytes arriving
        # otherwise poison the connection.
        self.active = True
        self.unclaimed_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._link._reader.receive_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if not self.active:
            # Nobody asked for these bytes: they are counted, not kept, and reading stops, so
            # an idle connection holds no unclaimed data however much the peer pushes. The
            # next operation replaces the connection before writing anything.
            self.unclaimed_bytes += nbytes
            if self.transport is not None and self.transport.is_reading():
                self.transport.pause_reading()
            return
        self._link._absorb(nbytes)
        self._wake()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        link = self._link
        self.lost = exc or CtiConnectionError(f"{link.settings.where} closed the connection")
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(CtiTimeout("timed out"))


class AsyncLink(LinkCore):
    """An asyncio connection that pumps operations; safe under concurrent tasks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._protocol: _AsyncProtocol | None = None
        self._lock: asyncio.Lock | None = None

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def open(self) -> LoginFeedback:
        """Connect and log in (if not connected yet). Raises CtiConnectionError, LoginError."""
        async with self._get_lock():
            return await self._pump(self._open())

    async def run(self, command: Operation[T] | Plan[T]) -> T:
        """Run ``command`` (see :meth:`LinkCore._attempts`); raises the library's errors."""
        async with self._get_lock():
            script = self._attempts if type(command) is Operation else self._plan
            return await self._pump(script(command))  # type: ignore[arg-type]

    async def close(self) -> None:
        """Close the connection; later calls raise CtiConnectionError."""
        self._drop()
        self.state = ConnectionState.CLOSED
        # Let the transport finish closing inside the loop.
        await asyncio.sleep(0)

    async def _pump(self, script: Script[T]) -> T:
        """Perform the steps ``script`` asks for until it returns (or raises)."""
        failure: BaseException | None = None
        try:
            while True:
                failure = await self._perform(_advance(script, failure))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def _perform(self, step: _Step) -> BaseException | None:
        """Do one step; return how it failed (None if it did not)."""
        try:
            if step is _DATA:
                await self._fill()
            elif type(step) is bytes:
                self._send(step)
            elif step is _TRANSPORT:
                await self._open_transport()
            elif type(step) is LocalWork:
                step.result = await asyncio.to_thread(step.call, *step.args)
            else:
                await asyncio.sleep(step)  # type: ignore[arg-type]
        except BaseException as exc:
            return exc
        return None

    # -- the I/O -----------------------------------------------------------------------------

    async def _open_transport(self) -> None:
        loop = asyncio.get_running_loop()
        _transport, self._protocol = await asyncio.wait_for(
            loop.create_connection(
                lambda: _AsyncProtocol(self), self.settings.host, self.settings.port
            ),
            self.settings.connect_timeout,
        )

    def _drop(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abort()
        self._reset_stream()  # what the closed connection held is worth nothing now
        if self.state is not ConnectionState.CLOSED:
            self.state = ConnectionState.DISCONNECTED

    def _clock(self) -> float:
        return asyncio.get_running_loop().time()

    _listens = True

    def _listen(self, active: bool) -> None:
        protocol = self._protocol
        if protocol is not None:
            protocol.active = active

    def _pending(self) -> str | None:
        reason = self._unclaimed()
        protocol = self._protocol
        if reason is None and protocol is not None:
            if protocol.unclaimed_bytes:
                reason = f"{protocol.unclaimed_bytes} bytes that no request was waiting for"
            elif protocol.lost is not None:
                reason = "the end of the connection"
        return reason

    def _ready_to_send(self) -> None:
        protocol = self._protocol
        if protocol is None or protocol.transport is None:
            raise CtiConnectionError("not connected")
        if protocol.lost is not None:
            raise CtiConnectionError(f"{self.settings.where} closed the connection")

    def _send(self, frame: bytes) -> None:
        self._ready_to_send()
        self._protocol.transport.write(frame)  # type: ignore[union-attr]

    async def _fill(self) -> None:
        inbox = self._inbox
        loop = asyncio.get_running_loop()
        while not inbox:
            protocol = self._protocol
            if protocol is None:
                raise CtiConnectionError("not connected")
            if protocol.lost is not None:
                lost = protocol.lost
                if isinstance(lost, CtiError):
                    raise lost
                raise CtiConnectionError(str(lost) or "connection lost") from lost
            waiter: asyncio.Future[None] = loop.create_future()
            protocol.waiter = waiter
            handle = loop.call_at(self._deadline, _expire, waiter)
            try:
                await waiter
            finally:
                handle.cancel()
                protocol.waiter = None

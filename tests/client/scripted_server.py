"""A scripted, misbehaving CTI server for the adversarial client tests.

Built on the protocol layer only (not the simulator). It answers logins, one- and all-channel
reads, control commands (assign, start, stop, resume, set MV) and downloads, and records every
request frame it reads with the answer it meant to give:

* every read answer is unique: each record's ``test_time_s`` is a fresh serial number;
* every control outcome is drawn at random per channel (success or a refusal), and an
  all-channels request is answered once per channel or once per request, at random;
* every download chunk holds bytes unique to its request.

Before or after the real answer it injects, at random (from one seeded generator), the faults a
real network and a real server produce; :attr:`ScriptedServer.faults` counts them.

A fault that CTI cannot tell apart from the real answer (a feedback of the very code and
channel asked for, arriving before the real one) is not injected: CTI has no request ids, and
no client can reject it. Faults that follow the real answer are written in the same
``sendall`` as the answer (small frames: one loopback segment), or later for unsolicited
frames, whose code the client never waits for.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pyctiarbin.errors import ProtocolError
from pyctiarbin.protocol import (
    AssignScheduleFeedback,
    AssignScheduleRequest,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    ChannelRecord,
    CommandCode,
    DownloadFileFeedback,
    DownloadFileRequest,
    FrameReader,
    GetSerialNumberFeedback,
    JumpFeedback,
    LoginFeedback,
    LoginRequest,
    ResultFeedback,
    ResumeFeedback,
    ResumeRequest,
    SetMetaVariableFeedback,
    SetMetaVariableRequest,
    StartFeedback,
    StartRequest,
    StopFeedback,
    StopRequest,
    UnknownCommandFeedback,
    checksum,
    decode,
    encode,
)
from pyctiarbin.protocol.framing import HEADER, TOKEN

# A code no document lists, and a request code nobody sends.
UNLISTED_CODE = 0xDEAD0001
NEVER_SENT_REQUEST = 0xBB990001

FAULTS_BEFORE = (
    "late_answer",
    "corrupt_frame",
    "unknown_code",
    "unknown_code_feedback",
    "other_channel",
    "other_command",
    "other_transfer",
    "garbage_bytes",
)
FAULTS_AFTER = ("duplicate", "unsolicited")
FAULTS_INSTEAD = ("reset_mid_frame", "unsupported")


@dataclass
class Entry:
    """One request frame the server read (logins aside), and what it answered."""

    kind: str  # read, control, download
    frame: bytes
    connection: int
    index: int = -1  # channel index asked for (-1: all)
    values: dict[int, float] = field(default_factory=dict)  # read: channel index -> test time
    outcome: dict[int, int] = field(default_factory=dict)  # control: channel index -> result
    unsupported: bool = False
    data: bytes = b""  # download
    reset: bool = False  # the answer was cut by a reset


def _frame(code: int, body: bytes) -> bytes:
    """A well-formed feedback frame with any code (dwLen counts the whole frame)."""
    head = HEADER.pack(TOKEN, 20 + len(body) + 2, code, 0)
    raw = head + body
    return raw + struct.pack("<H", checksum(raw))


class ThreadedServer:
    """Two listening ports (control and file) on 127.0.0.1, one thread per connection.

    Subclasses answer each request frame in :meth:`_answer` (False closes the connection).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections = 0
        self._open: set[int] = set()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
        self.port = self._listeners[0].getsockname()[1]
        self.file_port = self._listeners[1].getsockname()[1]
        for listener in self._listeners:
            listener.settimeout(0.05)
            thread = threading.Thread(target=self._accept, args=(listener,), name="scripted-accept")
            thread.start()
            self._threads.append(thread)

    # -- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        self._stopping.set()
        with self.lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by its client
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(5)
        for listener in self._listeners:
            listener.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_connections(self) -> int:
        with self.lock:
            return len(self._open)

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
                number = self.connections
                self._open.add(number)
                self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock, number), name="scripted")
            thread.start()
            with self.lock:
                self._threads.append(thread)

    def _answer(
        self, sock: socket.socket, number: int, frame: bytes, state: dict[str, Any]
    ) -> bool:
        raise NotImplementedError

    def _serve(self, sock: socket.socket, number: int) -> None:
        reader = FrameReader("server")
        state: dict[str, Any] = {"barrier_code": None}
        try:
            while not self._stopping.is_set():
                data = sock.recv(1 << 16)
                if not data:
                    return
                reader.feed(data)
                while (frame := reader.next_frame()) is not None:
                    if not self._answer(sock, number, frame, state):
                        return
        except (OSError, ProtocolError):
            return
        finally:
            with self.lock:
                self._open.discard(number)
                if sock in self._sockets:
                    self._sockets.remove(sock)
            sock.close()


class HandlerServer(ThreadedServer):
    """Answers each request with ``handler(request, connection_number, server)``: the bytes to
    send (several frames, or a part of one), or None to close the connection. Every request
    is kept in :attr:`requests` as ``(connection_number, request)``."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.requests: list[tuple[int, Any]] = []
        super().__init__()

    def _answer(
        self, sock: socket.socket, number: int, frame: bytes, state: dict[str, Any]
    ) -> bool:
        request = decode(frame)
        with self.lock:
            self.requests.append((number, request))
        reply = self.handler(request, number, self)
        if reply is None:
            return False
        sock.sendall(reply)
        return True

    def push(self, data: bytes) -> None:
        """Send ``data`` on every open connection now (frames nobody asked for)."""
        with self.lock:
            sockets = list(self._sockets)
        for sock in sockets:
            sock.sendall(data)


class ScriptedServer(ThreadedServer):
    """The adversarial server (see the module docstring)."""

    def __init__(self, seed: int, *, channels: int = 4, fault_rate: float = 0.3) -> None:
        self.channels = channels
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.log: list[Entry] = []
        self.faults: Counter[str] = Counter()
        # Channel indexes the client's current call asks for, set by the test: a command sent
        # as one frame per channel makes every one of them a channel "asked for".
        self.call_channels: set[int] = set()
        self._serial = 0
        self._history: list[bytes] = []  # earlier answer frames, for late answers
        super().__init__()

    # -- answers ------------------------------------------------------------------------

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _answer(
        self, sock: socket.socket, number: int, frame: bytes, state: dict[str, Any]
    ) -> bool:
        request = decode(frame)
        if isinstance(request, LoginRequest):
            answer = encode(LoginFeedback(num_channels=self.channels, serial_number="SCRIPTED"))
            with self.lock:
                extra = self.rng.random() < self.fault_rate * 0.05
                if extra:
                    self.faults["duplicate_after_login"] += 1
            sock.sendall(answer + (answer if extra else b""))
            return True
        barrier_code = state["barrier_code"]
        state["barrier_code"] = None
        with self.lock:
            entry, answers, expected = self._build(request, frame, number)
            if entry.kind == "control" and isinstance(
                request, (StopRequest, ResumeRequest, AssignScheduleRequest)
            ):
                every = (
                    getattr(request, "stop_all", False)
                    or getattr(request, "resume_all", False)
                    or getattr(request, "assign_all", False)
                )
                if every:
                    state["barrier_code"] = type_code(answers)
            if barrier_code is not None:
                expected.add(barrier_code)
            # Any request may be answered with UNKNOWN_CODE_FEEDBACK naming it: a late one
            # naming this request's code is as indistinguishable as a late answer of its code.
            expected.add(CommandCode.UNKNOWN_COMMAND_FEEDBACK)
            fault = self._pick_fault(entry, request)
            before, after, instead = self._fault_frames(fault, entry, request, answers, expected)
            if fault == "unsupported":
                entry.unsupported = True
                entry.outcome = {}
                answers = [encode(UnknownCommandFeedback(HEADER.unpack_from(frame)[2]))]
            if fault == "reset_mid_frame":
                entry.reset = True
            self.log.append(entry)
            self._history.extend(answers)
            del self._history[:-40]
            delay = self.rng.random() * 0.001 if fault == "unsolicited" else 0.0
        if instead == "reset":
            cut = answers[0][: max(1, len(answers[0]) // 2)]
            sock.sendall(b"".join(before) + cut)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if fault == "unsolicited":
            sock.sendall(b"".join(before + answers))
            time.sleep(delay)
            sock.sendall(b"".join(after))
        else:
            sock.sendall(b"".join(before + answers + after))
        return True

    def _pick_fault(self, entry: Entry, request: Any) -> str | None:
        if self.rng.random() >= self.fault_rate:
            return None
        choices = list(FAULTS_BEFORE + FAULTS_AFTER + ("reset_mid_frame",))
        if entry.kind == "control":
            choices.append("unsupported")
        if entry.kind != "download":
            choices.remove("other_transfer")
        if entry.index < 0 or entry.kind == "download":
            choices.remove("other_channel")  # every channel is asked for: none is "other"
        fault = self.rng.choice(choices)
        self.faults[fault] += 1
        return fault

    def _fault_frames(
        self,
        fault: str | None,
        entry: Entry,
        request: Any,
        answers: list[bytes],
        expected: set[int],
    ) -> tuple[list[bytes], list[bytes], str | None]:
        rng = self.rng
        if fault is None or fault == "unsupported":
            return [], [], None
        if fault == "reset_mid_frame":
            return [], [], "reset"
        if fault == "duplicate":
            return [], [answers[-1]], None
        if fault == "unsolicited":
            return [], [encode(GetSerialNumberFeedback(serial_number=rng.randrange(1 << 30)))], None
        if fault == "late_answer":
            late = [f for f in self._history if HEADER.unpack_from(f)[2] not in expected]
            if late:
                return [rng.choice(late)], [], None
            return [encode(JumpFeedback(channel_index=0))], [], None
        if fault == "corrupt_frame":
            bad = bytearray(answers[0])
            position = rng.randrange(20, len(bad) - 2)
            bad[position] ^= 0x5A
            return [bytes(bad)], [], None
        if fault == "unknown_code":
            return [_frame(UNLISTED_CODE, bytes(rng.randrange(256) for _ in range(12)))], [], None
        if fault == "unknown_code_feedback":
            return [encode(UnknownCommandFeedback(NEVER_SENT_REQUEST))], [], None
        if fault == "garbage_bytes":
            return [bytes(rng.randrange(1, 0xDD) for _ in range(rng.randrange(1, 40)))], [], None
        if fault == "other_command":
            return [encode(JumpFeedback(channel_index=rng.randrange(self.channels)))], [], None
        if fault == "other_channel":
            asked = set(_asked(request, self.channels)) | self.call_channels
            others = [i for i in range(self.channels) if i not in asked]
            if not others:  # every channel is asked for: none is "other"
                return [encode(JumpFeedback(channel_index=0))], [], None
            other = rng.choice(others)
            code = HEADER.unpack_from(answers[0])[2]
            message = decode(answers[0])
            if isinstance(message, ChannelInfoFeedback):
                fake = encode(
                    ChannelInfoFeedback((ChannelRecord(channel_index=other, test_time_s=-1.0),))
                )
            else:
                fake = encode(type(message)(channel_index=other, result=0))  # type: ignore[call-arg]
            assert HEADER.unpack_from(fake)[2] == code
            return [fake], [], None
        if fault == "other_transfer":
            stale = decode(answers[0])
            assert isinstance(stale, DownloadFileFeedback)
            data = b"spliced"
            fake = DownloadFileFeedback(
                download_time=stale.download_time - 1.0,
                package_count=stale.package_count,
                package_index=0,
                md5=hashlib.md5(data).digest(),
                data=data,
            )
            return [encode(fake)], [], None
        raise AssertionError(fault)

    def _build(
        self, request: Any, frame: bytes, number: int
    ) -> tuple[Entry, list[bytes], set[int]]:
        rng = self.rng
        n = self.channels
        if isinstance(request, ChannelInfoRequest):
            index = request.channel_index
            wanted = list(range(n)) if index < 0 else [index]
            base = float(self._next_serial() * 1000)
            values = {i: base + i for i in wanted}
            records = [ChannelRecord(channel_index=i, test_time_s=values[i]) for i in wanted]
            if index < 0 and rng.random() < 0.3:  # v1.1 style: one feedback per channel
                answers = [encode(ChannelInfoFeedback((record,))) for record in records]
            else:
                answers = [encode(ChannelInfoFeedback(tuple(records)))]
            entry = Entry("read", frame, number, index=index, values=values)
            return entry, answers, {ChannelInfoFeedback.CODE}
        if isinstance(request, DownloadFileRequest):
            count = rng.randrange(1, 4)
            serial = self._next_serial()
            chunks = [f"{request.path}#{serial}#{i}|".encode() * 3 for i in range(count)]
            answers = [
                encode(
                    DownloadFileFeedback(
                        download_time=request.download_time,
                        package_count=count,
                        package_index=i,
                        md5=hashlib.md5(chunk).digest(),
                        data=chunk,
                    )
                )
                for i, chunk in enumerate(chunks)
            ]
            entry = Entry("download", frame, number, data=b"".join(chunks))
            return entry, answers, {DownloadFileFeedback.CODE}
        feedback_cls, indexes, every = _control_shape(request, n)
        entry = Entry("control", frame, number, index=-1 if every else indexes[0])
        if every and rng.random() < 0.5:  # once per request
            result = 0 if rng.random() < 0.7 else 0x12
            entry.outcome = dict.fromkeys(range(n), result)
            echo = -1 if rng.random() < 0.5 else 0
            answers = [encode(feedback_cls(channel_index=echo, result=result))]
        else:
            entry.outcome = {i: (0 if rng.random() < 0.7 else 0x12) for i in indexes}
            answers = [
                encode(feedback_cls(channel_index=i, result=r)) for i, r in entry.outcome.items()
            ]
        return entry, answers, {feedback_cls.CODE}


def type_code(answers: list[bytes]) -> int:
    return int(HEADER.unpack_from(answers[0])[2])


def _asked(request: Any, n: int) -> list[int]:
    if isinstance(request, ChannelInfoRequest):
        return list(range(n)) if request.channel_index < 0 else [request.channel_index]
    return _control_shape(request, n)[1]


def _control_shape(request: Any, n: int) -> tuple[type[ResultFeedback], list[int], bool]:
    if isinstance(request, StopRequest):
        every = request.stop_all
        return StopFeedback, list(range(n)) if every else [request.channel_index], every
    if isinstance(request, ResumeRequest):
        every = request.resume_all
        return ResumeFeedback, list(range(n)) if every else [request.channel_index], every
    if isinstance(request, AssignScheduleRequest):
        every = request.assign_all
        return AssignScheduleFeedback, list(range(n)) if every else [request.channel_index], every
    if isinstance(request, StartRequest):
        return StartFeedback, list(request.channel_indexes), False
    if isinstance(request, SetMetaVariableRequest):
        return SetMetaVariableFeedback, [request.channel_index], False
    raise AssertionError(f"the scripted server does not answer {type(request).__name__}")

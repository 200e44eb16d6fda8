"""Randomized, seeded adversarial test: both clients against a scripted misbehaving server.

Thousands of short command sequences (one- and all-channel reads, control commands, downloads)
run against :class:`ScriptedServer`, which injects duplicates, late answers, corrupted frames,
unknown codes, other channels' and other commands' feedbacks, unsolicited frames and resets in
the middle of a frame. After every call the test checks, from what the server recorded:

* a returned value is the answer to a request made during that very call (every answer is
  unique), of the kind and channel asked for;
* a control call reports the outcome the server chose, or raises with ``outcome_unknown=True``;
  a failure without ``outcome_unknown`` means no control frame reached the server;
* no control frame is written twice;
* nothing is left buffered on the client's connections (bounded memory).

The counts of injected faults and of outcomes are printed (run with ``-s`` to see them).
``PYCTI_SLOW=1`` also runs the long variant (marked ``slow``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import random
import time
from collections import Counter
from typing import Any

import pytest

from pyctiarbin import (
    AsyncCyclerClient,
    BatchRejected,
    CommandRejected,
    CtiConnectionError,
    CtiError,
    CyclerClient,
    UnsupportedCommand,
)
from pyctiarbin.client.session import ConnectionState, LinkCore

from .scripted_server import Entry, ScriptedServer

CHANNELS = 4
SEED = 20261130


def plan(rng: random.Random, serial: int) -> tuple[str, tuple[Any, ...], int]:
    """A random call: method name, arguments, and how many control frames it writes."""
    channel = rng.randrange(1, CHANNELS + 1)
    roll = rng.random()
    if roll < 0.22:
        return "read_channel", (channel,), 0
    if roll < 0.36:
        return "read_channels", (), 0
    if roll < 0.46:
        return "files.download", (f"Work/F{serial}.txt",), 0
    if roll < 0.56:
        pair = rng.sample(range(1, CHANNELS + 1), 2)
        target: Any = rng.choice([channel, "all", pair])
        return "stop", (target,), len(pair) if isinstance(target, list) else 1
    if roll < 0.66:
        return "resume", (rng.choice([channel, "all"]),), 1
    if roll < 0.78:
        return "assign_schedule", (rng.choice([channel, "all"]), f"S{serial}.sdx"), 1
    if roll < 0.88:
        chosen = sorted(rng.sample(range(1, CHANNELS + 1), rng.randrange(1, 3)))
        return "start", (chosen, f"T{serial}"), 1
    return "set_meta_variable", (channel, 1, float(serial)), 1


def channels_of(name: str, args: tuple[Any, ...]) -> set[int]:
    """The channel indexes a call asks for."""
    if name in ("read_channels", "files.download"):
        return set()
    target = args[0]
    if target == "all":
        return set(range(CHANNELS))
    if isinstance(target, list):
        return {channel - 1 for channel in target}
    return {target - 1}


class Checker:
    """Checks every call against the server's record, and counts outcomes."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.outcomes: Counter[str] = Counter()
        self.unique_frames: set[bytes] = set()
        self.calls = 0

    def window(self, start: int) -> list[Entry]:
        with self.server.lock:
            return list(self.server.log[start:])

    def check(
        self,
        name: str,
        args: tuple[Any, ...],
        frames: int,
        result: Any,
        error: BaseException | None,
        window: list[Entry],
    ) -> None:
        self.calls += 1
        what = f"{name}{args!r}"
        controls = [e for e in window if e.kind == "control"]
        if frames == 0:
            assert not controls, f"{what} wrote a control frame"
            if error is not None:
                assert isinstance(error, CtiConnectionError), f"{what} raised {error!r}"
                assert not error.outcome_unknown
                self.outcomes["read failed after retries"] += 1
                return
            self._check_read(what, name, args, result, window)
            self.outcomes["read answered"] += 1
            return
        self._check_control_frames(what, frames, controls)
        if error is None:
            assert len(controls) == frames, f"{what} succeeded with {len(controls)} frames"
            for entry in controls:
                assert not entry.unsupported and not entry.reset
                assert set(entry.outcome.values()) == {0}, f"{what}: {entry.outcome} taken as ok"
            self.outcomes["control succeeded"] += 1
        elif isinstance(error, UnsupportedCommand):
            assert any(e.unsupported for e in controls), f"{what}: {error}"
            assert error.outcome_unknown == (frames > 1)
            self.outcomes["control unsupported"] += 1
        elif isinstance(error, BatchRejected):
            merged = {i: r for e in controls for i, r in e.outcome.items()}
            assert len(controls) == frames and not any(e.unsupported for e in controls)
            assert set(error.rejections) == {i + 1 for i, r in merged.items() if r}, what
            assert error.succeeded == sorted(i + 1 for i, r in merged.items() if not r), what
            self.outcomes["control refused (batch)"] += 1
        elif isinstance(error, CommandRejected):
            assert len(controls) == frames == 1, what
            entry = controls[0]
            if error.channel is None:  # an all-channels request answered once
                assert set(entry.outcome.values()) == {error.code}, what
            else:
                assert entry.outcome == {error.channel - 1: error.code}, what
            self.outcomes["control refused"] += 1
        elif isinstance(error, CtiError) and error.outcome_unknown:
            self.outcomes["control outcome unknown"] += 1
        elif isinstance(error, CtiConnectionError):
            assert not controls, f"{what}: {error!r} but the server received {len(controls)}"
            self.outcomes["control not sent"] += 1
        else:
            raise AssertionError(f"{what} raised {error!r}")

    def _check_control_frames(self, what: str, frames: int, controls: list[Entry]) -> None:
        written = [e.frame for e in controls]
        assert len(written) <= frames, f"{what}: {len(written)} control frames, at most {frames}"
        assert len(set(written)) == len(written), f"{what}: a control frame was written twice"
        for frame in written:
            if what.startswith(("assign_schedule", "start", "set_meta_variable")):
                assert frame not in self.unique_frames, f"{what}: frame written again"
                self.unique_frames.add(frame)

    def _check_read(
        self, what: str, name: str, args: tuple[Any, ...], result: Any, window: list[Entry]
    ) -> None:
        if name == "files.download":
            assert any(e.kind == "download" and e.data == result for e in window), (
                f"{what} returned bytes that no download of this call answered"
            )
            return
        if name == "read_channel":
            index = args[0] - 1
            assert result.channel_index == index, what
            assert any(
                e.kind == "read" and e.index == index and e.values == {index: result.test_time_s}
                for e in window
            ), f"{what} returned test time {result.test_time_s}, not this call's answer"
            return
        got = {status.channel_index: status.test_time_s for status in result}
        assert any(e.kind == "read" and e.index == -1 and e.values == got for e in window), (
            f"{what} returned {got}, not this call's answer"
        )


def _links(client: CyclerClient | AsyncCyclerClient) -> list[LinkCore]:
    return [client._link, client.files._link]


def _connected(client: CyclerClient | AsyncCyclerClient) -> int:
    return sum(link.state is ConnectionState.CONNECTED for link in _links(client))


def _check_nothing_buffered(client: CyclerClient | AsyncCyclerClient, what: str) -> None:
    for link in _links(client):
        assert not link._inbox, f"after {what}: {len(link._inbox)} messages left in the inbox"
        assert link._reader.buffered == 0, f"after {what}: {link._reader.buffered} bytes buffered"


def _settled(server: ScriptedServer, client: CyclerClient | AsyncCyclerClient) -> bool:
    # Every connection the client closed has been read to its end by the server.
    return server.open_connections() <= _connected(client)


def _options(server: ScriptedServer) -> dict[str, Any]:
    return {
        "username": "adversary",
        "password": "pa55",
        "file_port": server.file_port,
        "timeout": 5.0,
        "retries": 6,
        "backoff_s": 0.0,
    }


async def _awaited(value: Any) -> Any:
    """The result of a client call: awaited for the asyncio client, as it is for the other."""
    return await value if inspect.isawaitable(value) else value


def run_client(kind: str, sequences: int, seed: int) -> dict[str, Any]:
    """One adversarial run on the ``kind`` ("sync" or "async") client: the same calls and
    checks for both. The blocking client is called in place: it blocks the event loop, which
    has nothing else to run."""
    rng = random.Random(seed)

    async def main(server: ScriptedServer) -> Checker:
        checker = Checker(server)
        client_class = AsyncCyclerClient if kind == "async" else CyclerClient
        client = client_class("127.0.0.1", server.port, **_options(server))
        try:
            for _ in range(sequences):
                for _ in range(rng.randrange(1, 4)):
                    name, args, frames = plan(rng, checker.calls)
                    start = len(server.log)
                    server.call_channels = channels_of(name, args)
                    target = client.files if name.startswith("files.") else client
                    method = getattr(target, name.split(".")[-1])
                    result: Any = None
                    error: BaseException | None = None
                    try:
                        result = await _awaited(method(*args))
                    except CtiError as exc:
                        error = exc
                    deadline = time.monotonic() + 5
                    while not _settled(server, client):
                        assert time.monotonic() < deadline, "the server never saw a close"
                        await asyncio.sleep(0.0002)
                    checker.check(name, args, frames, result, error, checker.window(start))
                    _check_nothing_buffered(client, name)
                    protocol = getattr(client._link, "_protocol", None)
                    if protocol is not None:
                        # An idle connection keeps nothing it was not asked for.
                        assert protocol.unclaimed_bytes == 0 or not protocol.transport.is_reading()
        finally:
            await _awaited(client.close())
        return checker

    with ScriptedServer(seed, channels=CHANNELS) as server:
        checker = asyncio.run(main(server))
        return {
            "faults": dict(server.faults),
            "outcomes": dict(checker.outcomes),
            "calls": checker.calls,
            "connections": server.connections,
        }


def _report(kind: str, sequences: int, seed: int, figures: dict[str, Any]) -> None:
    print(f"\nadversarial {kind}: {sequences} sequences, seed {seed}: " + json.dumps(figures))
    faults = figures["faults"]
    outcomes = figures["outcomes"]
    # The run must actually have exercised what it claims to.
    for fault in (
        "duplicate",
        "late_answer",
        "corrupt_frame",
        "unknown_code",
        "other_channel",
        "other_command",
        "other_transfer",
        "unsolicited",
        "reset_mid_frame",
        "garbage_bytes",
        "unsupported",
    ):
        assert faults.get(fault, 0) > 0, f"no {fault} was injected"
    for outcome in (
        "read answered",
        "control succeeded",
        "control outcome unknown",
        "control refused",
        "control unsupported",
    ):
        assert outcomes.get(outcome, 0) > 0, f"no call ended with {outcome}"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_adversarial_server(kind: str) -> None:
    sequences = 2000
    seed = SEED + (kind == "async")
    figures = run_client(kind, sequences, seed)
    _report(kind, sequences, seed, figures)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("PYCTI_SLOW"), reason="long run: set PYCTI_SLOW=1")
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_adversarial_server_long(kind: str) -> None:
    sequences = 30000
    seed = SEED + 100 + (kind == "async")
    figures = run_client(kind, sequences, seed)
    _report(kind, sequences, seed, figures)

"""The dispatch table: every command has a refusal that goes on the wire, and the port, login and
control rules pick the reason.

A request that cannot be decoded reaches its refusal as None, so each refusal is built here from
None and encoded, then decoded again as a feedback (never a request, never an error).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctiarbin.protocol import CommandCode, Message, decode, encode
from pyctiarbin.simulator.budget import MemoryBudget
from pyctiarbin.simulator.config import SimulatorConfig
from pyctiarbin.simulator.connection import ANY_PORT, CONTROL_PORT, FILE_PORT, Connection
from pyctiarbin.simulator.cycler import Cycler
from pyctiarbin.simulator.dispatch import Dispatcher
from pyctiarbin.simulator.files import FileService, prepare_root
from pyctiarbin.simulator.handlers import CommandHandlers
from pyctiarbin.simulator.refusals import HANDLER_ERROR, NO_CONTROL, NOT_LOGGED_IN, WRONG_PORT


@pytest.fixture
def dispatcher(tmp_path: Path) -> Iterator[Dispatcher]:
    prepare_root(tmp_path)
    config = SimulatorConfig(channels=2, serial_number="SIM00001")
    cycler = Cycler(config, tmp_path)
    files = FileService(
        tmp_path,
        in_use=cycler.schedule_in_use,
        chunk_bytes=config.download_chunk_bytes,
        max_file_bytes=config.max_file_bytes,
        budget=MemoryBudget(config.memory_budget_bytes),
    )
    yield Dispatcher(CommandHandlers(config, cycler, files, {}))


def connection(port: str, *, logged_in: bool = False, may_control: bool = False) -> Connection:
    # The dispatcher never writes: replies go back to the listener, which owns the writer.
    return Connection(
        number=1,
        port=port,
        peer="test",
        local_ip=b"\x7f\x00\x00\x01",
        writer=None,  # type: ignore[arg-type]
        logged_in=logged_in,
        may_control=may_control,
    )


def test_every_refusal_goes_on_the_wire(dispatcher: Dispatcher) -> None:
    assert len(dispatcher.handlers) >= 50
    for handler in dispatcher.handlers.values():
        for why in (NOT_LOGGED_IN, NO_CONTROL, WRONG_PORT, HANDLER_ERROR):
            replies = handler.refuse(None, why)
            assert replies, (handler.name, why)
            for reply in replies:
                frame = reply if isinstance(reply, bytes) else encode(reply)
                feedback = decode(frame)
                assert isinstance(feedback, Message) and not feedback.IS_REQUEST


def test_rules_pick_the_reason(dispatcher: Dispatcher) -> None:
    handlers = dispatcher.handlers
    start = handlers[int(CommandCode.START)]
    login = handlers[int(CommandCode.LOGIN)]
    browse = next(h for h in handlers.values() if h.name == "browse")
    assert (start.port, start.needs_login, start.needs_control) == (CONTROL_PORT, True, True)
    assert (login.port, login.needs_login) == (ANY_PORT, False)
    assert browse.port == ANY_PORT and not browse.needs_control

    refusal = dispatcher.refusal
    assert refusal(connection(CONTROL_PORT), login) == ""
    assert refusal(connection(CONTROL_PORT), start) == NOT_LOGGED_IN
    assert refusal(connection(CONTROL_PORT, logged_in=True), start) == NO_CONTROL
    assert refusal(connection(CONTROL_PORT, logged_in=True, may_control=True), start) == ""
    assert refusal(connection(FILE_PORT, logged_in=True, may_control=True), start) == WRONG_PORT
    # File commands: no LOGIN needed on the file port (unless configured), one on the control port.
    assert refusal(connection(FILE_PORT), browse) == ""
    assert refusal(connection(CONTROL_PORT), browse) == NOT_LOGGED_IN

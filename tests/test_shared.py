"""The facts and rules declared once in pyctiarbin.shared."""

from __future__ import annotations

import math

import pytest

from pyctiarbin.config import DEFAULT_FILE_PORT as CONFIG_FILE_PORT
from pyctiarbin.config import DEFAULT_PORT as CONFIG_PORT
from pyctiarbin.shared import (
    DEFAULT_FILE_PORT,
    DEFAULT_PORT,
    Backoff,
    ChannelSpecError,
    ClosedOnExit,
    parse_channel_spec,
)


def test_the_ports_are_those_of_mits_and_the_lab_config_reexports_them() -> None:
    assert (DEFAULT_PORT, DEFAULT_FILE_PORT) == (9031, 9032)
    assert (CONFIG_PORT, CONFIG_FILE_PORT) == (DEFAULT_PORT, DEFAULT_FILE_PORT)


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert Backoff(1.0).delay(4) == 8.0
    assert Backoff(1.0, 5.0).delay(10_000) == 5.0
    # No OverflowError however long a cycler stays away.
    assert math.isfinite(Backoff(1.0).delay(10_000))


@pytest.mark.parametrize(("first_s", "max_s"), [(-1.0, 1.0), (2.0, 1.0)])
def test_backoff_rejects_a_negative_start_or_a_cap_below_it(first_s: float, max_s: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(first_s, max_s)


def test_backoff_attempts_start_at_one() -> None:
    with pytest.raises(ValueError, match="numbered from 1"):
        Backoff(1.0).delay(0)


@pytest.mark.parametrize(
    ("spec", "channels"),
    [
        ("1-3,7", {1, 2, 3, 7}),
        (" 4 , 2 ", {2, 4}),
        (5, {5}),
        ([1, "3-4"], {1, 3, 4}),
    ],
)
def test_channel_specs(spec: object, channels: set[int]) -> None:
    assert parse_channel_spec(spec) == frozenset(channels)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("x", "rule r: expected a channel number, a range A-B or a list A,B,C (got 'x')"),
        ("3-1", "rule r: channels start at 1 and a range goes upwards (got '3-1')"),
        ("0-2", "rule r: channels are numbered from 1 (got 0)"),
        ("", "rule r: no channel given"),
        (2.5, "rule r: expected a list of channels"),
        (True, "rule r: expected a list of channels"),
    ],
)
def test_bad_channel_specs_name_what_is_wrong(spec: object, message: str) -> None:
    with pytest.raises(ChannelSpecError) as caught:
        parse_channel_spec(spec, what="rule r")
    assert str(caught.value).startswith(message)


class _Resource(ClosedOnExit):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_closed_on_exit_gives_the_object_and_closes_it_once_even_on_an_error() -> None:
    resource = _Resource()
    with resource as entered:
        assert entered is resource and resource.closed == 0
    assert resource.closed == 1

    failing = _Resource()
    with pytest.raises(RuntimeError, match="boom"), failing:
        raise RuntimeError("boom")
    assert failing.closed == 1

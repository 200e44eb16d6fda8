"""Test boundaries: which test each reading belongs to, and when tests start, stop and finish.

A *test* on a channel is identified by its schedule, test name and barcode, and runs while its
test time keeps growing. :class:`BoundaryTracker` compares each reading of a channel with the
previous one and

* gives the reading the id of its test (``test_id``, a random 63-bit integer, so that several
  logger processes never collide), or None when the channel has no test;
* emits a :class:`TestEvent` when a test begins (``started``, ``observed``, ``changed``), stops,
  finishes, pauses or resumes;
* emits the :class:`TestRecord` of every test whose row changed.

The tracker can be seeded with the last state a database holds (:class:`ChannelTrack`), so a
test that was running when the logger stopped keeps its id when the logger comes back.
"""

from __future__ import annotations

import enum
import operator
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..client.status import ChannelStatus
from ..protocol import ChannelTable, StatusCode
from .readings import CyclerInfo, Reading, TestEvent, TestEventKind, TestRecord

__all__ = ["BoundaryTracker", "ChannelTrack", "Phase", "phase_of", "status_from_label"]

_LABEL_TO_STATUS = {member.label: member for member in StatusCode}
#: Test time may jitter by this much (s) between reads without meaning a new test.
_TIME_BACK_TOLERANCE_S = 0.5
#: What the tracker compares from one reading of a channel to the next.
_IDENTITY_FIELDS = ("channel_index", "status", "schedule", "test_name", "barcode", "test_time_s")
_identity = operator.attrgetter(*_IDENTITY_FIELDS)


class Phase(enum.Enum):
    """What a channel's status means for its test."""

    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"


def phase_of(status: StatusCode) -> Phase:
    """The phase of a status: running states, pause, finished; everything else is stopped."""
    if status.is_running:
        return Phase.RUNNING
    if status in (StatusCode.PAUSE, StatusCode.GO_PAUSE):
        return Phase.PAUSED
    if status is StatusCode.FINISHED:
        return Phase.FINISHED
    return Phase.STOPPED


def status_from_label(label: str) -> StatusCode:
    """The status whose MITS label is ``label`` (as stored in the database).

    Raises:
        ValueError: for a label that is no status.
    """
    status = _LABEL_TO_STATUS.get(label)
    if status is None:
        if label.startswith("UNKNOWN_"):
            return StatusCode(int(label.removeprefix("UNKNOWN_")))
        raise ValueError(f"{label!r} is not a channel status label")
    return status


_PHASE_EVENT = {
    Phase.RUNNING: TestEventKind.RESUMED,
    Phase.PAUSED: TestEventKind.PAUSED,
    Phase.FINISHED: TestEventKind.FINISHED,
    Phase.STOPPED: TestEventKind.STOPPED,
}


@dataclass(slots=True)
class ChannelTrack:
    """What the tracker remembers about one channel: its test and its last reading."""

    test: TestRecord | None
    status: StatusCode
    schedule: str
    test_name: str
    barcode: str
    test_time_s: float


def new_test_id() -> int:
    """A random, positive 63-bit test id."""
    return secrets.randbits(63) or 1


class BoundaryTracker:
    """Assigns test ids and finds test boundaries for the channels of one cycler."""

    def __init__(self, cycler: str, restore: Mapping[int, ChannelTrack] | None = None) -> None:
        self.cycler = cycler
        self._tracks: dict[int, ChannelTrack] = dict(restore or {})

    @property
    def tracks(self) -> Mapping[int, ChannelTrack]:
        """The current state per channel (1-based)."""
        return self._tracks

    def process(
        self, info: CyclerInfo, unix_time_s: float, statuses: Iterable[ChannelStatus]
    ) -> tuple[list[Reading], list[TestEvent], list[TestRecord]]:
        """Turn one poll into readings, plus the boundaries found and the test rows changed."""
        statuses = list(statuses)
        test_ids, events, tests = self._assign(
            info, unix_time_s, map(_identity, statuses), statuses.__getitem__
        )
        cycler = self.cycler
        readings = [
            Reading(cycler, unix_time_s, test_id, status)
            for test_id, status in zip(test_ids, statuses, strict=True)
        ]
        return readings, events, tests

    def process_table(
        self, info: CyclerInfo, unix_time_s: float, table: ChannelTable
    ) -> tuple[list[int | None], list[TestEvent], list[TestRecord]]:
        """:meth:`process` for a poll read as columns: the test id of each row (no reading
        objects; a channel's status is built only when its test changes)."""

        def status_at(row: int) -> ChannelStatus:
            return table.take((row,)).records(ChannelStatus)[0]

        identities = zip(*(table[name] for name in _IDENTITY_FIELDS), strict=True)
        return self._assign(info, unix_time_s, identities, status_at)

    def _assign(
        self,
        info: CyclerInfo,
        unix_time_s: float,
        identities: Iterable[tuple[Any, ...]],
        status_at: Callable[[int], ChannelStatus],
    ) -> tuple[list[int | None], list[TestEvent], list[TestRecord]]:
        """The test id of each channel of a poll (``identities``: :data:`_IDENTITY_FIELDS` of
        each; ``status_at(row)``: the whole status of a row, for a change)."""
        test_ids: list[int | None] = []
        events: list[TestEvent] = []
        tests: dict[int, TestRecord] = {}
        tracks = self._tracks
        for row, (index, status, schedule, test_name, barcode, test_time_s) in enumerate(
            identities
        ):
            channel = index + 1
            track = tracks.get(channel)
            if (
                track is not None
                and track.status is status
                and track.test_name == test_name
                and track.schedule == schedule
                and track.barcode == barcode
                and test_time_s >= track.test_time_s - _TIME_BACK_TOLERANCE_S
            ):
                # The common case: nothing but the readings changed.
                track.test_time_s = test_time_s
                test = track.test
                test_ids.append(test.test_id if test is not None and test.ended_s is None else None)
            else:
                test_ids.append(
                    self._transition(
                        info, channel, unix_time_s, status_at(row), track, events, tests
                    )
                )
        return test_ids, events, list(tests.values())

    def _transition(
        self,
        info: CyclerInfo,
        channel: int,
        now_s: float,
        status: ChannelStatus,
        track: ChannelTrack | None,
        events: list[TestEvent],
        tests: dict[int, TestRecord],
    ) -> int | None:
        """Update the channel's track after a change; the test id of this reading.

        A reading belongs to a test while the test runs or is paused, and the reading that
        shows it stopped or finished does too; later readings of a stopped channel belong to
        no test until it runs again.
        """
        phase = phase_of(status.status)
        active = phase in (Phase.RUNNING, Phase.PAUSED)
        label = status.status.label
        previous_label = track.status.label if track is not None else ""
        identity = (status.schedule, status.test_name, status.barcode)

        def event(kind: TestEventKind, test: TestRecord | None) -> None:
            events.append(
                TestEvent(
                    self.cycler,
                    channel,
                    now_s,
                    kind,
                    test.test_id if test is not None else None,
                    label,
                    previous_label,
                    status.schedule,
                    status.test_name,
                    status.barcode,
                    status.test_time_s,
                )
            )

        def begin(kind: TestEventKind) -> TestRecord:
            test = TestRecord(
                test_id=new_test_id(),
                cycler=self.cycler,
                channel=channel,
                serial_number=info.serial_number,
                schedule=status.schedule,
                test_name=status.test_name,
                barcode=status.barcode,
                first_seen_s=now_s,
                start_s=now_s - max(status.test_time_s, 0.0),
                last_status=label,
                ended_s=None if active else now_s,
                end_status=None if active else label,
            )
            tests[test.test_id] = test
            event(kind, test)
            return test

        def close(old: TestRecord) -> TestRecord:
            closed = replace(old, ended_s=now_s, end_status=previous_label or label)
            tests[closed.test_id] = closed
            return closed

        old = track.test if track is not None else None
        old_open = old is not None and old.ended_s is None
        # The test this reading belongs to (None: none), and the test the track keeps.
        belongs: TestRecord | None = None
        keep: TestRecord | None = old
        if track is None:
            if active:
                belongs = keep = begin(TestEventKind.OBSERVED)
        elif old is None or (
            not old_open and identity != (old.schedule, old.test_name, old.barcode)
        ):
            # No test under way: one starts when the channel runs, or when a new name shows up
            # (a whole test ran between two polls).
            new_identity = identity != (track.schedule, track.test_name, track.barcode)
            if active or (new_identity and status.test_name):
                belongs = keep = begin(TestEventKind.STARTED)
        elif identity != (old.schedule, old.test_name, old.barcode):
            close(old)
            if active or status.test_name:
                belongs = keep = begin(TestEventKind.CHANGED)
            else:
                keep = None
                event(TestEventKind.STOPPED, None)
        elif status.test_time_s < track.test_time_s - _TIME_BACK_TOLERANCE_S and (
            active or old_open
        ):
            # Same name, but the test clock went back: the test was started again.
            if old_open:
                close(old)
            belongs = keep = begin(TestEventKind.STARTED)
        else:
            old_phase = phase_of(track.status)
            if old_open and not active:
                # Running or paused -> stopped or finished: this reading ends the test.
                belongs = keep = replace(old, last_status=label, ended_s=now_s, end_status=label)
                tests[keep.test_id] = keep
                event(_PHASE_EVENT[phase], keep)
            elif active and (not old_open or old_phase is not phase):
                # Stopped -> running (resumed), or running <-> paused.
                belongs = keep = replace(old, last_status=label, ended_s=None, end_status=None)
                tests[keep.test_id] = keep
                event(_PHASE_EVENT[phase], keep)
            elif old_open:
                belongs = old
        self._tracks[channel] = ChannelTrack(
            keep,
            status.status,
            status.schedule,
            status.test_name,
            status.barcode,
            status.test_time_s,
        )
        return belongs.test_id if belongs is not None else None

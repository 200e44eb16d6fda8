"""Test boundaries: which test a reading belongs to, and the events at starts, stops, ..."""

from __future__ import annotations

from pyctiarbin.client.status import ChannelStatus
from pyctiarbin.logger import BoundaryTracker, ChannelTrack, CyclerInfo, TestEventKind
from pyctiarbin.protocol import StatusCode

INFO = CyclerInfo("bay1", "127.0.0.1", 9031, "SN42", 2)


def status(
    code: StatusCode,
    test_name: str = "",
    test_time_s: float = 0.0,
    schedule: str = "Cycle.sdx",
    channel: int = 1,
) -> ChannelStatus:
    return ChannelStatus(
        channel_index=channel - 1,
        status=code,
        schedule=schedule,
        test_name=test_name,
        test_time_s=test_time_s,
    )


class Run:
    """Feeds one channel's statuses through a tracker, one poll per second."""

    def __init__(self, tracker: BoundaryTracker | None = None) -> None:
        self.tracker = tracker or BoundaryTracker("bay1")
        self.now = 1000.0

    def poll(self, *statuses: ChannelStatus) -> tuple[list[int | None], list[TestEventKind]]:
        self.now += 1.0
        readings, events, self.tests = self.tracker.process(INFO, self.now, statuses)
        assert all(r.unix_time_s == self.now and r.cycler == "bay1" for r in readings)
        return [r.test_id for r in readings], [e.kind for e in events]


def test_idle_channel_has_no_test_and_no_event() -> None:
    run = Run()
    assert run.poll(status(StatusCode.IDLE)) == ([None], [])
    assert run.poll(status(StatusCode.IDLE)) == ([None], [])


def test_a_test_finished_before_logging_began_is_not_a_test() -> None:
    run = Run()
    assert run.poll(status(StatusCode.FINISHED, "old test", 50.0)) == ([None], [])
    assert run.poll(status(StatusCode.FINISHED, "old test", 50.0)) == ([None], [])


def test_a_test_under_way_when_logging_begins_is_observed() -> None:
    run = Run()
    ids, kinds = run.poll(status(StatusCode.CHARGE, "t1", 120.0))
    assert kinds == [TestEventKind.OBSERVED]
    (test_id,) = ids
    assert test_id is not None
    (test,) = run.tests
    assert (test.test_name, test.serial_number, test.channel) == ("t1", "SN42", 1)
    assert test.start_s == run.now - 120.0
    assert test.ended_s is None
    assert run.poll(status(StatusCode.CHARGE, "t1", 121.0)) == ([test_id], [])
    # A status change within the running phase (charge -> rest) is no boundary.
    assert run.poll(status(StatusCode.REST, "t1", 122.0)) == ([test_id], [])


def test_start_stop_resume_finish_keep_one_test() -> None:
    run = Run()
    run.poll(status(StatusCode.IDLE))
    ids, kinds = run.poll(status(StatusCode.CHARGE, "t1", 0.5))
    assert kinds == [TestEventKind.STARTED]
    test_id = ids[0]
    assert test_id is not None

    # The reading that shows the stop belongs to the test; the next ones do not.
    assert run.poll(status(StatusCode.IDLE, "t1", 2.0)) == ([test_id], [TestEventKind.STOPPED])
    (stopped,) = run.tests
    assert stopped.ended_s == run.now and stopped.end_status == "Idle"
    assert run.poll(status(StatusCode.IDLE, "t1", 2.0)) == ([None], [])

    # Resumed: same name, the test clock goes on -> same test.
    ids, kinds = run.poll(status(StatusCode.DISCHARGE, "t1", 2.5))
    assert (ids, kinds) == ([test_id], [TestEventKind.RESUMED])
    assert run.tests[0].ended_s is None

    assert run.poll(status(StatusCode.PAUSE, "t1", 3.0)) == ([test_id], [TestEventKind.PAUSED])
    assert run.poll(status(StatusCode.PAUSE, "t1", 3.0)) == ([test_id], [])
    assert run.poll(status(StatusCode.REST, "t1", 3.5)) == ([test_id], [TestEventKind.RESUMED])
    assert run.poll(status(StatusCode.FINISHED, "t1", 9.0)) == (
        [test_id],
        [TestEventKind.FINISHED],
    )
    assert run.tests[0].end_status == "Finished"
    assert run.poll(status(StatusCode.FINISHED, "t1", 9.0)) == ([None], [])


def test_restart_with_the_same_name_is_a_new_test() -> None:
    run = Run()
    first = run.poll(status(StatusCode.CHARGE, "t1", 100.0))[0][0]
    ids, kinds = run.poll(status(StatusCode.CHARGE, "t1", 1.0))
    assert kinds == [TestEventKind.STARTED]
    assert ids[0] not in (None, first)
    # The old test was closed in the same poll.
    ended = {t.test_id: t.ended_s for t in run.tests}
    assert first is not None and ids[0] is not None
    assert ended[first] == run.now and ended[ids[0]] is None


def test_new_name_or_schedule_changes_the_test() -> None:
    run = Run()
    first = run.poll(status(StatusCode.CHARGE, "t1", 10.0))[0][0]
    ids, kinds = run.poll(status(StatusCode.CHARGE, "t2", 11.0))
    assert kinds == [TestEventKind.CHANGED] and ids[0] not in (None, first)
    ids2, kinds2 = run.poll(status(StatusCode.CHARGE, "t2", 12.0, schedule="Other.sdx"))
    assert kinds2 == [TestEventKind.CHANGED] and ids2[0] not in (None, ids[0])


def test_a_whole_test_between_two_polls_is_recorded() -> None:
    run = Run()
    run.poll(status(StatusCode.IDLE, "", 0.0))
    ids, kinds = run.poll(status(StatusCode.FINISHED, "quick", 0.8))
    assert kinds == [TestEventKind.STARTED] and ids[0] is not None
    assert run.tests[0].ended_s == run.now


def test_channels_are_independent() -> None:
    run = Run()
    ids, kinds = run.poll(
        status(StatusCode.CHARGE, "a", 5.0, channel=1), status(StatusCode.IDLE, channel=2)
    )
    assert ids[1] is None and ids[0] is not None
    assert kinds == [TestEventKind.OBSERVED]


def test_a_restored_track_keeps_the_test_id() -> None:
    run = Run()
    test_id = run.poll(status(StatusCode.CHARGE, "t1", 10.0))[0][0]
    saved = run.tracker.tracks[1]
    restored = Run(
        BoundaryTracker(
            "bay1",
            {
                1: ChannelTrack(
                    saved.test,
                    saved.status,
                    saved.schedule,
                    saved.test_name,
                    saved.barcode,
                    saved.test_time_s,
                )
            },
        )
    )
    # The logger was away for a while; the test went on.
    assert restored.poll(status(StatusCode.CHARGE, "t1", 500.0)) == ([test_id], [])
    # It stopped while the logger was away.
    fresh = Run(BoundaryTracker("bay1", {1: saved}))
    assert fresh.poll(status(StatusCode.IDLE, "t1", 600.0)) == (
        [test_id],
        [TestEventKind.STOPPED],
    )

"""Result codes carry their meaning and the exception they raise; errors derive from them."""

from __future__ import annotations

import pickle

import pytest

from pyctiarbin import errors
from pyctiarbin.protocol import messages
from pyctiarbin.protocol.codes import JumpResult, ResultCode, StartResult, StopResult

COMMAND_TABLES = [table for table in ResultCode.__subclasses__() if table.command is not None]
NAMED_RESULTS = [
    (table, result) for table in COMMAND_TABLES for result in table if result.value != 0
]


@pytest.mark.parametrize(
    ("table", "result"), NAMED_RESULTS, ids=[f"{t.__name__}.{r.name}" for t, r in NAMED_RESULTS]
)
def test_for_code_builds_the_class_the_result_names(
    table: type[ResultCode], result: ResultCode
) -> None:
    assert table.command is not None
    error = errors.CommandRejected.for_code(table.command, result, result.meaning, channel=2)
    assert type(error) is result.rejection
    assert (error.command, error.code, error.meaning, error.channel) == (
        table.command,
        result.value,
        result.meaning,
        2,
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and (copy.command, copy.code, copy.channel) == (
        table.command,
        result.value,
        2,
    )


def test_the_same_code_raises_what_each_command_means_by_it() -> None:
    assert StartResult.CHANNEL_RUNNING == StopResult.CHANNEL_NOT_RUNNING == 0x12
    start = errors.CommandRejected.for_code("start", 0x12, "running")
    stop = errors.CommandRejected.for_code("stop", 0x12, "not running")
    assert type(start) is errors.ChannelRunning and type(stop) is errors.ChannelNotRunning
    # Undocumented codes, and commands without a table, give the base class.
    assert type(errors.CommandRejected.for_code("start", 0x7F, "?")) is errors.CommandRejected
    assert type(errors.CommandRejected.for_code("browse", 0x10, "?")) is errors.CommandRejected


def test_every_rejection_subclass_is_named_by_a_result_code() -> None:
    named = {result.rejection for _table, result in NAMED_RESULTS}
    by_code = {
        cls
        for cls in errors.CommandRejected.__subclasses__()
        if cls not in (errors.FileOperationFailed, errors.BatchRejected)
    }
    assert named - {errors.CommandRejected} == by_code
    assert errors.NoScheduleAssigned.codes == {("start", 0x15), ("resume", 0x15), ("jump", 0x15)}
    assert JumpResult.NO_SCHEDULE_ASSIGNED.rejection is errors.NoScheduleAssigned


def test_feedbacks_take_their_command_name_from_their_result_table() -> None:
    tables = {cls: getattr(cls, "RESULTS", None) for cls in messages.message_classes()}
    with_command = {cls: table for cls, table in tables.items() if table in COMMAND_TABLES}
    assert len(with_command) == 19
    for cls, table in with_command.items():
        assert table is not None and table.command == cls.COMMAND
    assert messages.StartExVlsFeedback.COMMAND == "start"
    assert messages.UpdateMetaVariablesExFeedback.COMMAND == "update_meta_variables"


def test_a_second_class_for_a_named_code_is_refused() -> None:
    with pytest.raises(ValueError, match="already raises ChannelRunning"):
        errors.NotAllowedToControl.register("start", 0x12)
    assert errors.CommandRejected.for_code("start", 0x12, "x").__class__ is errors.ChannelRunning

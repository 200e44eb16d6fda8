"""The exception tree of pyctiarbin.

Everything the library raises on purpose derives from :class:`CtiError`::

    CtiError
    ├── ProtocolError            malformed bytes on the wire
    │   ├── ChecksumError
    │   ├── LengthError
    │   ├── TokenError
    │   ├── UnknownCommandError
    │   └── TruncatedFrameError
    ├── EncodeError (ValueError) a message cannot be built from the values given
    ├── CtiConnectionError       refused, lost, closed (knows if a control outcome is unknown)
    ├── CtiTimeout (TimeoutError)
    ├── LoginError
    ├── UnsupportedCommand       the server does not know the command (feedback 0xBB111111)
    └── CommandRejected          the cycler answered with a failure result code
        └── one subclass per result code users branch on (registered by code)

This module has no I/O; the protocol layer imports it.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BatchRejected",
    "ChannelNotRunning",
    "ChannelRunning",
    "ChecksumError",
    "CommandRejected",
    "CtiConnectionError",
    "CtiError",
    "CtiTimeout",
    "EncodeError",
    "FileOperationFailed",
    "LengthError",
    "LoginError",
    "MetaCodeNotFound",
    "NoScheduleAssigned",
    "NotAllowedToControl",
    "ProtocolError",
    "ScheduleNotFound",
    "TokenError",
    "TooFrequent",
    "TruncatedFrameError",
    "UnexpectedFeedback",
    "UnknownChannel",
    "UnknownCommandError",
    "UnsupportedCommand",
]


class CtiError(Exception):
    """Root of every error pyctiarbin raises on purpose.

    ``outcome_unknown`` is true when a control command (one that changes the cycler's state)
    was sent but its answer was lost: the cycler may or may not have carried it out. Such a
    command is never sent again automatically.
    """

    outcome_unknown: bool = False


class ProtocolError(CtiError):
    """Bytes that are not a well-formed CTI message."""


class ChecksumError(ProtocolError):
    """The 16-bit checksum at the end of a frame does not match its bytes."""


class LengthError(ProtocolError):
    """The dwLen field disagrees with the frame, or exceeds the maximum frame size."""


class TokenError(ProtocolError):
    """The frame does not start with the 0x11DDDDDDDDDDDDDD token."""


class UnknownCommandError(ProtocolError):
    """The command code is not one that the documents define."""


class TruncatedFrameError(ProtocolError):
    """The frame ends before the fields its layout (or its counts) require."""


class EncodeError(CtiError, ValueError):
    """A message cannot be encoded from the given values; the message names the field."""


class CtiConnectionError(CtiError, ConnectionError):
    """The connection to the cycler was refused, lost or closed.

    ``outcome_unknown`` is true when a control command had been sent and no answer came
    back: the cycler may or may not have carried it out, and it was not sent again.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


class UnexpectedFeedback(CtiError):
    """The cycler answered, but not with what the command needs (e.g. a read of channel 5
    answered without channel 5)."""


class CtiTimeout(CtiError, TimeoutError):
    """No answer within the timeout. Also a builtin :class:`TimeoutError`.

    ``outcome_unknown`` is true for a control command: the cycler may have acted on it.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


class LoginError(CtiError):
    """The cycler refused the login (bad credentials, no CTI permission, already logged in)."""

    def __init__(self, message: str, *, result: int | None = None) -> None:
        super().__init__(message)
        self.result = result


class UnsupportedCommand(CtiError):
    """The server answered a command with UNKNOWN_CODE_FEEDBACK (0xBB111111): it does not
    support that command (an older MITS, or a server that implements only part of CTI).

    ``command`` is the library's name of the operation, ``request_code`` the dwCmd the server
    named. The cycler did not carry that request out, and the connection stays usable. When
    the command had sent several frames (one per channel), the connection is replaced and, for
    a control command, ``outcome_unknown`` is true: what became of the other frames is not known.
    """

    def __init__(self, command: str, request_code: int, request_name: str) -> None:
        super().__init__(
            f"{command}: the server does not support {request_name} (code 0x{request_code:08X})"
        )
        self.command = command
        self.request_code = request_code
        self.request_name = request_name

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.command, self.request_code, self.request_name))


class CommandRejected(CtiError):
    """The cycler answered a command with a failure result code.

    Attributes: ``command`` (name), ``channel`` (1-based, or None for cycler-wide commands),
    ``code`` (the documented result code) and ``meaning`` (its documented meaning).

    Subclasses register the result codes they stand for with ``codes = {(command, code), ...}``;
    :meth:`for_code` picks the most specific class for a given command and code.
    """

    codes: ClassVar[frozenset[tuple[str, int]]] = frozenset()
    _registry: ClassVar[dict[tuple[str, int], type[CommandRejected]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for key in cls.codes:
            CommandRejected._registry[key] = cls

    def __init__(
        self, command: str, code: int, meaning: str, *, channel: int | None = None
    ) -> None:
        where = f" on channel {channel}" if channel is not None else ""
        super().__init__(f"{command} refused{where}: {meaning} (code 0x{code:02X})")
        self.command = command
        self.code = code
        self.meaning = meaning
        self.channel = channel

    @classmethod
    def for_code(
        cls, command: str, code: int, meaning: str, *, channel: int | None = None
    ) -> CommandRejected:
        """Build the most specific rejection for ``command``'s result ``code``."""
        klass = CommandRejected._registry.get((command, code), CommandRejected)
        return klass(command, code, meaning, channel=channel)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.command, self.code, self.meaning), {"channel": self.channel})


class UnknownChannel(CommandRejected):
    """The channel index does not exist on this cycler."""

    codes = frozenset(
        {
            ("assign_schedule", 0x10),
            ("start", 0x10),
            ("continue", 0x10),
            ("resume", 0x10),
            ("stop", 0x10),
            ("jump", 0x10),
        }
    )


class NotAllowedToControl(CommandRejected):
    """Someone uses the monitor window, or this CTI user may not control channels."""

    codes = frozenset(
        {
            ("assign_schedule", 0x11),
            ("start", 0x11),
            ("continue", 0x11),
            ("resume", 0x11),
            ("stop", 0x11),
            ("jump", 0x11),
        }
    )


class ChannelRunning(CommandRejected):
    """The channel is running, so the command cannot be carried out."""

    codes = frozenset(
        {("assign_schedule", 0x14), ("start", 0x12), ("resume", 0x12), ("continue", 0x12)}
    )


class NoScheduleAssigned(CommandRejected):
    """No schedule is assigned to the channel."""

    codes = frozenset({("start", 0x15), ("resume", 0x15), ("jump", 0x15)})


class ScheduleNotFound(CommandRejected):
    """The schedule file does not exist in the cycler's work directory."""

    codes = frozenset({("assign_schedule", 0x13)})


class ChannelNotRunning(CommandRejected):
    """The channel is not running (set MV, stop or jump on an idle channel)."""

    codes = frozenset(
        {
            ("set_meta_variable", 0x12),
            ("update_meta_variables", 0x12),
            ("stop", 0x12),
            ("jump", 0x12),
        }
    )


class MetaCodeNotFound(CommandRejected):
    """The meta-variable code does not exist."""

    codes = frozenset(
        {
            ("set_meta_variable", 0x11),
            ("update_meta_variables", 0x11),
            ("set_meta_variable", 0x13),
            ("update_meta_variables", 0x13),
        }
    )


class TooFrequent(CommandRejected):
    """Meta variables were updated faster than the cycler allows (every 200 ms)."""

    codes = frozenset({("update_meta_variables", 0x14)})


class FileOperationFailed(CommandRejected):
    """A file command (browse, download, upload, new, delete) failed on the cycler."""


class BatchRejected(CommandRejected):
    """Some channels of a multi-channel command refused it; the others carried it out.

    ``rejections`` maps each refusing channel (1-based) to its :class:`CommandRejected`;
    ``succeeded`` lists the channels that accepted. ``code``/``meaning`` are the first refusal's.
    """

    def __init__(
        self,
        command: str,
        rejections: dict[int, CommandRejected],
        succeeded: list[int],
    ) -> None:
        first = rejections[min(rejections)]
        CtiError.__init__(
            self,
            f"{command} refused on {len(rejections)} of {len(rejections) + len(succeeded)} "
            "channels: "
            + "; ".join(f"channel {ch}: {r.meaning}" for ch, r in sorted(rejections.items())),
        )
        self.command = command
        self.code = first.code
        self.meaning = first.meaning
        self.channel = None
        self.rejections = rejections
        self.succeeded = succeeded

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.command, self.rejections, self.succeeded))

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
        └── one subclass per result code users branch on (named at the code)

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

    Which subclass stands for which code is declared once, at the result code in
    :mod:`pyctiarbin.protocol.codes` (``CHANNEL_RUNNING = 0x12, "...", ChannelRunning``); that
    module registers it here (importing :mod:`pyctiarbin` imports it). :meth:`for_code`
    picks the most specific class for a given command and code; a subclass's ``codes`` lists
    the ``(command, code)`` pairs it stands for.
    """

    codes: ClassVar[frozenset[tuple[str, int]]] = frozenset()
    _registry: ClassVar[dict[tuple[str, int], type[CommandRejected]]] = {}

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
    def register(cls, command: str, code: int) -> None:
        """Make :meth:`for_code` build this class for ``command``'s result ``code``.

        Raises ValueError if another class already stands for that pair.
        """
        known = CommandRejected._registry.setdefault((command, code), cls)
        if known is not cls:
            raise ValueError(f"{command} code 0x{code:02X} already raises {known.__name__}")
        cls.codes = cls.codes | {(command, code)}

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


class NotAllowedToControl(CommandRejected):
    """Someone uses the monitor window, or this CTI user may not control channels."""


class ChannelRunning(CommandRejected):
    """The channel is running, so the command cannot be carried out."""


class NoScheduleAssigned(CommandRejected):
    """No schedule is assigned to the channel."""


class ScheduleNotFound(CommandRejected):
    """The schedule file does not exist in the cycler's work directory."""


class ChannelNotRunning(CommandRejected):
    """The channel is not running (set MV, stop or jump on an idle channel)."""


class MetaCodeNotFound(CommandRejected):
    """The meta-variable code does not exist."""


class TooFrequent(CommandRejected):
    """Meta variables were updated faster than the cycler allows (every 200 ms)."""


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

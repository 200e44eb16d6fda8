"""``CyclerInterface``: pycti-arbin 0.0.13's cycler-level API, on top of :class:`CyclerClient`.

A script written for pycti-arbin 0.0.13 runs unchanged: same constructor (configuration
dictionary, ``.env`` path), same methods, same return values and dictionary keys, and the same
channel addressing on the wire. Underneath, every request goes through :class:`CyclerClient`:
frames are read whole, a dropped connection is reopened *and logged in again*, and answers are
matched to requests. As 0.0.13 accepted them, frames whose checksum field is zero and whose
real checksum follows the frame (the shape 0.0.13's own ``ArbinSpoofer`` sends) are accepted,
with a warning logged once per connection; the client's ``lenient_checksum`` mode.

The seed's conventions are kept in this layer only: a failed read returns ``{}`` and a failed
command returns ``False``, after an error is logged through :mod:`logging` (logger
``pyctiarbin.interfaces``). The mapping from the client's exceptions to those values is made in
one place, :meth:`CyclerInterface._seed_result`.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values
from pydantic import BaseModel

from ..client import CyclerClient
from ..credentials import ENV_PASSWORD, ENV_USERNAME
from ..errors import CommandRejected, CtiConnectionError, CtiError, EncodeError, LoginError
from ..protocol import TOKEN, CommandCode, LoginFeedback
from ..protocol.framing import CHECKSUM, HEADER_SIZE
from ..shared import ClosedOnExit
from .config import CyclerInterfaceConfig
from .seed_dicts import channel_status_dict

__all__ = ["ConnectFailed", "CyclerInterface", "LoginFailed"]

logger = logging.getLogger("pyctiarbin.interfaces")

T = TypeVar("T")

# The text 0.0.13 put in the login dictionary's "result" for each LOGIN result code.
_LOGIN_RESULT_TEXT = {0: "should not see this", 1: "success", 2: "fail", 3: "already logged in"}

# Size of a GET_CHANNELS_INFO feedback around its records: header, channel count, checksum.
_CHANNEL_INFO_OVERHEAD = HEADER_SIZE + 4 + CHECKSUM.size


class ConnectFailed(CtiConnectionError, AssertionError):
    """The constructor could not reach the cycler (refused, timed out, no valid answer).

    Also an ``AssertionError``: pycti-arbin 0.0.13 asserted that the connection succeeded,
    so scripts that caught ``AssertionError`` keep working. The underlying error is the
    ``__cause__``.
    """


class LoginFailed(LoginError, AssertionError):
    """The cycler refused the login (wrong user name or password, no CTI permission, already
    logged in).

    Also an ``AssertionError``, which is what pycti-arbin 0.0.13 raised; ``result`` is the
    LOGIN result code.
    """


def _load_credentials(env_path: str | os.PathLike[str] | None) -> tuple[str, str]:
    """The user name and password, looked up the way 0.0.13 did.

    The ``.env`` file at ``env_path`` (default: ``.env`` in the working directory) wins over
    the environment, as 0.0.13's ``load_dotenv(..., override=True)`` made it; a missing file is
    not an error. Unlike 0.0.13, ``os.environ`` is left untouched.

    Raises ValueError naming the variable that is missing or empty (never a value).
    """
    path = Path(env_path) if env_path is not None else Path.cwd() / ".env"
    logger.info("loading CTI credentials from %s", path)
    from_file = dotenv_values(path) if path.is_file() else {}
    found: list[str] = []
    for key in (ENV_USERNAME, ENV_PASSWORD):
        value = from_file.get(key)
        if value is None:
            value = os.environ.get(key)
        if not value:
            raise ValueError(f"{key} is not set: neither in {path} nor in the environment")
        found.append(value)
    return found[0], found[1]


def login_feedback_dict(feedback: LoginFeedback) -> dict[str, Any]:
    """The login feedback as the dictionary 0.0.13's ``get_login_feedback()`` returned.

    Keys: ``header``, ``msg_length``, ``command_code``, ``extended_command_code``, ``result``
    (``"success"``, ``"fail"``, ``"already logged in"``), ``ip_address``, ``cycler_sn``,
    ``note``, ``nick_name``, ``location``, ``emergency_contact``, ``other_comments``, ``email``,
    ``call``, ``itac``, ``version``, ``allow_control``, ``num_channels``, ``user_type``,
    ``picture_length``.
    """
    return {
        "header": TOKEN,
        "msg_length": 8678 + len(feedback.picture),
        "command_code": int(CommandCode.LOGIN_FEEDBACK),
        "extended_command_code": 0,
        "result": _LOGIN_RESULT_TEXT.get(feedback.result, f"unknown result {feedback.result}"),
        # 0.0.13 turned the four opaque address bytes into text this way; kept so the value
        # compares equal to what existing scripts stored.
        "ip_address": feedback.ip_address.decode("utf-8", errors="ignore").rstrip("\x00"),
        "cycler_sn": feedback.serial_number,
        "note": feedback.note,
        "nick_name": feedback.nickname,
        "location": feedback.location,
        "emergency_contact": feedback.emergency_contact,
        "other_comments": feedback.other_comments,
        "email": feedback.email,
        "call": feedback.call,
        "itac": feedback.itac,
        "version": feedback.version,
        "allow_control": feedback.allow_control,
        "num_channels": feedback.num_channels,
        "user_type": feedback.user_type,
        "picture_length": len(feedback.picture),
    }


class CyclerInterface(ClosedOnExit):
    """Read the status of any channel of an Arbin cycler: pycti-arbin 0.0.13's
    ``CyclerInterface``, drop-in.

    ``CyclerInterface(config, env_path=None)`` connects to ``config["ip_address"]`` /
    ``config["port"]`` and logs in at once, with ``ARBIN_CTI_USERNAME`` and
    ``ARBIN_CTI_PASSWORD`` taken from the ``.env`` file at ``env_path`` (default: ``.env`` in
    the working directory when the interface is created), or from the environment for a
    variable the file does not set. ``config`` is a dictionary with the keys of
    :class:`CyclerInterfaceConfig` (or an instance of it).

    Channel addressing, exactly as in 0.0.13: ``read_channel_status(channel)`` asks for wire
    index ``channel - 1``, so channel 5 reads the record whose ``channel_index`` is 4 (the
    dictionary's ``"channel"`` value is that 0-based index). When the cycler answers with every
    channel (MITS 10), the record of the requested channel is returned, not the first one.

    Beyond 0.0.13: :meth:`close` and use as a context manager; the connection is also closed
    when the interface is garbage-collected. :attr:`client` is the underlying
    :class:`CyclerClient` for the modern API.

    Raises (from the constructor):
        pydantic.ValidationError: (a ``ValueError``) for a bad configuration.
        ValueError: when the user name or password is not set (or is too long for CTI),
            ``timeout_s`` is not positive, or ``port`` is not a TCP port.
        ConnectFailed: (also ``CtiConnectionError`` and ``AssertionError``) when the cycler
            cannot be reached or does not answer the login.
        LoginFailed: (also ``LoginError`` and ``AssertionError``) when it refuses the login.
    """

    #: The model that checks the configuration dictionary.
    _config_model: type[CyclerInterfaceConfig] = CyclerInterfaceConfig

    def __init__(
        self,
        config: Mapping[str, Any] | BaseModel,
        env_path: str | os.PathLike[str] | None = None,
    ) -> None:
        values = config.model_dump() if isinstance(config, BaseModel) else config
        self._cycler_config = self._config_model(**values)
        username, password = _load_credentials(env_path)
        settings = self._cycler_config
        self._client = CyclerClient(
            settings.ip_address,
            settings.port,
            username=username,
            password=password,
            timeout=settings.timeout_s,
            connect_timeout=settings.timeout_s,
            # 0.0.13 never verified checksums, and its ArbinSpoofer zeroes the checksum field
            # (the real one follows the frame): accepted here, with a warning per connection.
            lenient_checksum=True,
        )
        # 0.0.13 never closed its socket; this closes ours once the interface is garbage.
        self._finalizer = weakref.finalize(self, self._client.close)
        where = f"{settings.ip_address}:{settings.port}"
        try:
            info = self._client.connect()
        except EncodeError:
            # A user name or password too long for its wire field: a ValueError, not sent.
            self._finalizer()
            raise
        except LoginError as exc:
            logger.error("login to the cycler at %s failed: %s", where, exc)
            self._finalizer()
            raise LoginFailed(str(exc), result=exc.result) from exc
        except CtiError as exc:
            logger.error("cannot connect to the cycler at %s: %s", where, exc)
            self._finalizer()
            raise ConnectFailed(f"cannot connect to the cycler at {where}: {exc}") from exc
        self._login_feedback = login_feedback_dict(info)
        self._num_channels = info.num_channels
        logger.info(
            "logged in to cycler %s at %s (%d channels)",
            info.serial_number,
            where,
            info.num_channels,
        )

    def __repr__(self) -> str:
        settings = self._cycler_config
        return f"<{type(self).__name__} {settings.ip_address}:{settings.port}>"

    @property
    def client(self) -> CyclerClient:
        """The :class:`CyclerClient` underneath, for everything 0.0.13 could not do."""
        return self._client

    def close(self) -> None:
        """Close the connection to the cycler (0.0.13 had no such method). Idempotent."""
        self._finalizer()

    def get_num_channels(self) -> int:
        """The number of channels on the cycler, from the login feedback."""
        return self._num_channels

    def get_login_feedback(self) -> dict[str, Any]:
        """The login feedback, as a dictionary with 0.0.13's keys (see
        :func:`login_feedback_dict`); ``"result"`` is ``"success"`` for a live interface."""
        return dict(self._login_feedback)

    def read_channel_status(self, channel: int) -> dict[str, Any]:
        """Read one channel's status: 0.0.13's dictionary (see
        :func:`~.seed_dicts.channel_status_dict`: ``"status"``, ``"voltage_v"``,
        ``"current_a"``, ``"channel"`` = the 0-based wire index, ...).

        Wire addressing, as in 0.0.13: ``channel`` N is requested as index N-1. Channel 0 is
        let through as 0.0.13 let it through: it becomes index -1, which asks for every
        channel, and the first record of the answer (channel 1's) is returned, with
        ``"number_of_channels"`` and ``"msg_length"`` describing the whole answer; a warning
        is logged.

        Returns ``{}`` after logging an error when ``channel`` is negative or above
        :meth:`get_num_channels`, or when the read fails (timeout, lost connection, malformed
        or missing answer), as 0.0.13 did.

        Raises:
            TypeError: if ``channel`` cannot be compared with a number (as 0.0.13 did).
        """
        if channel > self._num_channels or channel < 0:
            logger.error(
                "invalid channel %r: this cycler has channels 1..%d", channel, self._num_channels
            )
            return {}
        if channel == 0:
            logger.warning(
                "channel 0 is not a channel; as pycti-arbin 0.0.13 did, it is sent as index -1 "
                "(every channel) and the first record is returned"
            )
            return self._seed_result(
                f"reading the status of channel {channel}", self._read_all_first, {}
            )
        return self._seed_result(
            f"reading the status of channel {channel}",
            lambda: channel_status_dict(self._client.read_channel(channel)),
            {},
        )

    def _read_all_first(self) -> dict[str, Any]:
        records = [channel_status_dict(status) for status in self._client.read_channels()]
        if not records:
            raise CtiConnectionError("the cycler answered a read of every channel with no record")
        first = records[0]
        first["number_of_channels"] = len(records)
        first["msg_length"] = _CHANNEL_INFO_OVERHEAD + sum(
            record["msg_length"] - _CHANNEL_INFO_OVERHEAD for record in records
        )
        return first

    def _seed_result(self, action: str, call: Callable[[], T], failed: T) -> T:
        """Run ``call`` and return its result; on failure log an error and return ``failed``.

        The one place where the client's exceptions become 0.0.13's return values: a refusal
        by the cycler (:class:`CommandRejected`, with its documented code and meaning), a
        ``ValueError`` (including :class:`EncodeError`) for an argument the client refused
        before sending anything, and any other :class:`CtiError` (timeout, lost connection,
        malformed answer, login refused on reconnection; logged with a traceback, and with a
        warning when the outcome of a control command is unknown). Anything else is a bug and
        propagates.
        """
        try:
            return call()
        except CommandRejected as exc:
            logger.error("%s: the cycler refused: %s", action, exc)
        except ValueError as exc:  # also EncodeError: a value that does not fit its wire field
            logger.error("%s: not sent: %s", action, exc)
        except CtiError as exc:
            logger.error("%s failed: %s", action, exc, exc_info=exc)
            if exc.outcome_unknown:
                logger.warning(
                    "%s: the command was sent but its answer was lost; the cycler may have "
                    "carried it out (check the channel before retrying)",
                    action,
                )
        return failed

"""The configuration dictionaries of the seed-compatible interfaces, validated by pydantic.

The keys, types and defaults are those of pycti-arbin 0.0.13, so a configuration dictionary
written for it validates here unchanged::

    {"ip_address": "127.0.0.1", "port": 9031, "timeout_s": 3, "msg_buffer_size": 4096}
    {"channel": 1, "test_name": "t1", "schedule_name": "Rest.sdx", "ip_address": ..., ...}

Unknown keys are ignored, as they were in 0.0.13 (its models used pydantic's default), so one
dictionary can serve both interfaces.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = ["ChannelInterfaceConfig", "CyclerInterfaceConfig"]


class CyclerInterfaceConfig(BaseModel):
    """Configuration of :class:`~pyctiarbin.interfaces.CyclerInterface`.

    Fields:
        ip_address: host name or IP address of the computer that runs MITS.
        port: the CTI control port (9031 on a standard MITS installation).
        timeout_s: seconds to wait for the cycler; default 3.0. Here it bounds a whole
            command (connect, or one request and its answer), not each socket call.
        msg_buffer_size: default 4096. Accepted and validated for compatibility; it has no
            effect, because frames are read whole whatever their size.

    Raises:
        pydantic.ValidationError: (a ``ValueError``) when a key is missing or a value has the
            wrong type.
    """

    model_config = ConfigDict(extra="ignore")

    ip_address: str
    port: int
    timeout_s: float = 3.0
    msg_buffer_size: int = 4096


class ChannelInterfaceConfig(CyclerInterfaceConfig):
    """Configuration of :class:`~pyctiarbin.interfaces.ChannelInterface`: the cycler keys of
    :class:`CyclerInterfaceConfig` plus

    Fields:
        channel: the channel number as MITS displays it, 1 or more. (0.0.13 stored it minus
            one inside its model; this model keeps the number given and exposes the wire index
            as :attr:`channel_index`.)
        test_name: the test name used by ``start_test``; default None (start_test then fails).
        schedule_name: the schedule file assigned by ``assign_schedule``/``start_test``, e.g.
            ``"Rest.sdx"``; default None (both then fail).

    Raises:
        pydantic.ValidationError: (a ``ValueError``) when ``channel`` is missing or below 1, or
            a value has the wrong type.
    """

    channel: int
    test_name: str | None = None
    schedule_name: str | None = None

    @field_validator("channel")
    @classmethod
    def _channel_is_positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"channel must be 1 or more (as MITS numbers channels), not {value}")
        return value

    @property
    def channel_index(self) -> int:
        """The 0-based index the channel has on the wire: ``channel - 1``."""
        return self.channel - 1

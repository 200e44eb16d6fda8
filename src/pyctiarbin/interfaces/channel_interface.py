"""``ChannelInterface``: pycti-arbin 0.0.13's channel-level API, on top of :class:`CyclerClient`.

One interface drives one channel, named in its configuration: read its status, assign the
configured schedule, start and stop the test, set meta variables MV_UD1..MV_UD16.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from ..protocol import MetaCode
from .config import ChannelInterfaceConfig
from .cycler_interface import CyclerInterface

__all__ = ["ChannelInterface"]

logger = logging.getLogger("pyctiarbin.interfaces")

# What 0.0.13 put in an ASSIGN_SCHEDULE request besides the channel and the schedule name.
_ASSIGN_CAPACITY_AH = 1.0
_ASSIGN_MV_UD = (1.0,) * 16

# set_meta_variable's numbering: 1..16 are MV_UD1..MV_UD16 (meta codes 52..55, 105..116).
_MV_META_CODES = {number: MetaCode[f"MV_UD{number}"] for number in range(1, 17)}


class ChannelInterface(CyclerInterface):
    """Drive one channel of an Arbin cycler: pycti-arbin 0.0.13's ``ChannelInterface``, drop-in.

    ``ChannelInterface(config, env_path=None)`` validates ``config`` as a
    :class:`ChannelInterfaceConfig` (the keys of :class:`CyclerInterfaceConfig` plus
    ``channel``, ``test_name``, ``schedule_name``), then connects and logs in exactly like
    :class:`CyclerInterface` (same ``.env`` handling, same exceptions).

    Channel addressing, exactly as in 0.0.13: ``config["channel"]`` is the number MITS shows,
    and every request about it (status read, assign, start, stop, set meta variable) carries
    wire index ``channel - 1``; ``"channel": 5`` drives the channel whose ``channel_index`` is 4.

    Return conventions, as in 0.0.13: :meth:`read_channel_status` returns a dictionary (``{}``
    on failure); the commands return ``True`` when the cycler reports success and ``False``
    otherwise, after logging an error that names the cycler's reason (documented result code
    and meaning) or the communication failure.

    Raises (from the constructor):
        pydantic.ValidationError: (a ``ValueError``) for a bad configuration, e.g. channel 0.
        ValueError, ConnectFailed, LoginFailed: as :class:`CyclerInterface`.
    """

    _config_model = ChannelInterfaceConfig

    @property
    def _channel_config(self) -> ChannelInterfaceConfig:
        # Built by CyclerInterface.__init__ from _config_model.
        return cast(ChannelInterfaceConfig, self._cycler_config)

    def __repr__(self) -> str:
        settings = self._channel_config
        return (
            f"<{type(self).__name__} {settings.ip_address}:{settings.port} "
            f"channel={settings.channel}>"
        )

    def read_channel_status(self) -> dict[str, Any]:  # type: ignore[override]
        """Read the configured channel's status (wire index ``channel - 1``).

        Returns 0.0.13's status dictionary (see :meth:`CyclerInterface.read_channel_status`),
        or ``{}`` after logging an error when the channel is above :meth:`get_num_channels` or
        the read fails.
        """
        return super().read_channel_status(self._channel_config.channel)

    def assign_schedule(self) -> bool:
        """Assign the configured ``schedule_name`` to the channel.

        Sends what 0.0.13 sent: this one channel (not "all"), test capacity 1.0 Ah, no barcode,
        and 1.0 as the initial value of MV_UD1..MV_UD16.

        Returns True on success; False (after logging an error) when ``schedule_name`` is not
        configured, the cycler refuses (schedule not found, channel running, ...), or the
        command fails. Raises nothing.
        """
        settings = self._channel_config
        channel, schedule = settings.channel, settings.schedule_name
        if not schedule:
            logger.error(
                "cannot assign a schedule to channel %d: schedule_name is not set", channel
            )
            return False

        def assign() -> bool:
            self.client.assign_schedule(
                channel, schedule, capacity_ah=_ASSIGN_CAPACITY_AH, mv_ud=_ASSIGN_MV_UD
            )
            return True

        done = self._seed_result(
            f"assigning schedule {schedule!r} to channel {channel}", assign, False
        )
        if done:
            logger.info("assigned schedule %r to channel %d", schedule, channel)
        return done

    def start_test(self) -> bool:
        """Assign the configured schedule, then start the test ``test_name`` on the channel.

        As in 0.0.13 the schedule is assigned first, every time, and the start is not sent
        when the assignment fails.

        Returns True on success; False (after logging an error) when ``test_name`` or
        ``schedule_name`` is not configured, the assignment or the start is refused (e.g. the
        channel is running), or a command fails. Raises nothing.
        """
        settings = self._channel_config
        channel, test_name = settings.channel, settings.test_name
        if not test_name:
            logger.error("cannot start a test on channel %d: test_name is not set", channel)
            return False
        if not self.assign_schedule():
            return False

        def start() -> bool:
            self.client.start(channel, test_name)
            return True

        action = (
            f"starting test {test_name!r} with schedule {settings.schedule_name!r} "
            f"on channel {channel}"
        )
        done = self._seed_result(action, start, False)
        if done:
            logger.info(
                "started test %r with schedule %r on channel %d",
                test_name,
                settings.schedule_name,
                channel,
            )
        return done

    def stop_test(self) -> bool:
        """Stop the test running on the channel.

        Returns True when the cycler reports success, which includes stopping a channel that
        runs nothing on cyclers (and the simulator) that accept it; False (after logging an
        error) when it refuses (e.g. a cycler that answers "channel is not running") or the
        command fails. Raises nothing.
        """
        channel = self._channel_config.channel

        def stop() -> bool:
            self.client.stop(channel)
            return True

        done = self._seed_result(f"stopping the test on channel {channel}", stop, False)
        if done:
            logger.info("stopped the test on channel %d", channel)
        return done

    def set_meta_variable(self, mv_num: int, mv_value: float) -> bool:
        """Set meta variable ``MV_UD<mv_num>`` to ``mv_value`` on the channel's running test.

        ``mv_num`` 1..16 stands for MV_UD1..MV_UD16, as in 0.0.13 (meta codes 52..55 and
        105..116).

        Returns True on success; False (after logging an error) when the cycler refuses (e.g.
        the channel is not running), the value cannot be sent (not a finite number, or out of
        the float32 range: nothing is sent), or the command fails.

        Raises:
            KeyError: if ``mv_num`` is not 1..16 (0.0.13 raised KeyError too).
        """
        try:
            meta_code = _MV_META_CODES[mv_num]
        except KeyError:
            raise KeyError(
                f"meta variable number {mv_num!r} does not exist; use 1..16 (MV_UD1..MV_UD16)"
            ) from None
        channel = self._channel_config.channel

        def set_value() -> bool:
            self.client.set_meta_variable(channel, meta_code, mv_value)
            return True

        done = self._seed_result(
            f"setting meta variable {mv_num} to {mv_value!r} on channel {channel}", set_value, False
        )
        if done:
            logger.info("set meta variable %d to %r on channel %d", mv_num, mv_value, channel)
        return done

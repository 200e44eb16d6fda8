"""``ArbinSpoofer``: pycti-arbin 0.0.13's test server API, backed by the simulator.

Drop-in for ``from pyctiarbin.arbinspoofer import ArbinSpoofer``::

    spoofer = ArbinSpoofer({"ip": "127.0.0.1", "port": 9031, "num_channels": 16})
    spoofer.start()
    spoofer.update_channel_status(5, {"voltage_v": 2.69, "current_a": 1.19})
    ...
    spoofer.stop()

Differences from the seed, all in the direction of a real MITS server: the answers are
well-formed frames (the seed's carry two stray bytes before the checksum); channels have state,
a cell and schedules; the port may be 0 (the bound port is :attr:`ArbinSpoofer.port`).

Like the seed's, the spoofer is lenient by default: any user name and password log in, an
unknown schedule name is assigned (as a rest schedule under that name), stopping an idle channel
succeeds, and meta variables may be set on a channel that is not running. Optional config keys:
``"strict": True`` makes it refuse those as the simulator does; ``"users"`` (a mapping or
``"USER:PASS,..."``) checks credentials; ``"speed"``, ``"root"``, ``"file_port"`` (default: no
file server) and ``"answer_all"`` are passed to :class:`~pyctiarbin.simulator.SimulatorConfig`.

Channels are addressed as in the seed: ``update_channel_status(channel, ...)`` takes the wire
channel index (0-based), the same number the seed's ``ChannelInfo`` request carries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..protocol import StatusCode
from ..shared import StartedOnEnter
from ..simulator import Simulator, SimulatorConfig
from ..simulator.config import parse_users

__all__ = ["SEED_READING_KEYS", "ArbinSpoofer"]

logger = logging.getLogger(__name__)

# Seed reading keys (the seed's channel-info template) -> channel-record attributes.
_FIELD_FOR_KEY = {
    "comm_failure": "comm_failure",
    "schedule": "schedule",
    "testname": "test_name",
    "exit_condition": "exit_condition",
    "step_and_cycle_format": "step_and_cycle_format",
    "barcode": "barcode",
    "can_config_name": "can_config_name",
    "smb_config_name": "smb_config_name",
    "master_channel": "master_channel",
    "test_time_s": "test_time_s",
    "step_time_s": "step_time_s",
    "voltage_v": "voltage_v",
    "current_a": "current_a",
    "power_w": "power_w",
    "charge_capacity_ah": "charge_capacity_ah",
    "discharge_capacity_ah": "discharge_capacity_ah",
    "charge_energy_wh": "charge_energy_wh",
    "discharge_energy_wh": "discharge_energy_wh",
    "internal_resistance_ohm": "internal_resistance_ohm",
    "dvdt_vbys": "dvdt_vbys",
    "acr_ohm": "acr_ohm",
    "aci_ohm": "aci_ohm",
    "aci_phase_degrees": "aci_phase_degrees",
}
# Keys the seed's template has that describe the frame rather than the channel: accepted,
# without effect (the counts follow the aux/BMS/SMB data actually sent).
_IGNORED_KEYS = frozenset(
    {
        "number_of_channels",
        "channel",
        "aux_voltage_count",
        "aux_temperature_count",
        "aux_pressure_count",
        "aux_external_count",
        "aux_flow_count",
        "aux_ao_count",
        "aux_di_count",
        "aux_do_count",
        "aux_humidity_count",
        "aux_safety_count",
        "aux_ph_count",
        "aux_density_count",
        "bms_count",
        "smb_count",
    }
)
#: Every key ``update_channel_status`` accepts (the seed's channel-info template keys).
SEED_READING_KEYS = frozenset(_FIELD_FOR_KEY) | _IGNORED_KEYS | {"status"}

_STATUS_BY_LABEL = {member.label.casefold(): member for member in StatusCode}


def _status(value: Any) -> StatusCode:
    if isinstance(value, str):
        member = _STATUS_BY_LABEL.get(value.strip().casefold())
        if member is None:
            raise ValueError(f"unknown status {value!r}")
        return member
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"status must be a status code or its name, not {value!r}")
    return StatusCode(value)


class ArbinSpoofer(StartedOnEnter):
    """pycti-arbin 0.0.13's ``ArbinSpoofer``, backed by :class:`~pyctiarbin.simulator.Simulator`.

    ``config`` needs ``ip``, ``port`` and ``num_channels`` (see the module docstring for the
    optional keys).

    Raises:
        KeyError: from the constructor, if a required key is missing.
        ValueError: from the constructor, if a value is out of range.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        users_option = config.get("users")
        if isinstance(users_option, str):
            users: Mapping[str, str] = parse_users(users_option)
        elif users_option is not None:
            users = dict(users_option)
        else:
            users = {"admin": "admin"}
        strict = bool(config.get("strict", False))
        self._config = SimulatorConfig(
            host=str(config["ip"]),
            port=int(config["port"]),
            file_port=config.get("file_port"),
            channels=int(config["num_channels"]),
            users=users,
            accept_any_login=users_option is None and not strict,
            lenient=not strict,
            speed=float(config.get("speed", 1.0)),
            root=config.get("root"),
            answer_all=bool(config.get("answer_all", False)),
        )
        self._simulator: Simulator | None = None
        self._stopped = False

    @property
    def simulator(self) -> Simulator:
        """The simulator behind the spoofer.

        Raises:
            RuntimeError: if the spoofer has not been started.
        """
        if self._simulator is None:
            raise RuntimeError("the spoofer has not been started")
        return self._simulator

    @property
    def port(self) -> int:
        """The bound control port (useful with ``port`` 0); like :attr:`simulator`, raises
        RuntimeError before :meth:`start`."""
        return self.simulator.port

    def start(self) -> None:
        """Start serving (in a background thread); returns once the port is bound.

        Raises:
            OSError: if the port cannot be bound.
            RuntimeError: if the spoofer was already started.
        """
        if self._simulator is not None:
            raise RuntimeError("the spoofer was already started")
        simulator = Simulator(self._config)
        simulator.start()
        self._simulator = simulator

    def stop(self) -> None:
        """Stop serving and close every connection (does nothing if not running)."""
        if self._simulator is not None and not self._stopped:
            self._stopped = True
            self._simulator.stop()

    def update_channel_status(self, channel: int, updated_readings: Mapping[str, Any]) -> bool:
        """Pin readings of ``channel`` (the 0-based wire index, as in the seed).

        Keys are the seed's channel-info keys (``voltage_v``, ``current_a``, ``status``,
        ``testname``, ...); ``status`` takes a status code or its MITS name (``"Charge"``).
        Returns False, and changes nothing, for a channel that does not exist, an unknown key or
        a value that cannot go on the wire; True otherwise.

        Raises:
            RuntimeError: if the spoofer has not been started.
        """
        simulator = self.simulator
        if not 0 <= channel < self._config.channels:
            logger.error("update_channel_status: channel %r does not exist", channel)
            return False
        unknown = set(updated_readings) - SEED_READING_KEYS
        if unknown:
            logger.error("update_channel_status: unknown keys %s", sorted(unknown))
            return False
        fields = {
            _FIELD_FOR_KEY[key]: value
            for key, value in updated_readings.items()
            if key in _FIELD_FOR_KEY
        }
        try:
            status = _status(updated_readings["status"]) if "status" in updated_readings else None
            if fields:
                simulator.cycler.set_fields(channel, fields)
        except (KeyError, ValueError) as exc:
            logger.error("update_channel_status: %s", exc)
            return False
        if status is not None:
            simulator.cycler.force_status(channel, status)
        return True

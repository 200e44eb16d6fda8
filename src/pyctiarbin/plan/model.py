"""Test plans: which schedule to start, under which test name, on which channel of which
cycler. Read from TOML or CSV (format: docs/plans.md) into a :class:`Plan` of
:class:`PlanEntry` rows, one per channel, with every template already rendered.

Test names and barcodes are templates (``str.format`` fields): ``{cycler}``, ``{channel}``,
``{barcode}`` (not in a barcode), ``{schedule}`` (the file name without ``.sdx``), ``{date}``
(YYYYMMDD), ``{time}`` (HHMMSS), ``{row}`` (1-based entry number in the file). Format specs
work: ``{channel:02d}``.
"""

from __future__ import annotations

import csv
import math
import os
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..config import (
    CONFIG_ENV_VAR,
    ConfigError,
    CyclerAddress,
    LabConfig,
    load_lab_config,
    read_toml,
    reading_file,
    resolve_cycler,
)
from ..protocol import AssignScheduleRequest, StartRequest, meta_code_for
from ..shared import DEFAULT_PORT, ChannelSpecError, parse_channel_spec

__all__ = [
    "TEMPLATE_FIELDS",
    "Plan",
    "PlanEntry",
    "PlanError",
    "load_plan",
    "parse_plan",
    "parse_plan_csv",
]

#: Fields a test-name or barcode template may use.
TEMPLATE_FIELDS = ("cycler", "channel", "barcode", "schedule", "date", "time", "row")


def _wide_units(message: Any, name: str) -> int:
    # The width of a text field of a request, in UTF-16 code units, as the protocol declares it.
    (declared,) = (f.metadata["wire"] for f in fields(message) if f.name == name)
    return int(declared.length)


_TEST_NAME_MAX = _wide_units(StartRequest, "test_name")
_BARCODE_MAX = _wide_units(AssignScheduleRequest, "barcode")
_SCHEDULE_MAX = _wide_units(AssignScheduleRequest, "schedule")

_ENTRY_KEYS = {
    "cycler",
    "channels",
    "channel",
    "schedule",
    "test_name",
    "barcode",
    "barcodes",
    "capacity_ah",
    "mv_ud",
}
_DEFAULT_KEYS = {"schedule", "test_name", "barcode", "capacity_ah", "mv_ud"}
_TOP_KEYS = _DEFAULT_KEYS | {"cyclers", "tests"}


class PlanError(ValueError):
    """A plan file is invalid. The message names the file, the entry and the key."""


@dataclass(frozen=True, slots=True)
class PlanEntry:
    """One channel of a plan: assign ``schedule`` (with ``capacity_ah``, ``barcode`` and the
    16 MV_UD initial values ``mv_ud``, or None to leave them at 0), then start ``test_name``.
    ``row``: the entry's number in the file (for messages)."""

    cycler: str
    address: CyclerAddress
    channel: int
    schedule: str
    test_name: str
    barcode: str = ""
    capacity_ah: float = 0.0
    mv_ud: tuple[float, ...] | None = None
    row: int = 0

    @property
    def mv_summary(self) -> str:
        """``"MV_UD1=1.5 MV_UD3=2"``: the non-zero initial values, for tables."""
        if self.mv_ud is None:
            return ""
        return " ".join(f"MV_UD{i}={v:g}" for i, v in enumerate(self.mv_ud, start=1) if v)


@dataclass(frozen=True)
class Plan:
    """A loaded plan: ``entries`` in file order, and the cyclers they use."""

    entries: tuple[PlanEntry, ...]
    cyclers: Mapping[str, CyclerAddress] = field(default_factory=lambda: MappingProxyType({}))
    path: Path | None = None

    def by_cycler(self) -> dict[str, list[PlanEntry]]:
        """The entries grouped by cycler name (in file order)."""
        groups: dict[str, list[PlanEntry]] = {}
        for entry in self.entries:
            groups.setdefault(entry.cycler, []).append(entry)
        return groups


def load_plan(
    path: str | os.PathLike[str],
    *,
    lab_config: LabConfig | None = None,
    cyclers: Mapping[str, CyclerAddress] | None = None,
    now: datetime | None = None,
) -> Plan:
    """Read a plan file: ``*.toml`` or ``*.csv`` (by suffix).

    Cycler names are looked up in ``cyclers`` (e.g. from ``--cycler NAME=HOST:PORT``), then in
    the plan's own ``[cyclers]`` table (TOML), then in ``lab_config`` (default: the lab config
    file named by ``$PYCTI_CONFIG``, if set, as for ``pycti``); ``HOST:PORT`` and
    ``NAME=HOST:PORT`` work anywhere a name does. ``now``: the time for ``{date}`` and
    ``{time}`` (default: now).

    Raises:
        PlanError: (a ValueError) if the file is missing, unreadable or invalid, names an
            unknown cycler, repeats a channel, or a rendered name does not fit its field; or
            if ``$PYCTI_CONFIG`` is used and names a lab config file that cannot be loaded.
    """
    if lab_config is None and os.environ.get(CONFIG_ENV_VAR):
        try:
            lab_config = load_lab_config(os.environ[CONFIG_ENV_VAR])
        except ConfigError as exc:
            raise PlanError(f"${CONFIG_ENV_VAR}: {exc}") from None
    plan_path = Path(path).expanduser()
    suffix = plan_path.suffix.lower()
    if suffix not in (".toml", ".csv"):
        raise PlanError(f"{plan_path}: a plan is a .toml or a .csv file")
    if suffix == ".toml":
        data = read_toml(plan_path, "plan", PlanError)
    else:
        with (
            reading_file(plan_path, "plan", PlanError),
            plan_path.open(newline="", encoding="utf-8-sig") as handle,
        ):
            rows = list(csv.reader(handle))
    try:
        if suffix == ".toml":
            plan = parse_plan(data, lab_config=lab_config, cyclers=cyclers, now=now)
        else:
            plan = parse_plan_csv(rows, lab_config=lab_config, cyclers=cyclers, now=now)
    except PlanError as exc:
        raise PlanError(f"{plan_path}: {exc}") from None
    return Plan(plan.entries, plan.cyclers, plan_path)


class _Builder:
    """Collects entries: resolves cyclers, renders templates, checks for duplicates."""

    def __init__(
        self,
        own_cyclers: Mapping[str, CyclerAddress],
        lab_config: LabConfig | None,
        now: datetime | None,
    ) -> None:
        self.own = dict(own_cyclers)
        self.lab_config = lab_config
        moment = now or datetime.now()
        self.date = moment.strftime("%Y%m%d")
        self.time = moment.strftime("%H%M%S")
        self.cyclers: dict[str, CyclerAddress] = {}
        self.entries: list[PlanEntry] = []
        self.seen: dict[tuple[str, int], int] = {}

    def cycler(self, spec: Any, where: str) -> tuple[str, CyclerAddress]:
        if not isinstance(spec, str) or not spec.strip():
            raise PlanError(f"{where}: cycler must be a name, HOST:PORT or NAME=HOST:PORT")
        spec = spec.strip()
        address = self.own.get(spec)
        if address is None:
            try:
                address = resolve_cycler(spec, self.lab_config)
            except ConfigError as exc:
                raise PlanError(f"{where}: {exc}") from None
        name = address.label if address.name is None else address.name
        if spec in self.own:
            name = spec
        known = self.cyclers.get(name)
        if known is not None and (known.host, known.port) != (address.host, address.port):
            raise PlanError(f"{where}: cycler name {name!r} is used for two addresses")
        self.cyclers[name] = address
        return name, address

    def add(
        self,
        row: int,
        where: str,
        cycler: Any,
        channels: Sequence[int],
        schedule: Any,
        test_name: Any,
        barcodes: Sequence[str] | None,
        barcode_template: Any,
        capacity_ah: Any,
        mv_ud: Any,
    ) -> None:
        name, address = self.cycler(cycler, where)
        schedule_text = _text(schedule, f"{where}: schedule")
        _fits(schedule_text, _SCHEDULE_MAX, f"{where}: schedule")
        template = _template(test_name, f"{where}: test_name", allow_barcode=True)
        barcode_format = (
            _template(barcode_template, f"{where}: barcode", allow_barcode=False)
            if barcode_template is not None
            else None
        )
        capacity = _number(capacity_ah if capacity_ah is not None else 0.0, f"{where}: capacity_ah")
        if capacity < 0:
            raise PlanError(f"{where}: capacity_ah must not be negative")
        mv = _mv_values(mv_ud, f"{where}: mv_ud") if mv_ud is not None else None
        if barcodes is not None and len(barcodes) != len(channels):
            raise PlanError(
                f"{where}: {len(barcodes)} barcodes for {len(channels)} channels; "
                "give one per channel (or a barcode template)"
            )
        for position, channel in enumerate(channels):
            key = (name, channel)
            if key in self.seen:
                raise PlanError(
                    f"{where}: {name} channel {channel} is already in entry {self.seen[key]}"
                )
            self.seen[key] = row
            values = {
                "cycler": name,
                "channel": channel,
                "schedule": schedule_text.rsplit(".", 1)[0]
                if schedule_text.lower().endswith(".sdx")
                else schedule_text,
                "date": self.date,
                "time": self.time,
                "row": row,
            }
            if barcodes is not None:
                barcode = barcodes[position]
            elif barcode_format is not None:
                barcode = _render(barcode_format, values, f"{where}: barcode")
            else:
                barcode = ""
            _fits(barcode, _BARCODE_MAX, f"{where}: barcode {barcode!r}")
            values["barcode"] = barcode
            test_name_text = _render(template, values, f"{where}: test_name")
            if not test_name_text.strip():
                raise PlanError(f"{where}: the test name of channel {channel} is empty")
            _fits(test_name_text, _TEST_NAME_MAX, f"{where}: test name {test_name_text!r}")
            self.entries.append(
                PlanEntry(
                    name,
                    address,
                    channel,
                    schedule_text,
                    test_name_text,
                    barcode,
                    capacity,
                    mv,
                    row,
                )
            )

    def plan(self) -> Plan:
        if not self.entries:
            raise PlanError("the plan names no channel")
        return Plan(tuple(self.entries), MappingProxyType(dict(self.cyclers)))


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PlanError(f"{where} must be a non-empty text")
    return value.strip()


def _fits(text: str, units: int, where: str) -> None:
    if "\x00" in text:
        raise PlanError(f"{where} contains a NUL character")
    if len(text.encode("utf-16-le")) // 2 > units:
        raise PlanError(f"{where} is longer than the {units} characters the cycler accepts")


def _number(value: Any, where: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value) if value.strip() else 0.0
        except ValueError:
            raise PlanError(f"{where}: {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PlanError(f"{where} must be a finite number, not {value!r}")
    return float(value)


def _template(value: Any, where: str, *, allow_barcode: bool) -> str:
    text = _text(value, where)
    allowed = set(TEMPLATE_FIELDS) - (set() if allow_barcode else {"barcode"})
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise PlanError(f"{where}: bad template {text!r}: {exc}") from None
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        if field_name not in allowed:
            raise PlanError(
                f"{where}: unknown field {{{field_name}}} in {text!r}; "
                f"fields: {', '.join('{' + f + '}' for f in sorted(allowed))}"
            )
    return text


def _render(template: str, values: Mapping[str, Any], where: str) -> str:
    try:
        return template.format(**values)
    except (ValueError, KeyError, IndexError) as exc:
        raise PlanError(f"{where}: cannot render {template!r}: {exc}") from None


def _mv_values(value: Any, where: str) -> tuple[float, ...]:
    """``{MV_UD1 = 1.5}``, ``{1 = 1.5}`` or a list of up to 16 numbers -> 16 values."""
    values = [0.0] * 16
    if isinstance(value, Mapping):
        for variable, number in value.items():
            key: int | str = int(variable) if str(variable).isdigit() else str(variable)
            try:
                code = meta_code_for(key)
            except ValueError as exc:
                raise PlanError(f"{where}: {exc}") from None
            values[int(code.name.removeprefix("MV_UD")) - 1] = _number(number, f"{where} {key}")
    elif isinstance(value, list):
        if len(value) > 16:
            raise PlanError(f"{where}: at most 16 values (MV_UD1..MV_UD16)")
        for index, number in enumerate(value):
            values[index] = _number(number, f"{where}[{index + 1}]")
    else:
        raise PlanError(f"{where} must be a table {{MV_UD1 = 1.5}} or a list of numbers")
    return tuple(values)


def _plan_cyclers(table: Any) -> dict[str, CyclerAddress]:
    if not isinstance(table, dict):
        raise PlanError("cyclers must be tables like [cyclers.NAME] with host and port")
    cyclers: dict[str, CyclerAddress] = {}
    for name, spec in table.items():
        where = f"[cyclers.{name}]"
        if not isinstance(spec, dict) or "host" not in spec:
            raise PlanError(f"{where} needs host (and port)")
        unknown = set(spec) - {"host", "port", "file_port"}
        if unknown:
            raise PlanError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        host = _text(spec["host"], f"{where} host")
        port = spec.get("port", DEFAULT_PORT)
        # Default: the next port (9031 -> 9032); a bad port is reported below, first.
        file_port = spec.get("file_port", port + 1 if isinstance(port, int) else 0)
        for key, number in (("port", port), ("file_port", file_port)):
            if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 65536:
                raise PlanError(f"{where} {key} must be a TCP port (1..65535)")
        cyclers[name] = CyclerAddress(host, port, file_port, name)
    return cyclers


def parse_plan(
    data: Mapping[str, Any],
    *,
    lab_config: LabConfig | None = None,
    cyclers: Mapping[str, CyclerAddress] | None = None,
    now: datetime | None = None,
) -> Plan:
    """Build a plan from parsed TOML (see docs/plans.md). Raises PlanError."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PlanError(
            f"unknown top-level key(s) {', '.join(sorted(unknown))}; expected "
            f"{', '.join(sorted(_DEFAULT_KEYS))}, [cyclers.NAME] and [[tests]]"
        )
    own = {**_plan_cyclers(data.get("cyclers", {})), **(cyclers or {})}
    builder = _Builder(own, lab_config, now)
    tests = data.get("tests")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, dict) for t in tests):
        raise PlanError("a plan needs [[tests]] entries")
    for row, entry in enumerate(tests, start=1):
        where = f"[[tests]] #{row}"
        unknown = set(entry) - _ENTRY_KEYS
        if unknown:
            raise PlanError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        if "cycler" not in entry:
            raise PlanError(f"{where} needs a cycler")
        if ("channels" in entry) == ("channel" in entry):
            raise PlanError(f"{where}: give channels (or channel)")
        try:
            channels = sorted(parse_channel_spec(entry.get("channels", entry.get("channel"))))
        except ChannelSpecError as exc:
            raise PlanError(f"{where}: {exc}") from None
        settings = {key: entry.get(key, data.get(key)) for key in _DEFAULT_KEYS}
        for key in ("schedule", "test_name"):
            if settings[key] is None:
                raise PlanError(f"{where} needs a {key} (or a plan-wide default)")
        barcodes = entry.get("barcodes")
        if barcodes is not None:
            if "barcode" in entry:
                raise PlanError(f"{where}: give barcode (a template) or barcodes, not both")
            if not isinstance(barcodes, list) or not all(isinstance(b, str) for b in barcodes):
                raise PlanError(f"{where}: barcodes must be a list of texts")
        builder.add(
            row,
            where,
            entry["cycler"],
            channels,
            settings["schedule"],
            settings["test_name"],
            barcodes,
            settings["barcode"] if barcodes is None else None,
            settings["capacity_ah"],
            settings["mv_ud"],
        )
    return builder.plan()


_CSV_REQUIRED = ("cycler", "channel", "schedule", "test_name")
_CSV_OPTIONAL = ("barcode", "capacity_ah")


def parse_plan_csv(
    rows: Sequence[Sequence[str]],
    *,
    lab_config: LabConfig | None = None,
    cyclers: Mapping[str, CyclerAddress] | None = None,
    now: datetime | None = None,
) -> Plan:
    """Build a plan from CSV rows (the first is the header; see docs/plans.md). Columns:
    cycler, channel (a number or a range such as ``1-8``), schedule, test_name, and optional
    barcode, capacity_ah, MV_UD1 .. MV_UD16. Raises PlanError."""
    if not rows:
        raise PlanError("the CSV file is empty")
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [name for name in _CSV_REQUIRED if name not in header]
    if missing:
        raise PlanError(f"CSV header lacks column(s) {', '.join(missing)}")
    mv_columns = {}
    for index, name in enumerate(header):
        if name in _CSV_REQUIRED or name in _CSV_OPTIONAL:
            continue
        try:
            mv_columns[index] = meta_code_for(name.upper()).name
        except ValueError:
            raise PlanError(
                f"CSV column {rows[0][index]!r} is unknown; columns: "
                f"{', '.join(_CSV_REQUIRED + _CSV_OPTIONAL)}, MV_UD1 .. MV_UD16"
            ) from None
    column = {name: header.index(name) for name in header if name in _CSV_REQUIRED + _CSV_OPTIONAL}
    builder = _Builder(dict(cyclers or {}), lab_config, now)
    for row_number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        where = f"line {row_number}"
        if len(cells) > len(header):
            raise PlanError(f"{where}: {len(cells)} cells for {len(header)} columns")
        cells = list(cells) + [""] * (len(header) - len(cells))

        def cell(name: str, cells: list[str] = cells) -> str:
            return cells[column[name]].strip() if name in column else ""

        try:
            channels = sorted(parse_channel_spec(cell("channel"), what="channel"))
        except ChannelSpecError as exc:
            raise PlanError(f"{where}: {exc}") from None
        barcode = cell("barcode") or None
        mv = {name: cells[index] for index, name in mv_columns.items() if cells[index].strip()}
        builder.add(
            row_number,
            where,
            cell("cycler"),
            channels,
            cell("schedule"),
            cell("test_name"),
            None,
            barcode,
            cell("capacity_ah") or None,
            mv or None,
        )
    return builder.plan()

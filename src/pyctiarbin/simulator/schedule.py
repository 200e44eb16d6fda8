"""MITS Pro schedule files (``.sdu`` MITS Pro 7, ``.sdx`` MITS Pro 8): parser, model and loader.

A schedule is what a lab assigns to a channel. MITS writes it as a Windows INI-style text file:
Latin-1, CRLF line ends, ``[Section]`` headers and ``key=value`` lines. This module reads the
sections the simulator runs and keeps (and ignores) every other key:

``[Schedule]``                 globals; the safety scopes ``m_VoltageSafetyScope=min^max`` (and
                               current, power) with their ``m_bCheck...Safety`` flags.
``[Schedule_StepN]``           step N (0-based in the file; MITS and this module number it N+1):
                               ``m_szLabel``, ``m_szStepCtrlType``, ``m_szCtrlValue``,
                               ``m_szExtCtrlValue1``, ``m_szExtCtrlValue2``, ``m_uLimitNum``.
``[Schedule_StepN_LimitM]``    ``m_bStepLimit`` (ends the step), ``m_bLogDataLimit`` (logs a data
                               point), ``m_szGotoStep`` (``Next Step``, ``End Test`` or a label),
                               up to three equations ``EquationK_szLeft/_szCompareSign/_szRight``
                               that must all hold.
``[Schedule_FormulaN]``        ``m_szLabel`` and ``m_szExpression`` (arithmetic over variables).
``[Schedule_UserDefineSafetyN]`` ``m_szSafetyType`` (a variable name), ``m_fMinValue``,
                               ``m_fMaxValue``; sections without a type are unused.

Step control types (:class:`StepType`) and their values: ``Rest``; ``Current(A)`` (A, signed,
negative discharges); ``C-Rate`` (multiple of the nominal capacity, signed); ``Voltage(V)``;
``CCCV`` (current in A, signed; ``m_szExtCtrlValue1`` the CV voltage); ``Internal Resistance``
(pulse amplitude in A; ``m_szExtCtrlValue1`` the pulse width); ``Power(W)`` (signed);
``Set Variable(s)`` (reset, increment and decrement bit masks, see :class:`Step`). A control value
may also name a variable (``MV_UD1`` or a formula), read while the step runs. Any other type is
refused with an error naming the step and the type.

Variables (:data:`PV_VARIABLES`, ``DV_Time``/``DV_Voltage``/``DV_Current``, ``TC_Counter1..4``,
``MV_UD1..16``, formula labels) are matched without regard to case.

Every problem raises :class:`ScheduleParseError` (a ``ValueError``); it lists all problems found,
each naming the section and key, e.g. ``[Schedule_Step3] m_szStepCtrlType: step 4 'IR':
unknown step type 'Pulse(A)'``. :func:`check_schedule` finds what parses but cannot run well
(steps that cannot end, steps never reached).
"""

from __future__ import annotations

import ast
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType

from ..protocol.codes import MetaCode, meta_code_for

__all__ = [
    "BUILTIN_VARIABLES",
    "COUNTER_COUNT",
    "DV_VARIABLES",
    "META_VARIABLE_COUNT",
    "PV_VARIABLES",
    "SCHEDULE_SUFFIXES",
    "SHIPPED_SCHEDULES_DIR",
    "Equation",
    "Expression",
    "Formula",
    "Limit",
    "Problem",
    "SafetyScope",
    "Schedule",
    "ScheduleNotFoundError",
    "ScheduleParseError",
    "Step",
    "StepType",
    "UnknownStepError",
    "canonical_variable",
    "check_schedule",
    "find_schedule",
    "list_schedules",
    "load_schedule",
    "meta_code_number",
    "meta_variable_number",
    "parse_expression",
    "parse_schedule",
    "read_schedule",
    "rest_schedule",
]

#: File name suffixes of schedules (matched without regard to case).
SCHEDULE_SUFFIXES = (".sdx", ".sdu")
#: The schedules shipped with the package.
SHIPPED_SCHEDULES_DIR = Path(__file__).resolve().parent / "schedules"
#: Meta variables are MV_UD1 .. MV_UD16; test counters TC_Counter1 .. TC_Counter4.
META_VARIABLE_COUNT = 16
COUNTER_COUNT = 4

#: The channel variables a limit or formula may read, in their canonical spelling.
PV_VARIABLES = (
    "PV_CHAN_Voltage",
    "PV_CHAN_Current",
    "PV_CHAN_Power",
    "PV_CHAN_Step_Time",
    "PV_CHAN_Test_Time",
    "PV_CHAN_Charge_Capacity",
    "PV_CHAN_Discharge_Capacity",
    "PV_CHAN_Charge_Energy",
    "PV_CHAN_Discharge_Energy",
    "PV_CHAN_Cycle_Index",
    "PV_CHAN_Step_Index",
    "PV_CHAN_CV_Stage_Current",
    "PV_CHAN_CV_StageTime",
    "PV_CHAN_Internal_Resistance",
)
#: Changes since the last logged data point (time in s, |voltage| in V, |current| in A).
DV_VARIABLES = ("DV_Time", "DV_Voltage", "DV_Current")
_COUNTERS = tuple(f"TC_Counter{n}" for n in range(1, COUNTER_COUNT + 1))
_METAS = tuple(f"MV_UD{n}" for n in range(1, META_VARIABLE_COUNT + 1))
#: Every built-in variable, canonical spelling, in a fixed order (the engine's slots).
BUILTIN_VARIABLES = PV_VARIABLES + DV_VARIABLES + _COUNTERS + _METAS
_CANONICAL = {name.casefold(): name for name in BUILTIN_VARIABLES}
_MAX_LIMITS = 64
_MAX_EQUATIONS = 3
_MAX_EXPRESSION_CHARS = 512
_MAX_EXPRESSION_DEPTH = 32
_STEP_RE = re.compile(r"Schedule_Step(\d+)", re.IGNORECASE)
_LIMIT_RE = re.compile(r"Schedule_Step(\d+)_Limit(\d+)", re.IGNORECASE)
_FORMULA_RE = re.compile(r"Schedule_Formula(\d+)", re.IGNORECASE)
_SAFETY_RE = re.compile(r"Schedule_UserDefineSafety(\d+)", re.IGNORECASE)
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MASK_MAX = (1 << 20) - 1
_COMPARE_SIGNS = (">=", "<=", ">", "<")


class ScheduleNotFoundError(FileNotFoundError):
    """No schedule file of that name in the search directories (or the name is not a file name)."""


class UnknownStepError(ValueError):
    """A step reference (number or label) that names no step of the schedule."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a schedule: where (``section``, ``key``; either may be empty), what."""

    section: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"[{self.section}]" if self.section else ""
        if self.key:
            where = f"{where} {self.key}" if where else self.key
        return f"{where}: {self.message}" if where else self.message


class ScheduleParseError(ValueError):
    """A schedule file that cannot be run. ``str()`` names the source and the first problem.

    Attributes: ``source`` (file path or ``"<string>"``) and ``problems`` (every :class:`Problem`
    found, at least one).
    """

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        if not problems:
            problems = (Problem("", "", "invalid schedule"),)
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(f"{source}: {problems[0]}{more}")
        self.source = source
        self.problems = tuple(problems)


class StepType(Enum):
    """A step's control type; the value is MITS's ``m_szStepCtrlType`` spelling."""

    REST = "Rest"
    CURRENT = "Current(A)"
    C_RATE = "C-Rate"
    VOLTAGE = "Voltage(V)"
    CCCV = "CCCV"
    INTERNAL_RESISTANCE = "Internal Resistance"
    SET_VARIABLES = "Set Variable(s)"
    POWER = "Power(W)"

    @property
    def takes_time(self) -> bool:
        """False for steps that act at once (Set Variable(s))."""
        return self is not StepType.SET_VARIABLES


_STEP_TYPES = {t.value.casefold(): t for t in StepType}


def meta_variable_number(name: str | int) -> int:
    """The number 1..16 of a meta variable given as ``"MV_UD<n>"`` (any case) or as ``n``.

    Raises:
        ValueError: if the name is not MV_UD1 .. MV_UD16.
    """
    return _META_CODE_NUMBERS[meta_code_for(name)]


def meta_code_number(meta_code: int) -> int | None:
    """The number 1..16 of the meta variable whose wire meta code is ``meta_code`` (``52`` is
    MV_UD1), or ``None`` when it is not a user meta variable."""
    return _META_CODE_NUMBERS.get(meta_code)


_META_CODE_NUMBERS = {int(code): number for number, code in enumerate(MetaCode, start=1)}


def canonical_variable(name: str, formulas: Iterable[str] = ()) -> str | None:
    """The canonical spelling of a variable name (any case), or ``None`` if it is not one.

    ``formulas`` are the formula labels of the schedule, which are variables too.
    """
    folded = name.strip().casefold()
    if folded in _CANONICAL:
        return _CANONICAL[folded]
    for label in formulas:
        if label.casefold() == folded:
            return label
    return None


# -- expressions -----------------------------------------------------------------------------------

_FUNCTIONS: dict[str, Callable[..., float]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
}


def _divide(a: float, b: float) -> float:
    if b == 0.0:
        return math.nan  # a comparison with NaN never holds: such a limit does not fire
    return a / b


def _power(a: float, b: float) -> float:
    try:
        return float(math.pow(a, b))
    except (OverflowError, ValueError):
        return math.nan


_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: _divide,
    ast.Pow: _power,
}


@dataclass(frozen=True, slots=True)
class Expression:
    """A formula expression compiled to a closure: ``evaluate(lookup)`` with ``lookup(name)``
    giving a variable's value. ``variables`` are the canonical names it reads."""

    text: str
    variables: tuple[str, ...]
    evaluate: Callable[[Callable[[str], float]], float] = field(repr=False, compare=False)


def parse_expression(text: str, known: Callable[[str], str | None]) -> Expression:
    """Compile an arithmetic expression: numbers, variables (``known(name)`` gives the canonical
    name or ``None``), ``+ - * / ^ **``, parentheses and ``abs min max sqrt exp log``.
    Nothing is ever passed to ``eval``: the text is parsed by :mod:`ast` and only those node
    types are accepted. Division by zero and domain errors give NaN.

    Raises:
        ValueError: naming what is not allowed (an unknown variable, a call, an attribute, ...).
    """
    if len(text) > _MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression longer than {_MAX_EXPRESSION_CHARS} characters")
    source = text.strip().replace("^", "**")
    if not source:
        raise ValueError("empty expression")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise ValueError(f"expression {text!r} does not parse: {reason}") from None
    names: list[str] = []

    def build(node: ast.AST, depth: int) -> Callable[[Callable[[str], float]], float]:
        if depth > _MAX_EXPRESSION_DEPTH:
            raise ValueError(f"expression {text!r} is nested too deeply")
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            if isinstance(node.value, bool):
                raise ValueError(f"expression {text!r}: True/False are not numbers")
            value = float(node.value)
            if not math.isfinite(value):
                raise ValueError(f"expression {text!r} holds a number that is not finite")
            return lambda lookup: value
        if isinstance(node, ast.Name):
            name = known(node.id)
            if name is None:
                raise ValueError(f"unknown variable {node.id!r} in expression {text!r}")
            names.append(name)
            return lambda lookup: lookup(name)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = build(node.operand, depth + 1)
            if isinstance(node.op, ast.USub):
                return lambda lookup: -operand(lookup)
            return operand
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = build(node.left, depth + 1)
            right = build(node.right, depth + 1)
            operation = _BINARY[type(node.op)]
            return lambda lookup: operation(left(lookup), right(lookup))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id.lower() in _FUNCTIONS
            and not node.keywords
            and node.args
        ):
            function = _FUNCTIONS[node.func.id.lower()]
            arguments = [build(argument, depth + 1) for argument in node.args]

            def call(lookup: Callable[[str], float]) -> float:
                try:
                    return float(function(*(argument(lookup) for argument in arguments)))
                except (ValueError, OverflowError, TypeError):
                    return math.nan

            return call
        raise ValueError(f"expression {text!r}: {type(node).__name__} is not allowed")

    evaluate = build(tree.body, 0)
    return Expression(text=text.strip(), variables=tuple(dict.fromkeys(names)), evaluate=evaluate)


# -- the model -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Equation:
    """``left sign right``: ``left`` a variable (canonical name), ``right`` a number or a
    variable, ``sign`` one of ``> >= < <=``."""

    left: str
    sign: str
    right: float | str

    def __str__(self) -> str:
        right = f"{self.right:g}" if isinstance(self.right, float) else self.right
        return f"{self.left}{self.sign}{right}"


@dataclass(frozen=True, slots=True)
class Limit:
    """A limit of a step: its equations all hold -> it fires.

    ``step_limit`` ends the step and goes to ``goto`` (1-based step number, ``None`` = End Test);
    ``log_limit`` records a data point (and keeps the step going unless ``step_limit``).
    """

    equations: tuple[Equation, ...]
    step_limit: bool
    log_limit: bool
    goto: int | None
    goto_text: str
    section: str

    def describe(self) -> str:
        """Short text of the condition (for exit conditions): ``PV_CHAN_Voltage>=3.6``."""
        return " & ".join(str(equation) for equation in self.equations)


@dataclass(frozen=True, slots=True)
class Step:
    """One step. ``number`` is 1-based (the file's N + 1).

    ``ctrl_value``/``ext_value1``/``ext_value2``: a number, a variable name or ``None`` (empty).
    Set Variable(s) masks (inferred from a public converter, not from an Arbin document):
    ``reset_mask`` bits 0..3 zero the charge capacity, discharge capacity, charge energy and
    discharge energy, bits 16..19 TC_Counter1..4; ``increment_mask`` / ``decrement_mask`` bit 0
    the cycle index, bits 1..4 TC_Counter1..4.
    """

    number: int
    label: str
    step_type: StepType
    ctrl_value: float | str | None
    ext_value1: float | str | None
    ext_value2: float | str | None
    limits: tuple[Limit, ...]
    section: str
    reset_mask: int = 0
    increment_mask: int = 0
    decrement_mask: int = 0


@dataclass(frozen=True, slots=True)
class Formula:
    """A formula variable: its ``label`` and compiled ``expression``."""

    label: str
    expression: Expression


@dataclass(frozen=True, slots=True)
class SafetyScope:
    """The channel goes unsafe when ``variable`` leaves ``[min_value, max_value]``."""

    variable: str
    min_value: float
    max_value: float
    section: str
    key: str


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule: ``name`` (the file name), what the simulator runs, and
    ``sections``: the whole file as written (read-only)."""

    name: str
    steps: tuple[Step, ...]
    formulas: tuple[Formula, ...] = ()
    safety: tuple[SafetyScope, ...] = ()
    version: str = ""
    description: str = ""
    source: str = "<string>"
    #: Every section and key of the file as written, those the simulator ignores included.
    sections: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )

    def step(self, number: int) -> Step:
        """The step with 1-based ``number``.

        Raises:
            UnknownStepError: if there is no such step.
        """
        if not 1 <= number <= len(self.steps):
            raise UnknownStepError(
                f"schedule {self.name!r} has no step {number} (steps 1..{len(self.steps)})"
            )
        return self.steps[number - 1]

    def step_number(self, reference: int | str) -> int:
        """The 1-based number of the step given by number or by label (label case-insensitive).

        A string of digits is read as a number.

        Raises:
            UnknownStepError: if no step matches.
        """
        if isinstance(reference, int):
            return self.step(reference).number
        text = reference.strip()
        if text.isdigit():
            return self.step(int(text)).number
        folded = text.casefold()
        for step in self.steps:
            if step.label.casefold() == folded:
                return step.number
        raise UnknownStepError(f"schedule {self.name!r} has no step labelled {text!r}")


# -- the INI reader --------------------------------------------------------------------------------


def _read_sections(
    text: str, problems: list[Problem], raw: dict[str, dict[str, str]]
) -> dict[str, tuple[str, dict[str, str]]]:
    """``{folded section name: (name as written, {folded key: value})}``; ``raw`` receives
    ``{section: {key: value}}`` as written. MITS's INI: no comments, no continuation lines;
    keys are kept whatever they are (the first of a repeated key counts)."""
    sections: dict[str, tuple[str, dict[str, str]]] = {}
    current: dict[str, str] | None = None
    written: dict[str, str] = {}
    for line_number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                problems.append(
                    Problem("", f"line {line_number}", f"bad section header {line[:60]!r}")
                )
                current = None
                continue
            name = line[1:-1].strip()
            folded = name.casefold()
            if folded in sections:
                problems.append(Problem(name, "", f"section appears twice (line {line_number})"))
                current = None
                continue
            current = {}
            sections[folded] = (name, current)
            written = raw.setdefault(name, {})
            continue
        key, equals, value = line.partition("=")
        if not equals or not key.strip():
            problems.append(
                Problem("", f"line {line_number}", f"expected 'key=value', got {line[:60]!r}")
            )
            continue
        if current is None:
            continue  # a key outside any (valid) section: nothing reads it
        current.setdefault(key.strip().casefold(), value.strip())
        written.setdefault(key.strip(), value.strip())
    return sections


class _Parser:
    def __init__(self, text: str) -> None:
        self.problems: list[Problem] = []
        self.raw: dict[str, dict[str, str]] = {}
        self.sections = _read_sections(text, self.problems, self.raw)

    def problem(self, section: str, key: str, message: str) -> None:
        self.problems.append(Problem(section, key, message))

    def number(self, section: str, key: str, text: str) -> float | None:
        try:
            value = float(text)
        except ValueError:
            self.problem(section, key, f"{text[:40]!r} is not a number")
            return None
        if not math.isfinite(value):
            self.problem(section, key, f"{text[:40]!r} is not a finite number")
            return None
        return value

    def integer(self, section: str, key: str, text: str, low: int, high: int) -> int | None:
        value = self.number(section, key, text)
        if value is None:
            return None
        if value != int(value) or not low <= value <= high:
            self.problem(section, key, f"{text!r} is not an integer in {low}..{high}")
            return None
        return int(value)

    def flag(self, keys: Mapping[str, str], section: str, key: str) -> bool:
        text = keys.get(key.casefold(), "0") or "0"
        if text not in ("0", "1"):
            self.problem(section, key, f"flag must be 0 or 1, got {text[:20]!r}")
        return text == "1"

    def parse(self, name: str, source: str) -> Schedule:
        sections = self.sections
        if "schedule" not in sections:
            self.problem("Schedule", "", "missing: not a MITS schedule file")
            raise ScheduleParseError(source, self.problems)
        schedule_name, globals_ = sections["schedule"]
        version = sections.get("version section", ("", {}))[1].get("current_version", "")
        step_sections: dict[int, tuple[str, dict[str, str]]] = {}
        formula_sections: dict[int, tuple[str, dict[str, str]]] = {}
        safety_sections: list[tuple[str, dict[str, str]]] = []
        limit_sections: dict[tuple[int, int], tuple[str, dict[str, str]]] = {}
        for section_name, keys in sections.values():
            if match := _LIMIT_RE.fullmatch(section_name):
                limit_sections[(int(match.group(1)), int(match.group(2)))] = (section_name, keys)
            elif match := _STEP_RE.fullmatch(section_name):
                step_sections[int(match.group(1))] = (section_name, keys)
            elif match := _FORMULA_RE.fullmatch(section_name):
                formula_sections[int(match.group(1))] = (section_name, keys)
            elif _SAFETY_RE.fullmatch(section_name):
                safety_sections.append((section_name, keys))
        count = len(step_sections)
        declared = globals_.get("m_ustepnum")
        if declared is not None:
            declared_count = self.integer(schedule_name, "m_uStepNum", declared, 0, 100000)
            if declared_count is not None and declared_count != count:
                self.problem(
                    schedule_name,
                    "m_uStepNum",
                    f"says {declared_count} steps but the file has {count} step sections",
                )
        if count == 0:
            self.problem(schedule_name, "m_uStepNum", "the schedule has no steps")
        if sorted(step_sections) != list(range(count)):
            missing = sorted(set(range(max(step_sections, default=-1) + 1)) - set(step_sections))
            self.problem(
                f"Schedule_Step{missing[0] if missing else count}",
                "",
                "step sections must be numbered 0, 1, 2, ... without gaps",
            )
        ordered = [step_sections[n] for n in sorted(step_sections)]
        labels: dict[str, int] = {}
        for number, (section_name, keys) in enumerate(ordered, start=1):
            label = keys.get("m_szlabel", "")
            if not label:
                continue
            if label.casefold() in labels:
                self.problem(
                    section_name,
                    "m_szLabel",
                    f"label {label!r} is also step {labels[label.casefold()]}'s",
                )
            else:
                labels[label.casefold()] = number
        formula_labels = self.formula_labels(formula_sections)
        formulas = self.formulas(formula_sections, formula_labels)

        def known(variable: str) -> str | None:
            return canonical_variable(variable, formula_labels)

        steps: list[Step] = []
        for number, (section_name, keys) in enumerate(ordered, start=1):
            index = number - 1
            step_limits = sorted(
                (m, value) for (n, m), value in limit_sections.items() if n == index
            )
            step = self.step(number, section_name, keys, step_limits, labels, count, known)
            if step is not None:
                steps.append(step)
        for (n, m), (section_name, _) in sorted(limit_sections.items()):
            if n not in step_sections:
                self.problem(
                    section_name, "", f"limit {m} of step section {n}, which does not exist"
                )
        safety = self.safety(schedule_name, globals_, safety_sections, known)
        if self.problems:
            raise ScheduleParseError(source, self.problems)
        return Schedule(
            name=name,
            steps=tuple(steps),
            formulas=formulas,
            safety=safety,
            version=version,
            description=globals_.get("m_szcomments", ""),
            source=source,
            sections=MappingProxyType(
                {name: MappingProxyType(keys) for name, keys in self.raw.items()}
            ),
        )

    def formula_labels(self, sections: dict[int, tuple[str, dict[str, str]]]) -> tuple[str, ...]:
        labels: list[str] = []
        for _, (section_name, keys) in sorted(sections.items()):
            label = keys.get("m_szlabel", "")
            if not _NAME_RE.fullmatch(label):
                self.problem(section_name, "m_szLabel", f"formula label {label!r} is not a name")
            elif label.casefold() in _CANONICAL or any(
                label.casefold() == other.casefold() for other in labels
            ):
                self.problem(section_name, "m_szLabel", f"formula label {label!r} is taken")
            else:
                labels.append(label)
        return tuple(labels)

    def formulas(
        self, sections: dict[int, tuple[str, dict[str, str]]], labels: tuple[str, ...]
    ) -> tuple[Formula, ...]:
        formulas: list[Formula] = []
        defined: list[str] = []
        for _, (section_name, keys) in sorted(sections.items()):
            label = keys.get("m_szlabel", "")
            if label not in labels:
                continue

            # A formula reads built-in variables and formulas defined before it (no cycles).
            def known(name: str, _defined: tuple[str, ...] = tuple(defined)) -> str | None:
                return canonical_variable(name, _defined)

            try:
                expression = parse_expression(keys.get("m_szexpression", ""), known)
            except ValueError as exc:
                self.problem(section_name, "m_szExpression", str(exc))
                continue
            formulas.append(Formula(label, expression))
            defined.append(label)
        return tuple(formulas)

    def value(
        self, section: str, key: str, text: str, known: Callable[[str], str | None]
    ) -> float | str | None:
        if not text:
            return None
        try:
            float(text)
        except ValueError:
            name = known(text)
            if name is None:
                self.problem(section, key, f"{text[:40]!r} is neither a number nor a variable")
            return name
        return self.number(section, key, text)

    def step(
        self,
        number: int,
        section: str,
        keys: dict[str, str],
        limit_sections: list[tuple[int, tuple[str, dict[str, str]]]],
        labels: dict[str, int],
        count: int,
        known: Callable[[str], str | None],
    ) -> Step | None:
        label = keys.get("m_szlabel", "") or f"Step {number}"
        type_text = keys.get("m_szstepctrltype", "")
        step_type = _STEP_TYPES.get(type_text.casefold())
        where = f"step {number} {label!r}"
        if step_type is None:
            supported = ", ".join(t.value for t in StepType)
            self.problem(
                section,
                "m_szStepCtrlType",
                f"{where}: unknown step type {type_text!r} (the simulator runs {supported})",
            )
            for _, (limit_section, limit_keys) in limit_sections:  # their problems too
                self.limit(limit_section, limit_keys, number, labels, count, known)
            return None
        ctrl = self.value(section, "m_szCtrlValue", keys.get("m_szctrlvalue", ""), known)
        ext1 = self.value(section, "m_szExtCtrlValue1", keys.get("m_szextctrlvalue1", ""), known)
        ext2 = self.value(section, "m_szExtCtrlValue2", keys.get("m_szextctrlvalue2", ""), known)
        masks = (0, 0, 0)
        if step_type is StepType.SET_VARIABLES:
            masks = tuple(  # type: ignore[assignment]
                self.mask(section, key, value)
                for key, value in (
                    ("m_szCtrlValue", ctrl),
                    ("m_szExtCtrlValue1", ext1),
                    ("m_szExtCtrlValue2", ext2),
                )
            )
        elif step_type in (StepType.CURRENT, StepType.C_RATE, StepType.VOLTAGE, StepType.POWER):
            if ctrl is None:
                self.problem(
                    section, "m_szCtrlValue", f"{where}: a {step_type.value} step needs a value"
                )
        elif step_type is StepType.CCCV:
            if ctrl is None:
                self.problem(section, "m_szCtrlValue", f"{where}: a CCCV step needs its current")
            elif isinstance(ctrl, float) and ctrl == 0.0:
                self.problem(
                    section, "m_szCtrlValue", f"{where}: a CCCV step needs a nonzero current"
                )
            if not isinstance(ext1, float) or ext1 <= 0.0:
                self.problem(
                    section,
                    "m_szExtCtrlValue1",
                    f"{where}: a CCCV step needs its CV voltage (V > 0)",
                )
        if step_type is StepType.VOLTAGE and isinstance(ctrl, float) and ctrl <= 0.0:
            self.problem(section, "m_szCtrlValue", f"{where}: the voltage must be positive")
        declared = keys.get("m_ulimitnum")
        if declared is not None:
            declared_count = self.integer(section, "m_uLimitNum", declared, 0, _MAX_LIMITS)
            if declared_count is not None and declared_count != len(limit_sections):
                self.problem(
                    section,
                    "m_uLimitNum",
                    f"{where}: says {declared_count} limits but the file has"
                    f" {len(limit_sections)} limit sections",
                )
        if [m for m, _ in limit_sections] != list(range(len(limit_sections))):
            self.problem(
                section, "", f"{where}: limit sections must be numbered 0, 1, ... without gaps"
            )
        limits = []
        for _, (limit_section, limit_keys) in limit_sections:
            limit = self.limit(limit_section, limit_keys, number, labels, count, known)
            if limit is not None:
                limits.append(limit)
        return Step(
            number=number,
            label=label,
            step_type=step_type,
            ctrl_value=ctrl,
            ext_value1=ext1,
            ext_value2=ext2,
            limits=tuple(limits),
            section=section,
            reset_mask=masks[0],
            increment_mask=masks[1],
            decrement_mask=masks[2],
        )

    def mask(self, section: str, key: str, value: float | str | None) -> int:
        if value is None:
            return 0
        if isinstance(value, str) or value != int(value) or not 0 <= value <= _MASK_MAX:
            self.problem(
                section, key, f"a bit mask must be an integer in 0..{_MASK_MAX}, got {value!r}"
            )
            return 0
        return int(value)

    def limit(
        self,
        section: str,
        keys: dict[str, str],
        step_number: int,
        labels: dict[str, int],
        count: int,
        known: Callable[[str], str | None],
    ) -> Limit | None:
        ok = True
        equations: list[Equation] = []
        for k in range(_MAX_EQUATIONS):
            left_key, sign_key, right_key = (
                f"Equation{k}_szLeft",
                f"Equation{k}_szCompareSign",
                f"Equation{k}_szRight",
            )
            left_text = keys.get(left_key.casefold(), "")
            sign = keys.get(sign_key.casefold(), "")
            right_text = keys.get(right_key.casefold(), "")
            if not (left_text or sign or right_text):
                continue
            left = known(left_text) if left_text else None
            if left is None:
                self.problem(section, left_key, f"unknown variable {left_text!r}")
                ok = False
            if sign not in _COMPARE_SIGNS:
                self.problem(
                    section, sign_key, f"compare sign must be one of > >= < <=, got {sign!r}"
                )
                ok = False
            right = self.value(section, right_key, right_text, known)
            if right is None:
                if not right_text:
                    self.problem(section, right_key, "the right-hand side is empty")
                ok = False
            if ok and left is not None and right is not None:
                equations.append(Equation(left, sign, right))
        if not equations and ok:
            self.problem(section, "Equation0_szLeft", "the limit has no equation")
            ok = False
        step_limit = self.flag(keys, section, "m_bStepLimit")
        log_limit = self.flag(keys, section, "m_bLogDataLimit")
        goto_text = keys.get("m_szgotostep", "Next Step") or "Next Step"
        folded = goto_text.casefold()
        goto: int | None
        if folded == "next step":
            goto = step_number + 1 if step_number < count else None
        elif folded == "end test":
            goto = None
        elif folded in labels:
            goto = labels[folded]
        else:
            self.problem(section, "m_szGotoStep", f"goto {goto_text!r}: no step has that label")
            return None
        if not ok or not equations:
            return None
        return Limit(
            equations=tuple(equations),
            step_limit=step_limit,
            log_limit=log_limit,
            goto=goto,
            goto_text=goto_text,
            section=section,
        )

    def safety(
        self,
        section: str,
        keys: dict[str, str],
        user_sections: list[tuple[str, dict[str, str]]],
        known: Callable[[str], str | None],
    ) -> tuple[SafetyScope, ...]:
        scopes: list[SafetyScope] = []
        for what, variable in (
            ("Voltage", "PV_CHAN_Voltage"),
            ("Current", "PV_CHAN_Current"),
            ("Power", "PV_CHAN_Power"),
        ):
            key = f"m_{what}SafetyScope"
            if not self.flag(keys, section, f"m_bCheck{what}Safety"):
                continue
            text = keys.get(key.casefold(), "")
            low_text, caret, high_text = text.partition("^")
            if not caret:
                self.problem(section, key, f"a safety scope is 'min^max', got {text[:40]!r}")
                continue
            low = self.number(section, key, low_text)
            high = self.number(section, key, high_text)
            if low is None or high is None:
                continue
            if low > high:
                self.problem(section, key, f"min {low:g} is above max {high:g}")
                continue
            scopes.append(SafetyScope(variable, low, high, section, key))
        for user_section, user_keys in user_sections:
            kind = user_keys.get("m_szsafetytype", "")
            if not kind:
                continue  # an unused slot: MITS writes sixteen of them
            known_variable = known(kind)
            if known_variable is None:
                self.problem(user_section, "m_szSafetyType", f"unknown variable {kind!r}")
                continue
            low = self.number(user_section, "m_fMinValue", user_keys.get("m_fminvalue", ""))
            high = self.number(user_section, "m_fMaxValue", user_keys.get("m_fmaxvalue", ""))
            if low is None or high is None:
                continue
            if low > high:
                self.problem(user_section, "m_fMinValue", f"min {low:g} is above max {high:g}")
                continue
            scopes.append(SafetyScope(known_variable, low, high, user_section, "m_szSafetyType"))
        return tuple(scopes)


def parse_schedule(text: str, *, source: str = "<string>", name: str | None = None) -> Schedule:
    """Parse the text of a MITS schedule file (see the module docstring).

    ``source`` names the text in error messages (usually the file path); ``name`` defaults to the
    file name of ``source``.

    Raises:
        ScheduleParseError: (a ``ValueError``) listing every problem, by section and key.
    """
    if name is None:
        name = Path(source).name if source != "<string>" else source
    return _Parser(text).parse(name, source)


def read_schedule(path: str | os.PathLike[str]) -> Schedule:
    """Read and parse one schedule file. MITS writes Latin-1 (Windows ANSI); every byte
    decodes, so the text is never rejected for its encoding.

    Raises:
        OSError: if the file cannot be read (``FileNotFoundError`` if it does not exist).
        ScheduleParseError: (a ``ValueError``) if it is not a schedule the simulator can run.
    """
    file_path = Path(path)
    text = file_path.read_bytes().decode("latin-1")
    return parse_schedule(text, source=str(file_path), name=file_path.name)


def rest_schedule(name: str) -> Schedule:
    """A one-step schedule that rests for ever (what a lenient simulator assigns for a name it
    does not know).

    Raises:
        Nothing.
    """
    step = Step(
        number=1,
        label="Rest",
        step_type=StepType.REST,
        ctrl_value=None,
        ext_value1=None,
        ext_value2=None,
        limits=(),
        section="Schedule_Step0",
    )
    return Schedule(name=name, steps=(step,))


# -- checks ----------------------------------------------------------------------------------------


def check_schedule(schedule: Schedule) -> list[Problem]:
    """What a parsed schedule gets wrong although it parses: steps that take time and have no
    step limit (they never end), and steps that no path from step 1 reaches. Empty when fine.

    Raises:
        Nothing.
    """
    problems: list[Problem] = []
    for step in schedule.steps:
        if step.step_type.takes_time and not any(limit.step_limit for limit in step.limits):
            problems.append(
                Problem(
                    step.section,
                    "m_uLimitNum",
                    f"step {step.number} {step.label!r} has no step limit: it never ends",
                )
            )
    reached = {1}
    pending = [1]
    while pending:
        step = schedule.steps[pending.pop() - 1]
        targets = {limit.goto for limit in step.limits if limit.step_limit}
        if not step.step_type.takes_time:
            # Set Variable(s) goes on to the next step when none of its limits holds.
            targets.add(step.number + 1)
        for target in targets:
            if target is not None and target <= len(schedule.steps) and target not in reached:
                reached.add(target)
                pending.append(target)
    for step in schedule.steps:
        if step.number not in reached:
            problems.append(
                Problem(step.section, "", f"step {step.number} {step.label!r} is never reached")
            )
    return problems


# -- finding files ---------------------------------------------------------------------------------


def _is_schedule_file(name: str) -> bool:
    return name.lower().endswith(SCHEDULE_SUFFIXES)


def _search_path(search_dirs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    return [Path(directory) for directory in search_dirs] + [SHIPPED_SCHEDULES_DIR]


def _schedule_files(directory: Path) -> list[Path]:
    try:
        entries = sorted(directory.iterdir())
    except OSError:  # a user directory that does not exist (yet) is simply empty
        return []
    return [entry for entry in entries if _is_schedule_file(entry.name) and entry.is_file()]


def find_schedule(name: str, search_dirs: Sequence[str | os.PathLike[str]] = ()) -> Path:
    """The path of the schedule file called ``name``, searching ``search_dirs`` in order, then
    the shipped schedules.

    ``name`` is a file name as a user types it: ``CCCV_Charge.sdx``, ``cccv_charge.SDX`` or
    ``CCCV_Charge`` (then ``.sdx`` and ``.sdu`` are tried). Within a directory an exact match
    wins over a match without regard to case. Directories that do not exist are skipped.

    Raises:
        ScheduleNotFoundError: if no directory holds it, or ``name`` is not a plain file name
            (it contains a path separator or is ``.``/``..``): names come from the network.
    """
    wanted = name.strip()
    if not wanted or wanted in (".", "..") or any(sep in wanted for sep in "/\\:\0"):
        raise ScheduleNotFoundError(f"not a schedule file name: {name!r}")
    candidates = [wanted]
    if not _is_schedule_file(wanted):
        candidates.extend(wanted + suffix for suffix in SCHEDULE_SUFFIXES)
    folded = {candidate.casefold() for candidate in candidates}
    directories = _search_path(search_dirs)
    for directory in directories:
        files = _schedule_files(directory)
        for path in files:
            if path.name in candidates:
                return path
        for path in files:
            if path.name.casefold() in folded:
                return path
    searched = ", ".join(str(directory) for directory in directories)
    raise ScheduleNotFoundError(f"no schedule named {name!r} in {searched}")


def load_schedule(name: str, search_dirs: Sequence[str | os.PathLike[str]] = ()) -> Schedule:
    """Find (see :func:`find_schedule`) and parse the schedule called ``name``.

    Raises:
        ScheduleNotFoundError: if there is no such schedule file.
        OSError: if the file cannot be read.
        ScheduleParseError: (a ``ValueError``) if the file is not a valid schedule.
    """
    return read_schedule(find_schedule(name, search_dirs))


def list_schedules(search_dirs: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
    """File names of every schedule reachable by :func:`load_schedule`, sorted without regard to
    case. A name in an earlier directory hides the same name (any case) in later ones.

    Raises:
        Nothing: unreadable or missing directories are skipped.
    """
    seen: dict[str, str] = {}
    for directory in _search_path(search_dirs):
        for path in _schedule_files(directory):
            seen.setdefault(path.name.casefold(), path.name)
    return sorted(seen.values(), key=str.casefold)

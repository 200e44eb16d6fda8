"""Build MITS schedule file text (INI, CRLF) from a compact description, for tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Eq = tuple[str, str, str]


def limit(
    *equations: Eq, goto: str = "Next Step", step: bool = True, log: bool = False
) -> dict[str, Any]:
    """One limit: up to three ``(left, sign, right)`` equations."""
    return {"equations": equations, "goto": goto, "step": step, "log": log}


def step(
    label: str,
    step_type: str,
    ctrl: str = "",
    ext1: str = "",
    ext2: str = "",
    limits: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One step."""
    return {
        "label": label,
        "type": step_type,
        "ctrl": ctrl,
        "ext1": ext1,
        "ext2": ext2,
        "limits": limits,
    }


def mits_text(
    steps: Sequence[Mapping[str, Any]],
    *,
    safety: Mapping[str, tuple[float, float]] | None = None,
    formulas: Sequence[tuple[str, str]] = (),
    user_safety: Sequence[tuple[str, float, float]] = (),
    comments: str = "",
) -> str:
    """The text of a schedule file: ``safety`` maps ``Voltage``/``Current``/``Power`` to
    ``(min, max)`` scopes that are checked; ``formulas`` are ``(label, expression)``."""
    lines = [
        "[Version Section]",
        "Current_Version=Schedule Version 7.00.13",
        "[Schedule]",
        f"m_szComments={comments}",
        f"m_uStepNum={len(steps)}",
        f"m_uFormulaNum={len(formulas)}",
    ]
    for what in ("Voltage", "Current", "Power"):
        scope = (safety or {}).get(what)
        lines.append(f"m_bCheck{what}Safety={1 if scope else 0}")
        low, high = scope if scope else (0.0, 0.0)
        lines.append(f"m_{what}SafetyScope={low:f}^{high:f}")
    for n, item in enumerate(steps):
        lines += [
            f"[Schedule_Step{n}]",
            f"m_uLimitNum={len(item['limits'])}",
            f"m_szLabel={item['label']}",
            f"m_szStepCtrlType={item['type']}",
            "m_szCurrentRange=Range1",
            f"m_szCtrlValue={item['ctrl']}",
            f"m_szExtCtrlValue1={item['ext1']}",
            f"m_szExtCtrlValue2={item['ext2']}",
        ]
        for m, lim in enumerate(item["limits"]):
            lines += [
                f"[Schedule_Step{n}_Limit{m}]",
                f"m_bStepLimit={int(lim['step'])}",
                f"m_bLogDataLimit={int(lim['log'])}",
                f"m_szGotoStep={lim['goto']}",
            ]
            equations = list(lim["equations"]) + [("", "", "")] * (3 - len(lim["equations"]))
            for k, (left, sign, right) in enumerate(equations):
                lines += [
                    f"Equation{k}_szLeft={left}",
                    f"Equation{k}_szCompareSign={sign}",
                    f"Equation{k}_szRight={right}",
                ]
    for n, (label, expression) in enumerate(formulas):
        lines += [f"[Schedule_Formula{n}]", f"m_szLabel={label}", f"m_szExpression={expression}"]
    for n, (kind, low, high) in enumerate(user_safety):
        lines += [
            f"[Schedule_UserDefineSafety{n}]",
            f"m_szSafetyType={kind}",
            f"m_fMinValue={low}",
            f"m_fMaxValue={high}",
        ]
    return "\r\n".join(lines) + "\r\n"

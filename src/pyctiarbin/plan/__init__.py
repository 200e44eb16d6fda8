"""Test plans: assign and start many channels on many cyclers from one file (docs/plans.md).

::

    from pyctiarbin.plan import load_plan, run_plan

    plan = load_plan("plan.toml")                  # or plan.csv
    report = asyncio.run(run_plan(plan))
    print(report.summary()); sys.exit(report.exit_code)

``pycti plan run plan.toml [--dry-run]`` does the same from the command line.
"""

from __future__ import annotations

from .model import (
    TEMPLATE_FIELDS,
    Plan,
    PlanEntry,
    PlanError,
    load_plan,
    parse_plan,
    parse_plan_csv,
)
from .runner import EntryOutcome, EntryResult, PlanReport, dry_run, run_plan

__all__ = [
    "TEMPLATE_FIELDS",
    "EntryOutcome",
    "EntryResult",
    "Plan",
    "PlanEntry",
    "PlanError",
    "PlanReport",
    "dry_run",
    "load_plan",
    "parse_plan",
    "parse_plan_csv",
    "run_plan",
]

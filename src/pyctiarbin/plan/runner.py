"""Running a plan: assign and start every channel, continue past refusals, report outcomes.

Cyclers are handled concurrently (one connection each); on a cycler, channels go one after
the other: ASSIGN_SCHEDULE (schedule, capacity, barcode, MV_UD initial values), then START
with the channel's test name. A refusal of either ends that channel's entry with the cycler's
documented reason and the run goes on with the next channel. A cycler that cannot be reached
(or refuses the login) fails all its entries.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..client import AsyncCyclerClient
from ..credentials import Credentials
from ..errors import CommandRejected, CtiError, LoginError
from .model import Plan, PlanEntry

__all__ = ["EntryOutcome", "EntryResult", "PlanReport", "dry_run", "run_plan"]

log = logging.getLogger("pyctiarbin.plan")


class EntryOutcome(str, enum.Enum):
    """What became of one plan entry."""

    STARTED = "started"
    #: The cycler refused (assign or start): ``step``, ``code`` and ``detail`` say why.
    REFUSED = "refused"
    #: The cycler could not be reached, or refused the login.
    UNREACHABLE = "unreachable"
    #: The answer to a command was lost: the cycler may or may not have carried it out.
    UNKNOWN = "unknown"
    #: A value the client would not send (e.g. a channel the cycler does not have).
    INVALID = "invalid"
    #: ``--dry-run``: what would be done.
    DRY_RUN = "dry run"


@dataclass(frozen=True, slots=True)
class EntryResult:
    """The outcome of one plan entry. ``step``: where it stopped (``connect``, ``assign``,
    ``start``; empty when started). ``code``: the cycler's result code for a refusal."""

    entry: PlanEntry
    outcome: EntryOutcome
    step: str = ""
    detail: str = ""
    code: int | None = None


@dataclass(frozen=True)
class PlanReport:
    """All outcomes, in plan order."""

    results: tuple[EntryResult, ...]
    dry_run: bool = False

    def count(self, outcome: EntryOutcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)

    @property
    def all_started(self) -> bool:
        return all(r.outcome in (EntryOutcome.STARTED, EntryOutcome.DRY_RUN) for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 when every channel started (or a dry run), 3 when a cycler could not be reached
        or an outcome is unknown, else 1 (some channel was refused or invalid)."""
        if self.all_started:
            return 0
        problems = {r.outcome for r in self.results}
        if problems & {EntryOutcome.UNREACHABLE, EntryOutcome.UNKNOWN}:
            return 3
        return 1

    def summary(self) -> str:
        """``"21 of 24 started; 2 refused; 1 unreachable"``."""
        if self.dry_run:
            return f"dry run: {len(self.results)} channel(s) would be assigned and started"
        parts = [f"{self.count(EntryOutcome.STARTED)} of {len(self.results)} started"]
        for outcome in EntryOutcome:
            if outcome is EntryOutcome.STARTED:
                continue
            number = self.count(outcome)
            if number:
                parts.append(f"{number} {outcome.value}")
        return "; ".join(parts)


def dry_run(plan: Plan) -> PlanReport:
    """The report of a dry run: every entry, nothing sent."""
    return PlanReport(
        tuple(
            EntryResult(
                entry,
                EntryOutcome.DRY_RUN,
                detail=f"assign {entry.schedule}, start {entry.test_name!r}",
            )
            for entry in plan.entries
        ),
        dry_run=True,
    )


async def _run_cycler(
    entries: Sequence[PlanEntry],
    credentials: Credentials | None,
    timeout_s: float,
) -> list[EntryResult]:
    address = entries[0].address
    client = AsyncCyclerClient(
        address.host,
        address.port,
        username=None if credentials is None else credentials.username,
        password=None if credentials is None else credentials.password,
        timeout=timeout_s,
    )
    try:
        try:
            info = await client.connect()
        except (CtiError, OSError) as exc:
            why = "login refused" if isinstance(exc, LoginError) else "cannot connect"
            log.warning("plan: %s (%s): %s: %s", entries[0].cycler, address, why, exc)
            return [
                EntryResult(entry, EntryOutcome.UNREACHABLE, "connect", f"{why}: {exc}")
                for entry in entries
            ]
        results = []
        for entry in entries:
            if entry.channel > info.num_channels:
                results.append(
                    EntryResult(
                        entry,
                        EntryOutcome.INVALID,
                        "assign",
                        f"the cycler has {info.num_channels} channels",
                    )
                )
                continue
            results.append(await _run_entry(client, entry))
        return results
    finally:
        await client.close()


async def _run_entry(client: AsyncCyclerClient, entry: PlanEntry) -> EntryResult:
    step = "assign"
    try:
        await client.assign_schedule(
            entry.channel,
            entry.schedule,
            capacity_ah=entry.capacity_ah,
            barcode=entry.barcode,
            mv_ud=entry.mv_ud,
        )
        step = "start"
        await client.start(entry.channel, entry.test_name)
    except CommandRejected as exc:
        log.info("plan: %s ch %d: %s refused: %s", entry.cycler, entry.channel, step, exc)
        return EntryResult(entry, EntryOutcome.REFUSED, step, exc.meaning, exc.code)
    except ValueError as exc:
        return EntryResult(entry, EntryOutcome.INVALID, step, str(exc))
    except (CtiError, OSError) as exc:
        unknown = getattr(exc, "outcome_unknown", False)
        outcome = EntryOutcome.UNKNOWN if unknown else EntryOutcome.UNREACHABLE
        log.warning("plan: %s ch %d: %s failed: %s", entry.cycler, entry.channel, step, exc)
        return EntryResult(entry, outcome, step, f"{type(exc).__name__}: {exc}")
    log.info("plan: %s ch %d: started %r", entry.cycler, entry.channel, entry.test_name)
    return EntryResult(entry, EntryOutcome.STARTED)


async def run_plan(
    plan: Plan,
    *,
    credentials: Credentials | None = None,
    timeout_s: float = 10.0,
) -> PlanReport:
    """Assign and start every entry of ``plan``; returns every outcome, in plan order.

    ``credentials``: for every cycler (None: each client looks in the environment and
    ``.env``). Refusals and connection failures are outcomes, not exceptions.

    Raises:
        ValueError: when ``credentials`` is None and none are found in the environment.
    """
    groups = plan.by_cycler()
    outcomes = await asyncio.gather(
        *(_run_cycler(entries, credentials, timeout_s) for entries in groups.values())
    )
    by_entry = {id(result.entry): result for results in outcomes for result in results}
    return PlanReport(tuple(by_entry[id(entry)] for entry in plan.entries))

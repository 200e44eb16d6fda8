"""Channel control: ``pycti assign|start|stop|resume|continue|jump`` and ``pycti mv set``.

Every command takes ``--channel`` (repeatable, ranges ``1-8``, lists ``1,3``) or ``--all``,
prints one line per channel with the outcome in words (for a refusal, the documented meaning of
the cycler's result code) and exits with 1 if any channel refused. ``--all`` asks for
confirmation unless ``--yes``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ..errors import BatchRejected, CommandRejected, CtiConnectionError, CtiTimeout
from ..protocol import meta_code_for
from .common import (
    AllOption,
    ChannelsOption,
    CliError,
    CyclerOptions,
    ExitCode,
    YesOption,
    channel_target,
    confirm_whole_cycler,
    cycler_command,
    group_app,
    out_console,
)

if TYPE_CHECKING:
    from ..client import CyclerClient

__all__ = ["Outcome", "register"]

# The value the client takes for "every channel" (sent with the protocol's all-channels flag
# where the command has one).
_EVERY = "all"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened on one channel: done, refused (with the cycler's meaning), or unknown."""

    channel: int
    ok: bool
    text: str
    unknown: bool = False


def _refusal_text(rejection: CommandRejected, prefix: str = "") -> str:
    return f"refused: {prefix}{rejection.meaning} (code 0x{rejection.code:02X})"


def _apply(
    action: Callable[[Sequence[int] | str], None],
    channels: list[int] | None,
    num_channels: int,
    success: str,
    refusal_prefix: str = "",
) -> list[Outcome]:
    """Run ``action`` on ``channels`` (None: every channel) and say what happened to each."""
    asked = channels if channels is not None else list(range(1, num_channels + 1))
    try:
        action(_EVERY if channels is None else channels)
    except BatchRejected as exc:
        return [
            Outcome(ch, False, _refusal_text(exc.rejections[ch], refusal_prefix))
            if ch in exc.rejections
            else Outcome(ch, True, success)
            for ch in asked
        ]
    except CommandRejected as exc:
        refused = [exc.channel] if exc.channel is not None else asked
        return [
            Outcome(ch, False, _refusal_text(exc, refusal_prefix))
            if ch in refused
            else Outcome(ch, True, success)
            for ch in asked
        ]
    except (CtiConnectionError, CtiTimeout) as exc:
        if not exc.outcome_unknown:
            raise
        text = f"outcome unknown: {exc}"
        return [Outcome(ch, False, text, unknown=True) for ch in asked]
    return [Outcome(ch, True, success) for ch in asked]


def _report(outcomes: Sequence[Outcome]) -> None:
    """Print one line per channel; exit 1 if any refused, 3 if any outcome is unknown."""
    console = out_console()
    for outcome in sorted(outcomes, key=lambda o: o.channel):
        if console.is_terminal:
            style = "green" if outcome.ok else "yellow" if outcome.unknown else "red"
            console.print(Text(f"channel {outcome.channel}: ") + Text(outcome.text, style=style))
        else:
            sys.stdout.write(f"channel {outcome.channel}: {outcome.text}\n")
    sys.stdout.flush()
    if any(outcome.unknown for outcome in outcomes):
        raise typer.Exit(ExitCode.CONNECTION)
    if not all(outcome.ok for outcome in outcomes):
        raise typer.Exit(ExitCode.REFUSED)


def _run(
    options: CyclerOptions,
    action_name: str,
    channels_values: list[str] | None,
    every: bool,
    yes: bool,
    body: Callable[[CyclerClient, list[int] | None], list[Outcome]],
) -> None:
    target = channel_target(channels_values, every)
    if target is None:
        confirm_whole_cycler(action_name, options.address(), yes)
    with options.connect() as client:
        outcomes = body(client, target)
    _report(outcomes)


def _finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise CliError(f"{name} must be a finite number, not {value}")
    return value


def _meta_assignments(values: Sequence[str], option: str) -> list[tuple[str, float]]:
    """Parse ``VAR=VALUE`` items (``1=0.5``, ``MV_UD2=-1``) into (``MV_UDn``, value)."""
    parsed: list[tuple[str, float]] = []
    for item in values:
        name, equals, text = item.partition("=")
        name = name.strip()
        try:
            if not equals:
                raise ValueError("no '='")
            code = meta_code_for(int(name) if name.isdigit() else name)
            value = _finite(float(text), f"{option} {item}")
        except (ValueError, CliError):
            raise CliError(
                f"{option} {item!r}: expected VAR=VALUE with VAR 1..16 or MV_UD1..MV_UD16 and "
                "a finite number, e.g. 1=0.5 or MV_UD2=-1.2"
            ) from None
        parsed.append((code.name, value))
    return parsed


# ------------------------------------------------------------------------------------------
# Commands


def assign(
    options: CyclerOptions,
    schedule: Annotated[
        str, typer.Argument(help="Schedule file in the cycler's work folder, e.g. CCCV_Charge.sdx.")
    ],
    channel: ChannelsOption = None,
    every: AllOption = False,
    capacity_ah: Annotated[
        float,
        typer.Option("--capacity-ah", help="Nominal capacity of the cells, in Ah (0: unset)."),
    ] = 0.0,
    barcode: Annotated[
        str, typer.Option("--barcode", help="Barcode to record with the assignment.")
    ] = "",
    mv: Annotated[
        list[str] | None,
        typer.Option(
            "--mv",
            help="Initial meta variable, VAR=VALUE (VAR 1..16 or MV_UDn); repeat it.",
            metavar="VAR=VALUE",
        ),
    ] = None,
    yes: YesOption = False,
) -> None:
    """Assign a schedule to channels (they must not be running)."""
    _finite(capacity_ah, "--capacity-ah")
    initial = [0.0] * 16
    for name, value in _meta_assignments(mv or [], "--mv"):
        initial[int(name.removeprefix("MV_UD")) - 1] = value

    def body(client: CyclerClient, target: list[int] | None) -> list[Outcome]:
        def action(channels: Sequence[int] | str) -> None:
            client.assign_schedule(
                channels, schedule, capacity_ah=capacity_ah, barcode=barcode, mv_ud=initial
            )

        return _apply(action, target, client.num_channels, f"assigned {schedule}")

    _run(options, f"assign {schedule}", channel, every, yes, body)


def start(
    options: CyclerOptions,
    test_name: Annotated[str, typer.Argument(help="Name of the test (MITS names the results).")],
    channel: ChannelsOption = None,
    every: AllOption = False,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            "-s",
            help="Assign this schedule first; a channel whose assignment is refused is not "
            "started.",
            metavar="FILE",
        ),
    ] = None,
    yes: YesOption = False,
) -> None:
    """Start the assigned schedule on channels, as test TEST_NAME."""

    def body(client: CyclerClient, target: list[int] | None) -> list[Outcome]:
        num = client.num_channels
        refused: list[Outcome] = []
        to_start = target
        if schedule is not None:
            assigned = _apply(
                lambda chs: client.assign_schedule(chs, schedule),
                target,
                num,
                f"assigned {schedule}",
                refusal_prefix=f"assign {schedule}: ",
            )
            refused = [o for o in assigned if not o.ok]
            if any(o.unknown for o in refused):
                return assigned
            ok = [o.channel for o in assigned if o.ok]
            to_start = None if target is None and not refused else ok
            if not ok:
                return refused
        success = f"started test {test_name!r}" + (f" with {schedule}" if schedule else "")
        started = _apply(lambda chs: client.start(chs, test_name), to_start, num, success)
        return refused + started

    _run(options, f"start {test_name!r}", channel, every, yes, body)


def _channel_command(name: str, method: str, done: str, doc: str) -> Callable[..., None]:
    """A command that applies one client method to channels (stop, resume, continue)."""

    def command(
        options: CyclerOptions,
        channel: ChannelsOption = None,
        every: AllOption = False,
        yes: YesOption = False,
    ) -> None:
        def body(client: CyclerClient, target: list[int] | None) -> list[Outcome]:
            return _apply(getattr(client, method), target, client.num_channels, done)

        _run(options, name, channel, every, yes, body)

    command.__doc__ = doc
    command.__name__ = command.__qualname__ = method
    return command


stop = _channel_command("stop", "stop", "stopped", "Stop the tests on channels.")
resume = _channel_command("resume", "resume", "resumed", "Resume stopped tests on channels.")
continue_ = _channel_command(
    "continue", "continue_channels", "continued", "Continue paused tests on channels."
)


def jump(
    options: CyclerOptions,
    step: Annotated[
        int, typer.Argument(help="Step to jump to, numbered as MITS shows it (1 = first).", min=1)
    ],
    channel: ChannelsOption = None,
    every: AllOption = False,
    yes: YesOption = False,
) -> None:
    """Jump running channels to another step of their schedule."""

    def body(client: CyclerClient, target: list[int] | None) -> list[Outcome]:
        return _apply(
            lambda chs: client.jump(chs, step),
            target,
            client.num_channels,
            f"jumped to step {step}",
        )

    _run(options, f"jump to step {step}", channel, every, yes, body)


def mv_set(
    options: CyclerOptions,
    assignments: Annotated[
        list[str],
        typer.Argument(
            help="VAR=VALUE items, VAR 1..16 or MV_UD1..MV_UD16: 1=0.5 MV_UD2=-1.2",
            metavar="VAR=VALUE...",
        ),
    ],
    channel: ChannelsOption = None,
    every: AllOption = False,
    yes: YesOption = False,
) -> None:
    """Set user meta variables (MV_UD1..16) on running channels, one request per value."""
    values = _meta_assignments(assignments, "mv set")
    summary = ", ".join(f"{name} = {value:g}" for name, value in values)

    def body(client: CyclerClient, target: list[int] | None) -> list[Outcome]:
        outcomes = []
        for ch in target if target is not None else range(1, client.num_channels + 1):

            def action(_chs: Sequence[int] | str, ch: int = ch) -> None:
                for name, value in values:
                    client.set_meta_variable(ch, name, value)

            outcomes.extend(_apply(action, [ch], client.num_channels, f"set {summary}"))
        return outcomes

    _run(options, f"set {summary}", channel, every, yes, body)


def mv_get(
    options: CyclerOptions,
    variables: Annotated[
        list[str],
        typer.Argument(
            help="Variables: 1..16 or MV_UD1..MV_UD16, or PV_Voltage, PV_Current, PV_TestTime, "
            "PV_StepTime, PV_StepIndex, PV_CycleIndex, PV_ChargeCapacity, ...",
            metavar="VAR...",
        ),
    ],
    channel: ChannelsOption = None,
    every: AllOption = False,
) -> None:
    """Read meta variables of channels in one GET_MV request (servers that have GET_MV:
    MitsX_2 and newer), one line per channel: ``channel N: VAR=VALUE ...``."""
    names: list[int | str] = [int(v) if v.strip().isdigit() else v for v in variables]
    target = channel_target(channel, every)
    with options.connect() as client:
        values = client.get_meta_variables(_EVERY if target is None else target, names)
    for number, per_channel in sorted(values.items()):
        text = " ".join(f"{name}={value:g}" for name, value in per_channel.items())
        sys.stdout.write(f"channel {number}: {text}\n")


def register(app: typer.Typer) -> None:
    """Add the control commands and the ``mv`` group to ``app``."""
    app.command("assign")(cycler_command(assign))
    app.command("start")(cycler_command(start))
    app.command("stop")(cycler_command(stop))
    app.command("resume")(cycler_command(resume))
    app.command("continue")(cycler_command(continue_))
    app.command("jump")(cycler_command(jump))
    mv_app = group_app("mv", "Meta variables: set MV_UD1..16 of running channels, or read them.")
    mv_app.command("set")(cycler_command(mv_set))
    mv_app.command("get")(cycler_command(mv_get))
    app.add_typer(mv_app, name="mv")

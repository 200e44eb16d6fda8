"""A multi-stage constant-current fast charge, run as a closed loop over CTI.

The cycler runs ``MV_Current.sdx``: its only step makes the channel current follow meta
variable MV_UD1 (amps, positive charges), with 2.8 V / 4.2 V limits that end the test. This
script is the controller: every period it reads the channels, decides the current, and writes
MV_UD1 through :class:`pyctiarbin.control.ControlLoop`.

The algorithm (:class:`StepDownFastCharge`) charges at 2C until the cell reaches ``v_max``,
then steps down to 1.5C, 1C and 0.5C, each until ``v_max`` again; after the last stage the
charge is complete and the test is stopped. Above ``derate_above_c`` (aux temperature), the
current is halved. Any fault (an exception, a value out of bounds, missed deadlines) zeroes
MV_UD1 and stops the test.

Run it against the built-in simulator (no cycler needed)::

    python examples/fast_charge.py --channels 1,2 --speed 120

or against a cycler (credentials from ARBIN_CTI_USERNAME / ARBIN_CTI_PASSWORD or ``.env``)::

    python examples/fast_charge.py --host 192.168.10.21 --port 9031 --channels 3 --period 1

The tests run :func:`fast_charge` against the simulator (tests/control/test_fast_charge_example.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from pyctiarbin import control
from pyctiarbin.client import AsyncCyclerClient
from pyctiarbin.shared import DEFAULT_PORT, parse_channel_spec

SCHEDULE = "MV_Current.sdx"


@dataclass
class StepDownFastCharge:
    """Multi-stage constant-current charging with temperature derating.

    One instance controls any number of channels (its state is kept per channel). ``stages``
    records, per channel, ``(stage index, elapsed_s, voltage_v)`` each time a stage begins.
    """

    capacity_ah: float
    c_rates: tuple[float, ...] = (2.0, 1.5, 1.0, 0.5)
    v_max: float = 4.1
    derate_above_c: float = 40.0
    derate_factor: float = 0.5
    stop_test_when_done: bool = True
    stages: dict[int, list[tuple[int, float, float]]] = field(default_factory=dict)

    def current_a(self, stage: int) -> float:
        return self.c_rates[stage] * self.capacity_ah

    @property
    def max_current_a(self) -> float:
        return max(self.c_rates) * self.capacity_ah

    def __call__(self, inp: control.ControlInput) -> float:
        history = self.stages.setdefault(inp.channel, [(0, inp.elapsed_s, inp.voltage_v)])
        stage = history[-1][0]
        # The reading shows the cell under the current written last time; once a stage has
        # brought it to v_max, move to the next (lower) current.
        if inp.setpoints and inp.voltage_v >= self.v_max:
            stage += 1
            if stage == len(self.c_rates):
                raise control.Done(
                    f"charged: {inp.voltage_v:.3f} V at {self.c_rates[-1]}C",
                    stop_test=self.stop_test_when_done,
                )
            history.append((stage, inp.elapsed_s, inp.voltage_v))
        current = self.current_a(stage)
        temperatures = inp.temperatures_c
        if temperatures and max(temperatures) > self.derate_above_c:
            current *= self.derate_factor
        return current


async def fast_charge(
    client: AsyncCyclerClient,
    channels: Sequence[int],
    algorithm: StepDownFastCharge,
    *,
    period_s: float = 1.0,
    records: list[control.ControlRecord] | None = None,
    csv_path: str | None = None,
    max_duration_s: float | None = None,
) -> control.ControlReport:
    """Assign MV_Current.sdx (MV_UD1 = 0 to begin with), start it, and run the loop."""
    await client.assign_schedule(list(channels), SCHEDULE, mv_ud=[0.0] * 16)
    await client.start(list(channels), "fast_charge")
    with contextlib.ExitStack() as stack:
        sinks = []
        if records is not None:
            sinks.append(records.append)
        if csv_path is not None:
            sinks.append(stack.enter_context(control.CsvRecorder(csv_path)))

        def record(rec: control.ControlRecord) -> None:
            for sink in sinks:
                sink(rec)

        loop = control.ControlLoop(
            client,
            channels,
            algorithm,
            period_s=period_s,
            bounds=(0.0, algorithm.max_current_a),
            safe_state=control.SafeState(mv=0.0, stop=True),
            aux=True,
            on_record=record,
            max_duration_s=max_duration_s,
        )
        return await loop.run()


@contextlib.contextmanager
def _cycler(args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    if args.host:
        yield args.host, args.port
        return
    from pyctiarbin.simulator import Simulator

    with Simulator(channels=max(args.channels), speed=args.speed) as sim:
        print(f"simulator on {sim.host}:{sim.port}, {args.speed:g}x speed")
        yield sim.host, sim.port


def _parse_channels(text: str) -> list[int]:
    return sorted(parse_channel_spec(text))


async def _main(args: argparse.Namespace, host: str, port: int) -> control.ControlReport:
    credentials = {} if args.host else {"username": "admin", "password": "admin"}
    async with AsyncCyclerClient(host, port, **credentials) as client:
        algorithm = StepDownFastCharge(capacity_ah=args.capacity)
        report = await fast_charge(
            client,
            args.channels,
            algorithm,
            period_s=args.period,
            csv_path=args.csv,
            max_duration_s=args.max_duration,
        )
        final = {s.channel: s for s in await client.read_channels(args.channels)}
    print(f"{'ch':>3}  {'outcome':<11} {'charged Ah':>10} {'V':>6}  stages (elapsed s)  reason")
    for channel, result in report.channels.items():
        stages = " ".join(
            f"{algorithm.c_rates[s]}C@{t:.1f}" for s, t, _ in algorithm.stages.get(channel, [])
        )
        status = final[channel]
        print(
            f"{channel:>3}  {result.outcome.value if result.outcome else '?':<11} "
            f"{status.charge_capacity_ah:>10.3f} {status.voltage_v:>6.3f}  {stages}  "
            f"{result.reason}"
        )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", help="cycler host (default: run the built-in simulator)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--channels", type=_parse_channels, default=[1], help="e.g. 1,2,5 or 1-4")
    parser.add_argument("--period", type=float, default=0.5, help="control period, s (>= 0.2)")
    parser.add_argument("--capacity", type=float, default=3.0, help="cell capacity, Ah")
    parser.add_argument("--speed", type=float, default=120.0, help="simulator speed factor")
    parser.add_argument("--csv", help="write every setpoint with its reading to this CSV file")
    parser.add_argument("--max-duration", type=float, default=None, help="stop after S seconds")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every setpoint")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        with _cycler(args) as (host, port):
            report = asyncio.run(_main(args, host, port))
    except KeyboardInterrupt:
        return 130
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

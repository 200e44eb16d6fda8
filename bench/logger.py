"""Logger benchmark: many simulated cyclers polled at a fixed interval into SQLite, against its
floor.

    python bench/logger.py                       # 16 cyclers x 128 channels, 1 s, 60 s
    python bench/logger.py --cyclers 4 --duration 20
    python bench/logger.py --db 'postgresql://postgres@127.0.0.1:5432/test?schema=bench'
    python bench/logger.py --mqtt                # the same run without, then with MQTT
    python bench/logger.py --mqtt mqtt://broker.lab/bench --duration 20

The simulators run in separate processes (``--sim-processes``, each serving several cyclers on
one event loop), so the CPU time measured in this process (``resource.getrusage``: the poller,
the listeners and the database thread) is the logger's alone. Figures printed:

* intervals missed (polls that could not start in their slot; goal 0) and gaps;
* readings stored, and CPU time per reading (user + system);
* the largest channel count one core sustains at 1 Hz: 1 s / (CPU time per reading);
* poll timing: jitter of the spacing between polls, drift from the grid over the run, and how
  long a poll took;
* the floor, measured in the same run on the same simulators: the same all-channel answers
  read from bare sockets, framed (checksum verified) and decoded by the protocol core's
  ``ChannelTable``, zipped into the same rows and inserted one transaction per interval (SQLite
  ``executemany``, PostgreSQL ``COPY``), with nothing else; then the logger's CPU per reading
  over the floor's (goal: at most 2.0).

With ``--mqtt [URL]`` (default ``mqtt://127.0.0.1:1883/pycti-bench``) the logger runs twice on
the same simulators, without and with publishing every reading to the broker, and the CPU time
per reading of both runs is compared (goal: publishing adds at most 25 %). ``--runs N`` repeats
the runs N times on the same simulators, interleaved, and prints the medians (the machine may be
shared).

This is a measurement, not a test: it prints and exits 0 unless the set-up fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyctiarbin.logger import READING_COLUMNS, CyclerSpec, Listener, Logger, ReadingBatch, open_sink
from pyctiarbin.logger.readings import aux_text, bms_text, smb_text
from pyctiarbin.logger.sinks import open_database
from pyctiarbin.protocol import (
    AuxOptions,
    ChannelInfoFeedback,
    ChannelInfoRequest,
    ChannelTable,
    FrameReader,
    LoginRequest,
    decode,
    encode,
)

USER, PASSWORD = "admin", "admin"


# -- the simulator processes -------------------------------------------------------------------


async def _serve(count: int, channels: int, speed: float) -> None:
    from pyctiarbin.simulator import Simulator

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        sims = [
            await stack.enter_async_context(
                Simulator(channels=channels, speed=speed, file_port=None, refresh_interval_s=0.5)
            )
            for _ in range(count)
        ]
        print(" ".join(str(sim.port) for sim in sims), flush=True)
        await stop.wait()


def start_simulators(
    processes: int, cyclers: int, channels: int
) -> tuple[list[subprocess.Popen[str]], list[int]]:
    procs: list[subprocess.Popen[str]] = []
    ports: list[int] = []
    per_process = [
        cyclers // processes + (1 if i < cyclers % processes else 0) for i in range(processes)
    ]
    for count in per_process:
        if not count:
            continue
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(count), "--channels", str(channels)],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
    for proc in procs:
        if proc.stdout is None:
            raise RuntimeError("no simulator output")
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("a simulator process did not start")
        ports.extend(int(p) for p in line.split())
    return procs, ports


def stop_simulators(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- measuring ---------------------------------------------------------------------------------


class Timing(Listener):
    """Records the time of each poll, per cycler, to measure jitter and drift of the grid."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.polls: dict[str, list[tuple[int, float]]] = {}

    async def on_readings(self, batch: ReadingBatch) -> None:
        self.polls.setdefault(batch.cycler.name, []).append(
            (batch.interval_index, batch.unix_time_s)
        )

    def jitter_s(self) -> list[float]:
        """|time between consecutive polls - interval * slots between them|, all cyclers."""
        out = []
        for polls in self.polls.values():
            for (k0, t0), (k1, t1) in itertools.pairwise(polls):
                out.append(abs((t1 - t0) - (k1 - k0) * self.interval_s))
        return sorted(out) or [0.0]

    def drift_s(self) -> float:
        """How far the grid moved over the run: the median offset from the grid of a cycler's
        last ten polls minus that of its first ten (latency noise cancels out), largest of
        all cyclers."""
        drift = 0.0
        for polls in self.polls.values():
            k0, t0 = polls[0]
            offsets = [t - t0 - (k - k0) * self.interval_s for k, t in polls]
            if len(offsets) >= 20:
                moved = statistics.median(offsets[-10:]) - statistics.median(offsets[:10])
                drift = max(drift, abs(moved))
        return drift


def cpu_s(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


async def run_logger(
    ports: list[int],
    interval_s: float,
    duration_s: float,
    db_path: Path,
    aux: bool,
    db_url: str | None = None,
    mqtt: str | None = None,
) -> dict[str, float]:
    specs = [
        CyclerSpec(f"sim{n:02d}", "127.0.0.1", port, USER, PASSWORD) for n, port in enumerate(ports)
    ]
    timing = Timing(interval_s)
    sink = open_sink(db_url or f"sqlite:///{db_path}")
    logger = Logger(specs, [sink, timing], interval_s=interval_s, aux=aux, mqtt=mqtt)
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    await logger.run(duration_s=duration_s)
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_SELF)
    health = logger.health()
    stats = sink.stats()
    cpu = cpu_s(after) - cpu_s(before)
    readings = stats.readings_written
    jitter = timing.jitter_s()
    latencies = [c.last_poll_latency_s or 0.0 for c in health.cyclers]
    published = dropped = unpublished = 0
    for listener in health.listeners:
        if listener.name == "MqttPublisher":
            published = listener.stats.published
            dropped = listener.stats.dropped
            unpublished = listener.stats.unpublished
    return {
        "mqtt_published": published,
        "mqtt_dropped": dropped,
        "mqtt_unpublished": unpublished,
        "cyclers": len(ports),
        "channels": sum(c.num_channels for c in health.cyclers),
        "wall_s": wall,
        "cpu_s": cpu,
        "user_s": after.ru_utime - before.ru_utime,
        "sys_s": after.ru_stime - before.ru_stime,
        "polls": sum(c.polls for c in health.cyclers),
        "readings": readings,
        "missed": sum(c.missed_intervals for c in health.cyclers),
        "gaps": sum(c.gaps for c in health.cyclers),
        "errors": sum(c.errors for c in health.cyclers),
        "backlog": stats.backlog_rows,
        "jitter_median_ms": statistics.median(jitter) * 1e3,
        "jitter_p99_ms": jitter[min(len(jitter) - 1, int(0.99 * len(jitter)))] * 1e3,
        "jitter_max_ms": jitter[-1] * 1e3,
        "drift_ms": timing.drift_s() * 1e3,
        "poll_latency_median_ms": statistics.median(latencies) * 1e3,
        "db_mb": db_path.stat().st_size / 1e6 if db_path.exists() else 0.0,
    }


# -- the floor ---------------------------------------------------------------------------------


def floor_rows(cycler: str, unix_time_s: float, table: ChannelTable) -> list[tuple[Any, ...]]:
    """The ``readings`` rows of one answer with nothing but what storing them takes: the
    columns zipped, the status as its label, aux/BMS/SMB as the JSON text the database holds
    (no test ids, no check for numbers that are not finite)."""
    count = len(table)
    return list(
        zip(
            itertools.repeat(cycler, count),
            table.channel,
            itertools.repeat(unix_time_s, count),
            itertools.repeat(None, count),
            [status.label for status in table["status"]],
            *(table[name] for name in READING_COLUMNS[5:-3]),
            map(aux_text, table["aux"]),
            map(bms_text, table["bms"]),
            map(smb_text, table["smb"]),
            strict=True,
        )
    )


class _RawCycler:
    """One blocking socket: logged in once, then the all-channel request and its answer."""

    def __init__(self, name: str, port: int, request: bytes) -> None:
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = FrameReader("client")
        self.request = request
        self.sock.sendall(encode(LoginRequest(USER, PASSWORD)))
        self.next_frame()

    def next_frame(self) -> bytes:
        reader, sock = self.reader, self.sock
        while (frame := reader.next_frame()) is None:
            data = sock.recv(1 << 20)
            if not data:
                raise ConnectionError(f"{self.name}: the simulator closed the connection")
            reader.feed(data)
        return frame

    def read_table(self) -> ChannelTable:
        feedback = decode(self.next_frame(), verify_checksum=False)
        if not isinstance(feedback, ChannelInfoFeedback):
            raise RuntimeError(f"{self.name}: unexpected answer {type(feedback).__name__}")
        return feedback.table


def _floor_inserter(
    db_url: str,
) -> tuple[Callable[[list[tuple[Any, ...]]], None], Callable[[], None]]:
    """An insert of one batch of rows (SQLite: executemany; PostgreSQL: COPY) into the
    logger's own tables, and a close. The database object only creates the schema."""
    database = open_database(db_url)
    database.connect()
    database.disconnect()
    columns = ", ".join(READING_COLUMNS)
    if db_url.startswith("sqlite"):
        from pyctiarbin.logger.sinks.sqlite import path_from_url

        db = sqlite3.connect(path_from_url(db_url), isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")
        marks = ", ".join("?" for _ in READING_COLUMNS)
        insert = f"INSERT OR IGNORE INTO readings ({columns}) VALUES ({marks})"

        def write_sqlite(rows: list[tuple[Any, ...]]) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(insert, rows)
            db.execute("COMMIT")

        return write_sqlite, db.close
    import psycopg

    from pyctiarbin.logger.sinks.postgres import split_url

    url, schema = split_url(db_url)
    conn = psycopg.connect(url)
    copy_sql = f'COPY "{schema}".readings ({columns}) FROM STDIN'

    def write_postgres(rows: list[tuple[Any, ...]]) -> None:
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)

    return write_postgres, conn.close


def run_floor(
    ports: list[int], interval_s: float, duration_s: float, db_url: str, aux: bool
) -> dict[str, float]:
    """The floor: the same all-channel answers from the same simulators, read from bare
    sockets, decoded (framing with its checksum, then the protocol core's ChannelTable decode)
    and inserted one transaction per interval, on the same grid as the logger. Nothing else."""
    request = encode(ChannelInfoRequest(-1, 1, int(AuxOptions.ALL) if aux else 0))
    cyclers = [_RawCycler(f"floor{n:02d}", port, request) for n, port in enumerate(ports)]
    write, close = _floor_inserter(db_url)
    readings = missed = 0
    try:
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.monotonic()
        slot = 0
        while slot * interval_s < duration_s:
            delay = start + slot * interval_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -interval_s:
                skipped = int(-delay // interval_s)
                missed += skipped
                slot += skipped
                continue
            sent_s = time.time()
            for cycler in cyclers:
                cycler.sock.sendall(cycler.request)
            rows: list[tuple[Any, ...]] = []
            for cycler in cyclers:
                rows += floor_rows(cycler.name, sent_s, cycler.read_table())
            write(rows)
            readings += len(rows)
            slot += 1
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        close()
        for cycler in cyclers:
            cycler.sock.close()
    return {
        "cpu_s": cpu_s(after) - cpu_s(before),
        "readings": readings,
        "missed": missed,
        "wall_s": wall,
    }


def per_reading_us(r: dict[str, float]) -> float:
    """CPU time per reading stored, in microseconds."""
    return r["cpu_s"] / r["readings"] * 1e6 if r["readings"] else float("nan")


def report(label: str, r: dict[str, float], interval_s: float) -> None:
    per_reading = per_reading_us(r)
    sustained = int(1e6 / per_reading) if r["readings"] else 0
    expected_polls = r["cyclers"] * (r["wall_s"] / interval_s)
    print(f"\n== {label}")
    print(
        f"cyclers x channels        {int(r['cyclers'])} x {int(r['channels'] / r['cyclers'])}"
        f" = {int(r['channels'])} channels, every {interval_s:g} s, {r['wall_s']:.1f} s"
    )
    print(f"polls                     {int(r['polls'])} (about {expected_polls:.0f} slots)")
    print(
        f"intervals missed          {int(r['missed'])}   gaps {int(r['gaps'])}   "
        f"poll errors {int(r['errors'])}   backlog at end {int(r['backlog'])}"
    )
    size = f"  ({r['db_mb']:.1f} MB of SQLite)" if r["db_mb"] else ""
    print(f"readings stored           {int(r['readings'])}{size}")
    print(
        f"logger CPU                {r['cpu_s']:.2f} s (user {r['user_s']:.2f}, "
        f"sys {r['sys_s']:.2f}) = {100 * r['cpu_s'] / r['wall_s']:.1f} % of one core"
    )
    print(f"CPU per reading           {per_reading:.1f} us")
    print(f"one core sustains         ~{sustained} channels at 1 Hz")
    print(
        f"poll spacing jitter       median {r['jitter_median_ms']:.1f} ms, "
        f"p99 {r['jitter_p99_ms']:.1f} ms, max {r['jitter_max_ms']:.1f} ms; "
        f"grid drift over the run {r['drift_ms']:.1f} ms"
    )
    print(f"poll round trip (median)  {r['poll_latency_median_ms']:.1f} ms")
    if r["mqtt_published"]:
        print(
            f"MQTT messages published   {int(r['mqtt_published'])} (dropped "
            f"{int(r['mqtt_dropped'])}, not published at stop {int(r['mqtt_unpublished'])})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--cyclers", type=int, default=16)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--sim-processes", type=int, default=2)
    parser.add_argument("--no-aux", action="store_true", help="do not read aux/BMS/SMB values")
    parser.add_argument(
        "--db", help="database URL (default: a temporary SQLite file); e.g. postgresql://..."
    )
    parser.add_argument(
        "--mqtt",
        nargs="?",
        const="mqtt://127.0.0.1:1883/pycti-bench",
        help="also run with publishing to this broker and compare (default URL: %(const)s)",
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat the runs on the same simulators, print medians"
    )
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve, args.channels, 1.0))
        return 0

    print(
        f"starting {args.cyclers} simulators of {args.channels} channels in "
        f"{args.sim_processes} process(es); {os.cpu_count()} CPUs on this machine"
    )
    procs, ports = start_simulators(args.sim_processes, args.cyclers, args.channels)
    kinds = ("logger", "mqtt", "floor") if args.mqtt else ("logger", "floor")
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    try:
        for _run in range(max(1, args.runs)):
            for kind in kinds:
                with tempfile.TemporaryDirectory(prefix="pycti-bench-") as tmp:
                    db_path = Path(tmp) / "bench.db"
                    if kind == "floor":
                        result = run_floor(
                            ports,
                            args.interval,
                            args.duration,
                            args.db or f"sqlite:///{db_path}",
                            not args.no_aux,
                        )
                    else:
                        result = asyncio.run(
                            run_logger(
                                ports,
                                args.interval,
                                args.duration,
                                db_path,
                                not args.no_aux,
                                args.db,
                                args.mqtt if kind == "mqtt" else None,
                            )
                        )
                    results[kind].append(result)
    finally:
        stop_simulators(procs)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    target = "PostgreSQL" if args.db and args.db.startswith("postgres") else "SQLite"
    label = f"logger into {target}{' (no aux)' if args.no_aux else ''}"
    report(label, results["logger"][0], args.interval)
    if args.mqtt:
        report(f"{label} and MQTT {args.mqtt}", results["mqtt"][0], args.interval)
    us = {kind: [per_reading_us(r) for r in runs] for kind, runs in results.items()}
    print()
    for n, (ours, floor) in enumerate(zip(us["logger"], us["floor"], strict=True), 1):
        print(
            f"floor, run {n}              CPU per reading: logger {ours:.1f} us, "
            f"floor {floor:.1f} us, logger/floor {ours / floor:.2f}"
        )
    ratios = [ours / floor for ours, floor in zip(us["logger"], us["floor"], strict=True)]
    median_us = statistics.median(us["logger"])
    missed = sum(int(r["missed"]) for r in results["logger"])
    floor_missed = sum(int(r["missed"]) for r in results["floor"])
    print(
        f"floor, median             CPU per reading: logger {median_us:.1f} us, floor "
        f"{statistics.median(us['floor']):.1f} us, logger/floor "
        f"{statistics.median(ratios):.2f} (median of the runs' ratios; goal: at most 2.0)"
    )
    print(
        f"one core at 1 Hz          ~{int(1e6 / median_us)} channels (1 s / median CPU per "
        f"reading; intervals missed in these runs: logger {missed}, floor {floor_missed})"
    )
    if args.mqtt:
        print()
        pairs_us = list(zip(us["logger"], us["mqtt"], strict=True))
        for n, (without, with_mqtt) in enumerate(pairs_us, 1):
            print(
                f"MQTT publishing, run {n}    CPU per reading {without:.1f} us -> "
                f"{with_mqtt:.1f} us: +{100 * (with_mqtt / without - 1):.0f} %"
            )
        mqtt_ratios = [b / a for a, b in pairs_us]
        print(
            f"MQTT publishing, median   CPU per reading {median_us:.1f} us -> "
            f"{statistics.median(us['mqtt']):.1f} us: "
            f"+{100 * (statistics.median(mqtt_ratios) - 1):.0f} % (median of the runs' ratios; "
            f"goal: at most +25 %)"
        )
    print(f"simulator processes CPU   {cpu_s(children):.1f} s (sharing the same cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

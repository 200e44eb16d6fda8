"""Client speed, side by side in one run: ours, pycti-arbin 0.0.13, and the raw-socket floor.

Against one 200-channel simulator (``python -m pyctiarbin.simulator`` in its own process):

* single-channel status round trip: ``CyclerClient.read_channel`` vs the seed's
  ``CyclerInterface.read_channel_status`` vs a bare socket sending the same 62-byte request
  and reading the 1779-byte answer (no decoding);
* whole-cycler scan: ``CyclerClient.read_channels()`` (one request) vs the seed's 200
  sequential reads (it has no other way) vs a bare socket doing the one all-channel request.
  A third row times the scan with a field of every status read, as a caller would (the seed's
  dicts and the floor are the same as for the scan).

Medians of per-call wall times; the machine is shared, so compare ratios within one run.

    python bench/client.py [--channels 200] [--single 300] [--scans 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _seed import seed_python
from pyctiarbin import CyclerClient
from pyctiarbin.protocol import ChannelInfoRequest, encode, framing

USER, PASSWORD = "bench", "bench-pass"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# glibc moves its mmap threshold as large blocks come and go, so a simulator that builds 350 KB
# answers serves them in about 250 us or in over 500 us depending on its allocation history;
# the floor would swing with it. Fixed thresholds keep the simulator at its fast, steady speed
# (the floor is then the lower of the two), for every row alike.
STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "4000000", "MALLOC_TRIM_THRESHOLD_": "16000000"}


def start_simulator(channels: int) -> tuple[subprocess.Popen[bytes], int]:
    port, file_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyctiarbin.simulator",
            "--channels",
            str(channels),
            "--port",
            str(port),
            "--file-port",
            str(file_port),
            "--users",
            f"{USER}:{PASSWORD}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **STEADY_MALLOC},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the simulator did not start")


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


class Ours:
    def __init__(self, port: int, channel: int) -> None:
        self.client = CyclerClient("127.0.0.1", port, username=USER, password=PASSWORD)
        self.client.connect()
        self.channel = channel

    def single(self, count: int) -> list[float]:
        read, channel, times = self.client.read_channel, self.channel, []
        for _ in range(count):
            start = time.perf_counter()
            read(channel)
            times.append(time.perf_counter() - start)
        return times

    def scan(self, count: int, *, read: bool = False) -> list[float]:
        times = []
        for _ in range(count):
            start = time.perf_counter()
            statuses = self.client.read_channels()
            if read:
                for status in statuses:
                    status.voltage_v  # noqa: B018 - what a caller of a scan does next
            times.append(time.perf_counter() - start)
        if len(statuses) != self.client.num_channels:
            raise RuntimeError("a scan missed channels")
        return times

    def close(self) -> None:
        self.client.close()


def _read_frame(sock: socket.socket) -> int:
    header = b""
    while len(header) < 12:
        header += sock.recv(12 - len(header))
    total = int.from_bytes(header[8:12], "little")
    received = len(header)
    while received < total:
        received += len(sock.recv(min(1 << 18, total - received)))
    return total


class Floor:
    """A bare socket: the same requests, the answers read by length and not decoded."""

    def __init__(self, port: int, channel: int) -> None:
        from pyctiarbin.protocol import LoginRequest

        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(encode(LoginRequest(USER, PASSWORD)))
        _read_frame(self.sock)
        self.one = encode(ChannelInfoRequest(channel - 1))
        self.every = encode(ChannelInfoRequest(-1))
        self.scan_bytes = 0

    def _timed(self, request: bytes, count: int) -> list[float]:
        sock, times = self.sock, []
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(request)
            self.scan_bytes = _read_frame(sock)
            times.append(time.perf_counter() - start)
        return times

    def single(self, count: int) -> list[float]:
        return self._timed(self.one, count)

    def scan(self, count: int) -> list[float]:
        return self._timed(self.every, count)

    def close(self) -> None:
        self.sock.close()


# The seed runs in its own venv; this worker answers "single N" / "scan N" lines on stdin with
# the per-call times as JSON, so its rounds interleave with ours on the same simulator.
SEED_WORKER = """
import json, sys, time
from pyctiarbin import CyclerInterface
cycler = CyclerInterface({{"ip_address": "127.0.0.1", "port": {port}, "timeout_s": 10}},
                         env_path={env!r})
channels = cycler.get_num_channels()
status = cycler.read_channel_status({channel})
assert status["channel"] == {channel} - 1, status
print("ready", flush=True)
for line in sys.stdin:
    what, count = line.split()
    times = []
    for _ in range(int(count)):
        start = time.perf_counter()
        if what == "single":
            cycler.read_channel_status({channel})
        else:
            for ch in range(1, channels + 1):
                cycler.read_channel_status(ch)
        times.append(time.perf_counter() - start)
    print(json.dumps(times), flush=True)
"""


class Seed:
    def __init__(self, port: int, channel: int, workdir: str) -> None:
        env = Path(workdir) / ".env"
        env.write_text(f"ARBIN_CTI_USERNAME={USER}\nARBIN_CTI_PASSWORD={PASSWORD}\n")
        os.chmod(env, 0o600)
        code = SEED_WORKER.format(port=port, env=str(env), channel=channel)
        self.proc = subprocess.Popen(
            [str(seed_python()), "-I", "-c", code],
            cwd=workdir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the seed worker did not start")

    def _ask(self, what: str, count: int) -> list[float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{what} {count}\n")
        self.proc.stdin.flush()
        times: list[float] = json.loads(self.proc.stdout.readline())
        return times

    def single(self, count: int) -> list[float]:
        return self._ask("single", count)

    def scan(self, count: int) -> list[float]:
        return self._ask("scan", count)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--channel", type=int, default=7, help="channel for single reads")
    parser.add_argument("--single", type=int, default=1000, help="single reads per client")
    parser.add_argument("--scans", type=int, default=3, help="whole-cycler scans per round")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    proc, port = start_simulator(args.channels)
    results: dict[str, dict[str, list[float]]] = {
        name: {"single": [], "scan": []} for name in ("ours", "seed", "floor")
    }
    results["ours"]["scan_read"] = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            contenders = {
                "floor": Floor(port, args.channel),
                "ours": Ours(port, args.channel),
                "seed": Seed(port, args.channel, workdir),
            }
            try:
                for contender in contenders.values():  # warm up
                    contender.single(20)
                # Rounds interleave the three, so load on the shared machine hits them alike.
                for _ in range(args.rounds):
                    for name, contender in contenders.items():
                        results[name]["single"] += contender.single(args.single // args.rounds)
                        scans = args.scans if name != "seed" else max(1, args.scans // 5)
                        results[name]["scan"] += contender.scan(scans)
                        if isinstance(contender, Ours):
                            results[name]["scan_read"] += contender.scan(scans, read=True)
            finally:
                for contender in contenders.values():
                    contender.close()
    finally:
        proc.terminate()
        proc.wait(10)
    ours = {key + "_us": median_us(v) for key, v in results["ours"].items()}
    seed = {key + "_us": median_us(v) for key, v in results["seed"].items()}
    floor = {key + "_us": median_us(v) for key, v in results["floor"].items()}
    floor["scan_bytes"] = float(contenders["floor"].scan_bytes)  # type: ignore[attr-defined]
    seed["scan_read_us"], floor["scan_read_us"] = seed["scan_us"], floor["scan_us"]

    print(
        f"Client benchmark: {args.channels}-channel simulator, medians per operation "
        f"(checksum backend {framing.checksum_backend()})"
    )
    print(
        f"{'operation':<34}{'ours':>12}{'seed 0.0.13':>14}{'raw floor':>12}"
        f"{'seed/ours':>11}{'ours/floor':>12}"
    )
    rows = [
        ("single-channel read (µs)", "single_us"),
        (f"whole-cycler scan, {args.channels} ch (µs)", "scan_us"),
        ("  the same, every status read (µs)", "scan_read_us"),
    ]
    for label, key in rows:
        print(
            f"{label:<34}{ours[key]:>12.1f}{seed[key]:>14.1f}{floor[key]:>12.1f}"
            f"{seed[key] / ours[key]:>10.1f}x{ours[key] / floor[key]:>11.2f}x"
        )
    print(
        "seed scan = its 200 sequential single reads; ours and floor = one all-channel request"
        f" ({int(floor['scan_bytes'])} bytes)"
    )
    if args.json:
        print(json.dumps({"ours": ours, "seed": seed, "floor": floor}))


if __name__ == "__main__":
    main()

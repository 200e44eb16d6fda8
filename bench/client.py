"""Client speed, side by side in one run: ours, pycti-arbin 0.0.13, and the raw-socket floor.

Against one 200-channel simulator (``python -m pyctiarbin.simulator`` in its own process):

* single-channel status round trip: ``CyclerClient.read_channel`` vs the seed's
  ``CyclerInterface.read_channel_status`` vs a bare socket sending the same 62-byte request
  and reading the 1779-byte answer (no decoding);
* whole-cycler scan: ``CyclerClient.read_channels()`` (one request) vs the seed's 200
  sequential reads (it has no other way) vs a bare socket doing the one all-channel request.

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

from _seed import run_in_seed
from pyctiarbin import CyclerClient
from pyctiarbin.protocol import ChannelInfoRequest, encode

USER, PASSWORD = "bench", "bench-pass"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def bench_ours(port: int, channel: int, single: int, scans: int) -> dict[str, float]:
    with CyclerClient("127.0.0.1", port, username=USER, password=PASSWORD) as client:
        for _ in range(20):
            client.read_channel(channel)
        times = []
        for _ in range(single):
            start = time.perf_counter()
            client.read_channel(channel)
            times.append(time.perf_counter() - start)
        scan_times = []
        for _ in range(scans):
            start = time.perf_counter()
            statuses = client.read_channels()
            scan_times.append(time.perf_counter() - start)
        assert len(statuses) == client.num_channels
    return {"single_us": median_us(times), "scan_us": median_us(scan_times)}


def _read_frame(sock: socket.socket) -> int:
    header = b""
    while len(header) < 12:
        header += sock.recv(12 - len(header))
    total = int.from_bytes(header[8:12], "little")
    received = len(header)
    while received < total:
        received += len(sock.recv(min(1 << 18, total - received)))
    return total


def bench_floor(port: int, channel: int, single: int, scans: int) -> dict[str, float]:
    from pyctiarbin.protocol import LoginRequest

    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(encode(LoginRequest(USER, PASSWORD)))
        _read_frame(sock)
        one = encode(ChannelInfoRequest(channel - 1))
        every = encode(ChannelInfoRequest(-1))
        for _ in range(20):
            sock.sendall(one)
            _read_frame(sock)
        times = []
        for _ in range(single):
            start = time.perf_counter()
            sock.sendall(one)
            _read_frame(sock)
            times.append(time.perf_counter() - start)
        scan_times = []
        for _ in range(scans):
            start = time.perf_counter()
            sock.sendall(every)
            size = _read_frame(sock)
            scan_times.append(time.perf_counter() - start)
    return {"single_us": median_us(times), "scan_us": median_us(scan_times), "scan_bytes": size}


SEED_SNIPPET = """
import json, statistics, time
from pyctiarbin import CyclerInterface
cycler = CyclerInterface({{"ip_address": "127.0.0.1", "port": {port}, "timeout_s": 10}},
                         env_path={env!r})
for _ in range(20):
    cycler.read_channel_status({channel})
times = []
for _ in range({single}):
    start = time.perf_counter()
    status = cycler.read_channel_status({channel})
    times.append(time.perf_counter() - start)
assert status["channel"] == {channel} - 1, status
scans = []
for _ in range({scans}):
    start = time.perf_counter()
    for ch in range(1, cycler.get_num_channels() + 1):
        cycler.read_channel_status(ch)
    scans.append(time.perf_counter() - start)
print(json.dumps({{"single_us": statistics.median(times) * 1e6,
                   "scan_us": statistics.median(scans) * 1e6}}))
"""


def bench_seed(port: int, channel: int, single: int, scans: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = Path(tmp) / ".env"
        env.write_text(f"ARBIN_CTI_USERNAME={USER}\nARBIN_CTI_PASSWORD={PASSWORD}\n")
        os.chmod(env, 0o600)
        snippet = SEED_SNIPPET.format(
            port=port, env=str(env), channel=channel, single=single, scans=scans
        )
        result: dict[str, float] = run_in_seed(snippet)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--channel", type=int, default=7, help="channel for single reads")
    parser.add_argument("--single", type=int, default=300, help="single reads per client")
    parser.add_argument("--scans", type=int, default=15, help="whole-cycler scans per client")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    proc, port = start_simulator(args.channels)
    try:
        floor = bench_floor(port, args.channel, args.single, args.scans)
        ours = bench_ours(port, args.channel, args.single, args.scans)
        seed = bench_seed(port, args.channel, args.single, max(3, args.scans // 5))
    finally:
        proc.terminate()
        proc.wait(10)

    print(f"Client benchmark: {args.channels}-channel simulator, medians per operation")
    print(
        f"{'operation':<34}{'ours':>12}{'seed 0.0.13':>14}{'raw floor':>12}"
        f"{'seed/ours':>11}{'ours/floor':>12}"
    )
    rows = [
        ("single-channel read (µs)", "single_us"),
        (f"whole-cycler scan, {args.channels} ch (µs)", "scan_us"),
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

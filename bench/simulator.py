"""Simulator speed: requests served per second, ours vs pycti-arbin 0.0.13's ArbinSpoofer.

Both servers run in their own process (ours: ``python -m pyctiarbin.simulator``; the seed's
``ArbinSpoofer`` in the seed's venv, see ``_seed.py``) with the same number of channels. One
raw-socket client, the same for both, logs in and sends the same 62-byte GET_CHANNELS_INFO
request for one channel, reading each answer by its length field (no decoding; it skips the
two stray bytes the seed's spoofer appends to every frame). Measured:

* one client, sequential round trips: requests per second in ``--rounds`` windows of
  ``--window`` seconds, median;
* ``--clients`` clients at once, each in its own thread, for ``--window`` seconds: total
  requests per second, median of ``--rounds`` runs.

The machine is shared, so compare the ratio within one run.

    python bench/simulator.py [--channels 16] [--clients 8] [--rounds 5] [--window 1.0]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import threading
import time

from _seed import seed_python
from pyctiarbin.protocol import ChannelInfoRequest, LoginRequest, encode
from pyctiarbin.protocol.framing import TOKEN_BYTES
from pyctiarbin.simulator.process import SimulatorProcess

USER, PASSWORD = "bench", "bench-pass"

SEED_SERVER = r"""
import sys
from pyctiarbin.arbinspoofer.arbin_spoofer import ArbinSpoofer
spoofer = ArbinSpoofer({"ip": "127.0.0.1", "port": int(sys.argv[1]),
                        "num_channels": int(sys.argv[2])})
spoofer.start()
print("ready", flush=True)
sys.stdin.read()  # until the benchmark closes our standard input
spoofer.stop()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RawClient:
    """The same minimal client for both servers: send bytes, read one frame by its length."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()

    def round_trip(self, request: bytes) -> int:
        self.sock.sendall(request)
        buffer = self.buffer
        while True:
            start = buffer.find(TOKEN_BYTES)
            if start > 0:  # stray bytes before the frame
                del buffer[:start]
            if len(buffer) >= 12 and buffer.startswith(TOKEN_BYTES):
                size = int.from_bytes(buffer[8:12], "little")
                if len(buffer) >= size >= 12:
                    del buffer[:size]
                    return size
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("the server closed the connection")
            buffer += data

    def close(self) -> None:
        self.sock.close()


LOGIN = encode(LoginRequest(username=USER, password=PASSWORD))
REQUEST = encode(ChannelInfoRequest(channel_index=5))


def connect(port: int) -> RawClient:
    client = RawClient(port)
    client.round_trip(LOGIN)
    for _ in range(200):  # warm-up
        client.round_trip(REQUEST)
    return client


def sequential_rate(port: int, rounds: int, window_s: float) -> float:
    client = connect(port)
    rates = []
    try:
        for _ in range(rounds):
            count = 0
            start = time.perf_counter()
            end = start + window_s
            while time.perf_counter() < end:
                client.round_trip(REQUEST)
                count += 1
            rates.append(count / (time.perf_counter() - start))
    finally:
        client.close()
    return statistics.median(rates)


def _hammer(
    client: RawClient, barrier: threading.Barrier, stop_at: list[float], counts: list[int], n: int
) -> None:
    barrier.wait()
    while time.perf_counter() < stop_at[0]:
        client.round_trip(REQUEST)
        counts[n] += 1


def concurrent_rate(port: int, clients: int, rounds: int, window_s: float) -> float:
    rates = []
    for _ in range(rounds):
        connections = [connect(port) for _ in range(clients)]
        counts = [0] * clients
        barrier = threading.Barrier(clients + 1)
        stop_at: list[float] = []
        threads = [
            threading.Thread(target=_hammer, args=(client, barrier, stop_at, counts, n))
            for n, client in enumerate(connections)
        ]
        for thread in threads:
            thread.start()
        start = time.perf_counter()
        stop_at.append(start + window_s)
        barrier.wait()
        for thread in threads:
            thread.join()
        rates.append(sum(counts) / (time.perf_counter() - start))
        for client in connections:
            client.close()
    return statistics.median(rates)


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def measure(port: int, args: argparse.Namespace) -> tuple[float, float]:
    return (
        sequential_rate(port, args.rounds, args.window),
        concurrent_rate(port, args.clients, args.rounds, args.window),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = {"--channels": 16, "--clients": 8, "--rounds": 5, "--window": 1.0}
    for option, default in defaults.items():
        parser.add_argument(option, type=type(default), default=default)
    args = parser.parse_args()

    with SimulatorProcess(
        ["--channels", str(args.channels), "--users", f"{USER}:{PASSWORD}", "--no-file-port"]
    ) as ours:
        our_rates = measure(ours.port, args)

    seed_port = free_port()
    seed = subprocess.Popen(
        [str(seed_python()), "-I", "-c", SEED_SERVER, str(seed_port), str(args.channels)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert seed.stdout is not None and seed.stdin is not None
        if seed.stdout.readline().strip() != "ready":
            raise RuntimeError("the seed's ArbinSpoofer did not start")
        wait_for_port(seed_port)
        seed_rates = measure(seed_port, args)
    finally:
        if seed.stdin is not None:
            seed.stdin.close()
        try:
            seed.wait(15)
        except subprocess.TimeoutExpired:
            seed.kill()
            seed.wait()

    print(
        f"Simulator throughput: GET_CHANNELS_INFO for one channel ({len(REQUEST)}-byte request),"
        f" {args.channels}-channel cycler, same raw-socket client; medians of {args.rounds}"
        f" x {args.window:g} s"
    )
    print(f"python {sys.version.split()[0]}")
    header = f"{'':<26}{'ours (asyncio)':>16}{'pycti-arbin 0.0.13':>22}{'ratio':>9}"
    print(header)
    print("-" * len(header))
    labels = ("1 client, sequential", f"{args.clients} clients, concurrent")
    for label, mine, theirs in zip(labels, our_rates, seed_rates, strict=True):
        print(f"{label:<26}{mine:>12.0f} r/s{theirs:>18.0f} r/s{mine / theirs:>8.2f}x")


if __name__ == "__main__":
    main()

"""Simulator memory under hostile clients: peak resident memory of a ``pycti sim`` process.

Each attack runs against a fresh simulator process (``python -m pyctiarbin.simulator``), and the
figure is its peak resident set (``VmHWM`` from ``/proc``, so Linux only), next to the idle one:

* ``frames``: ``--connections`` connections on the control port, no LOGIN, each sending all but
  100 bytes of an 8 MiB frame;
* ``frames-login``: the same after a LOGIN on each connection;
* ``frames-file-port``: the same on the file port (which needs no LOGIN);
* ``uploads``: one file-port connection, no LOGIN, starting ``--uploads`` uploads of 4 MiB
  (8 chunks of 512 KiB) and sending all but their last chunk.

    python bench/simulator_memory.py [--memory-budget 128] [--connections 50] [--uploads 100]
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pyctiarbin.protocol import LoginFeedback, LoginRequest, UploadFileRequest, decode, encode
from pyctiarbin.protocol.framing import TOKEN_BYTES, FrameReader
from pyctiarbin.simulator.process import SimulatorProcess

MIB = 1024 * 1024
CHANNEL_INFO = 0xEEAB0003


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def send_quietly(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
    except OSError:  # the simulator closed the connection: what this benchmark looks for
        return False
    return True


def login(sock: socket.socket) -> None:
    sock.sendall(encode(LoginRequest(username="admin", password="admin")))
    framer = FrameReader(role="client")
    while (frame := framer.next_frame()) is None:
        framer.feed(sock.recv(65536))
    if not isinstance(decode(frame), LoginFeedback):
        raise RuntimeError("no login feedback")


def partial_frames(port: int, connections: int, do_login: bool) -> tuple[list[socket.socket], int]:
    size = 8 * MIB
    head = TOKEN_BYTES + struct.pack("<III", size - 12, CHANNEL_INFO, 0)
    data = head + b"\x01" * (size - 100 - len(head))
    socks, closed = [], 0
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        if do_login:
            login(sock)
        socks.append(sock)
        closed += not send_quietly(sock, data)
    return socks, closed


def uploads(port: int, count: int) -> tuple[list[socket.socket], int]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    chunk = b"\x02" * (512 * 1024)
    digest = hashlib.md5(chunk).digest()
    refused = 0
    framer = FrameReader(role="client")
    for number in range(count):
        for index in range(7):
            request = UploadFileRequest(
                path=f"Work/f{number}.txt",
                package_count=8,
                package_index=index,
                upload_time=float(number + 1),
                md5=digest,
                data=chunk,
            )
            sock.sendall(encode(request))
            while (frame := framer.next_frame()) is None:
                framer.feed(sock.recv(65536))
            refused += getattr(decode(frame), "result", 0) != 1
    return [sock], refused


def run(name: str, args: argparse.Namespace, attack: Callable[[SimulatorProcess], str]) -> None:
    options = ["--memory-budget", str(args.memory_budget), "--channels", "2"]
    with SimulatorProcess(options) as sim:
        assert sim.pid is not None
        idle = peak_rss_mb(sim.pid)
        note = attack(sim)
        time.sleep(0.5)
        peak = peak_rss_mb(sim.pid)
    print(f"{name:18} idle {idle:6.0f} MB   peak {peak:6.0f} MB   {note}")


def main() -> int:
    if not Path("/proc/self/status").exists():
        print("needs /proc (Linux)", file=sys.stderr)
        return 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-budget", type=float, default=128.0, metavar="MIB")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--uploads", type=int, default=100)
    args = parser.parse_args()
    print(f"memory budget {args.memory_budget:g} MiB")

    def frames(do_login: bool, file_port: bool) -> Callable[[SimulatorProcess], str]:
        def attack(sim: SimulatorProcess) -> str:
            port = sim.file_port if file_port and sim.file_port else sim.port
            socks, closed = partial_frames(port, args.connections, do_login)
            time.sleep(0.5)
            for sock in socks:
                sock.close()
            return f"{closed} of {args.connections} connections closed while sending"

        return attack

    def upload_attack(sim: SimulatorProcess) -> str:
        assert sim.file_port is not None
        socks, refused = uploads(sim.file_port, args.uploads)
        for sock in socks:
            sock.close()
        return f"{refused} of {7 * args.uploads} chunks refused"

    run("frames", args, frames(False, False))
    run("frames-login", args, frames(True, False))
    run("frames-file-port", args, frames(False, True))
    run("uploads", args, upload_attack)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

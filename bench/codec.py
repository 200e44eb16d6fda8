"""Codec benchmark: our protocol layer vs pycti-arbin 0.0.13 (the seed), side by side.

Times decoding and encoding of the real captured channel-info feedback
(``tests/data/captures/server_channel_info_msg.bin``, one channel, 1779 bytes) with ours
and with the seed (in its own venv, see ``_seed.py``), plus a 16-channel feedback (28074 bytes,
as MITS 10 sends) for ours alone: the seed cannot decode more than one record.

Both sides are timed by the same code (``timeit``: ``autorange`` picks the loop count, then
several repeats) on the same interpreter version; the table shows the MEDIAN time per call.

    python bench/codec.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

from _seed import SEED_SPEC, run_in_seed
from pyctiarbin.protocol import ChannelInfoFeedback, decode, encode, framing

REPO_ROOT = Path(__file__).resolve().parents[1]
CAPTURE = REPO_ROOT / "tests" / "data" / "captures" / "server_channel_info_msg.bin"
GOAL_DECODE_RATIO = 25.0

# The one timing routine, run here for ours and in the seed's interpreter for theirs. It times
# one repeat; main() alternates the two sides repeat by repeat, so that load from other
# processes on the machine falls on both alike.
MEASURE_SOURCE = """
import timeit


def measure(func, number=None):
    \"\"\"(seconds per call, loop count) for one repeat; autorange picks the count if None.\"\"\"
    timer = timeit.Timer(func)
    if number is None:
        number, _ = timer.autorange()
    return timer.timeit(number) / number, number
"""

SEED_SNIPPET = """
import json
{measure}
from pyctiarbin.messages import Msg  # used as shipped: default logging, nothing patched

server = Msg.ChannelInfo.Server
frame = open({path!r}, "rb").read()
decoded = server.unpack(frame)
template = {{**server.base_template, **server.msg_specific_template}}
values = {{key: decoded[key] for key in template}}
status_codes = {{label: code for code, label in server.status_code_dict.items()}}
values["status"] = status_codes[decoded["status"]]  # unpack gives the label, pack wants the code
numbers = {numbers!r}
print(json.dumps({{
    "decode": measure(lambda: server.unpack(frame), numbers.get("decode")),
    "encode": measure(lambda: server.pack(values), numbers.get("encode")),
    "check": [decoded["channel"], decoded["voltage_v"], decoded["test_time_s"]],
}}))
"""


def our_operations() -> tuple[dict[str, Any], ChannelInfoFeedback]:
    frame = CAPTURE.read_bytes()
    message = decode(frame)
    if not isinstance(message, ChannelInfoFeedback) or encode(message) != frame:
        raise SystemExit("our codec does not round-trip the capture; refusing to benchmark")
    base = message.channels[0]
    sixteen = ChannelInfoFeedback(
        channels=tuple(
            dataclasses.replace(base, channel_index=i, master_channel=i) for i in range(16)
        )
    )
    frame16 = encode(sixteen)
    if len(frame16) != 28074 or decode(frame16) != sixteen:
        raise SystemExit("our 16-channel frame is wrong; refusing to benchmark")
    operations = {
        "decode": lambda: decode(frame),
        "encode": lambda: encode(message),
        "decode16": lambda: decode(frame16),
        "encode16": lambda: encode(sixteen),
    }
    return operations, message


def run_rounds(repeat: int) -> tuple[dict[str, list[float]], dict[str, list[float]], Any]:
    """Per-call seconds of each operation, ``repeat`` times, ours and the seed's alternated."""
    namespace: dict[str, Any] = {}
    exec(MEASURE_SOURCE, namespace)
    measure = namespace["measure"]
    operations, message = our_operations()

    ours: dict[str, list[float]] = {name: [] for name in operations}
    seed: dict[str, list[float]] = {"decode": [], "encode": []}
    our_numbers: dict[str, int | None] = dict.fromkeys(operations)
    seed_numbers: dict[str, int] = {}
    for _ in range(repeat):
        for name, func in operations.items():
            per_call, our_numbers[name] = measure(func, our_numbers[name])
            ours[name].append(per_call)
        result = run_in_seed(
            SEED_SNIPPET.format(measure=MEASURE_SOURCE, path=str(CAPTURE), numbers=seed_numbers)
        )
        for name in seed:
            per_call, seed_numbers[name] = result[name]
            seed[name].append(per_call)
        check = result["check"]
    record = message.channels[0]
    # Both decoders must have read the same values, or the comparison means nothing.
    if check != [record.channel_index, record.voltage_v, record.test_time_s]:
        raise SystemExit(f"the seed decoded different values: {check}")
    return ours, seed, (our_numbers, seed_numbers)


def us(per_call_s: list[float]) -> float:
    """Median per-call time in microseconds."""
    return statistics.median(per_call_s) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timeit repeats (default 7)")
    args = parser.parse_args(argv)
    if not CAPTURE.is_file():
        raise SystemExit(f"capture not found: {CAPTURE}")

    ours, seed, (our_numbers, seed_numbers) = run_rounds(args.repeat)

    rows = [
        ("decode, 1 channel (1779 B)", us(ours["decode"]), us(seed["decode"])),
        ("encode, 1 channel (1779 B)", us(ours["encode"]), us(seed["encode"])),
        ("decode, 16 channels (28074 B)", us(ours["decode16"]), None),
        ("encode, 16 channels (28074 B)", us(ours["encode16"]), None),
    ]
    print(f"Codec benchmark: channel-info feedback, {CAPTURE.name}")
    print(f"Python {platform.python_version()} ({sys.implementation.name}) on both sides")
    print(
        f"ours = pyctiarbin.protocol (decode verifies the checksum, backend "
        f"{framing.checksum_backend()}; PYCTI_PURE_PYTHON=1 for pure Python), seed = {SEED_SPEC}"
    )
    print(f"MEDIAN of {args.repeat} timeit repeats (ours and the seed's alternated), us per call")
    print()
    header = f"{'operation':<31} {'ours (us)':>10} {'seed (us)':>10} {'seed/ours':>10}"
    print(header)
    print("-" * len(header))
    for name, our_us, seed_us in rows:
        if seed_us is None:
            print(f"{name:<31} {our_us:>10.2f} {'n/a':>10} {'n/a':>10}")
        else:
            print(f"{name:<31} {our_us:>10.2f} {seed_us:>10.2f} {seed_us / our_us:>9.1f}x")
    print()
    print("n/a: the seed cannot decode a multi-channel feedback (it reads one record).")
    print(f"16-channel decode: {us(ours['decode16']) / 16:.2f} us per channel record.")
    ratio = us(seed["decode"]) / us(ours["decode"])
    verdict = "met" if ratio >= GOAL_DECODE_RATIO else "NOT met"
    goal = f"decode >= {GOAL_DECODE_RATIO:.0f}x faster than the seed"
    print(f"Goal: {goal}: {verdict} ({ratio:.1f}x).")
    print(f"Loop counts per repeat: ours {our_numbers}, seed {seed_numbers}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

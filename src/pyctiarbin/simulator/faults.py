"""Fault injection on the simulator's side of a connection (see :class:`~.config.Faults`).

:class:`FaultState` keeps the per-connection counters; :func:`shape_frames` turns the frames
of one answer into the byte pieces to write, each with the delay to wait before it. The server
reads the faults from the live configuration for every request, so faults switched on at run
time take effect on connections already open.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Faults

__all__ = ["STRAY_BYTE", "FaultState", "WritePlan", "shape_frames"]

#: Filler for stray bytes. It never occurs in the token (0xDD ... 0x11), so a client's framer
#: must skip it and cannot mistake it for the start of a frame.
STRAY_BYTE = b"\x5a"


@dataclass
class FaultState:
    """Counters of one connection."""

    frames_received: int = 0
    frames_sent: int = 0

    def should_drop(self, faults: Faults) -> bool:
        """Count one received request; true when the connection must be dropped instead."""
        self.frames_received += 1
        limit = faults.drop_after_frames
        return limit is not None and self.frames_received > limit


@dataclass(frozen=True)
class WritePlan:
    """What to write for one answer: ``pieces`` (each written, then drained, separately when
    ``separate`` is true) after waiting ``delay_s``."""

    delay_s: float
    pieces: list[bytes]
    separate: bool


def _corrupt(frame: bytes) -> bytes:
    # Add one to the stored checksum (mod 2**16): always wrong, otherwise intact.
    stored = int.from_bytes(frame[-2:], "little")
    return frame[:-2] + ((stored + 1) & 0xFFFF).to_bytes(2, "little")


def shape_frames(frames: list[bytes], faults: Faults, state: FaultState) -> WritePlan:
    """Apply checksum corruption, stray bytes and write splitting to the frames of one answer."""
    out: list[bytes] = []
    every = faults.corrupt_checksum_every
    for frame in frames:
        state.frames_sent += 1
        if every is not None and state.frames_sent % every == 0:
            frame = _corrupt(frame)
        out.append(frame)
        if faults.stray_bytes:
            out.append(STRAY_BYTE * faults.stray_bytes)
    size = faults.split_writes
    if size is None:
        return WritePlan(faults.latency_s, [b"".join(out)] if len(out) > 1 else out, False)
    data = b"".join(out)
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return WritePlan(faults.latency_s, pieces, True)

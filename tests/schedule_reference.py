"""The real MITS schedule the tests run (examples/schedules/README.md says where it comes from)."""

from __future__ import annotations

from pathlib import Path

REFERENCE = (
    Path(__file__).resolve().parents[1] / "examples" / "schedules" / "20170630-3_6C_9per_5C.sdu"
)

#: Its step labels in the file's order; steps 8 (CC1) to 15 (Loop) are the repeating cycle.
REFERENCE_LABELS = [
    "pulse charge",
    "pulse discharge",
    "Initial Rest",
    "first IR",
    "Initial Discharge",
    "Initial Charge",
    "Second Discharge",
    "CC1",
    "CC2",
    "rest",
    "IR High",
    "Finishing Step",
    "Discharge",
    "TestforlowQ",
    "Loop",
]

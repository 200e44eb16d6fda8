"""The module path of pycti-arbin 0.0.13, so ``from pyctiarbin.cycler_interface import
CyclerInterface`` keeps working."""

from __future__ import annotations

from .interfaces import CyclerInterface

__all__ = ["CyclerInterface"]

"""The seed's (pycti-arbin 0.0.13) test server API, backed by the simulator."""

from __future__ import annotations

from .arbin_spoofer import SEED_READING_KEYS, ArbinSpoofer

__all__ = ["SEED_READING_KEYS", "ArbinSpoofer"]

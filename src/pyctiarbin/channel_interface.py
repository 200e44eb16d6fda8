"""The module path of pycti-arbin 0.0.13, so ``from pyctiarbin.channel_interface import
ChannelInterface`` keeps working."""

from __future__ import annotations

from .interfaces import ChannelInterface

__all__ = ["ChannelInterface"]

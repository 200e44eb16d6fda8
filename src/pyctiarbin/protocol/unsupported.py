"""The server's answer to a command it does not support (UNKNOWN_CODE_FEEDBACK, 0xBB111111).

Layout (158 bytes), from what Arbin's own client library reads::

    offset  size  field
    20      4     u32 dwCmd of the request the server does not support
    24      4     u32 dwCmd_Extend of that request
    28      128   reserved (zero)

No document lists this feedback; the DLL reference does (table 4.1 and open question 23).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .codes import CommandCode
from .fields import U32, compiled, wire
from .messages import Message, register

__all__ = ["UNKNOWN_CODE_FEEDBACK", "UnknownCodeFeedback"]

#: dwCmd of the feedback a server sends for a request code it does not support.
UNKNOWN_CODE_FEEDBACK = 0xBB111111


@register
@compiled
@dataclass(slots=True)
class UnknownCodeFeedback(Message):
    """UNKNOWN_CODE_FEEDBACK (158 bytes): the request code the server does not support."""

    CODE: ClassVar[int] = UNKNOWN_CODE_FEEDBACK
    IS_REQUEST: ClassVar[bool] = False

    request_code: int = wire(U32)  # 20
    request_code_extend: int = wire(U32, default=0, pad_after=128)  # 24, then 128 reserved

    @property
    def request_name(self) -> str:
        """The request's name in :class:`CommandCode`, or its code in hex if it is not listed."""
        try:
            return CommandCode(self.request_code).name
        except ValueError:
            return f"0x{self.request_code:08X}"

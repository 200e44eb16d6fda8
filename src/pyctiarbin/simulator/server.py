"""The simulator's CTI server: where its parts live, and the session rules they enforce.

The server speaks the wire through :mod:`pyctiarbin.protocol` in the server role. Its parts:

- :mod:`.lifecycle`: :class:`Simulator`, started and stopped (background thread or event loop);
- :mod:`.controls`: what tests and tools do to a running simulator (faults, forced readings,
  the request codes received);
- :mod:`.listener`: the listening sockets and the life of each connection (framing, memory
  budget, login timeout, injected faults);
- :mod:`.dispatch`: the handler table keyed by command code, and the port, login and control
  checks; :mod:`.refusals`: the failure reply of each command;
- :mod:`.handlers`: the answer to each command; :mod:`.connection`: what is known of a client.

A request that is refused, or whose handler crashes, is answered with the command's documented
failure code. A failure that no reply can express is logged and the connection is closed; the
server itself keeps running. This module re-exports the public names.

Session rules:

- Before a successful LOGIN, only LOGIN and CONNECT are served on the control port; anything else
  is answered with its failure code (0x11 "not allowed to control" for channel commands, an
  empty record list for channel info). A wrong user name or password gets LOGIN result 2;
  logging in again on the same connection gets result 3 (already logged in).
- CONNECT carries the kick-out flag: 1 means "this session may be kicked out". When more than
  ``max_sessions`` connections are open, CONNECT closes the oldest other session that allowed it
  and answers 0 (accepted), or answers 1 (rejected, full) and closes the new connection.
- Channel control needs a user allowed to control (``allow_control`` and not a read-only user).
- File commands are served on the file port (LOGIN there is optional unless
  ``require_file_login``) and, after a LOGIN, on the control port too, where Arbin's own demo
  clients send them; channel commands on the control port only.
- A connection that must log in (every control-port connection; file-port ones with
  ``require_file_login``) and has not done so within ``login_timeout_s`` is closed. Before its
  LOGIN it may not send more than ``PRE_LOGIN_MAX_BYTES`` without completing a frame (LOGIN and
  CONNECT are small); a connection that does is closed.

Hostile clients: partial frames and unfinished uploads of every connection share one
:class:`~.budget.MemoryBudget` of ``memory_budget_bytes``. A connection whose partial frame
would take the total above it is closed; an upload chunk that would is answered with UPLOAD
result 2 (failed). An UPLOAD or DOWNLOAD whose time stamp is not a finite number is answered
with result 2, the time echoed bit for bit. GET_START_DATA and GET_RESUME_DATA carry test
names and step labels as 1-byte text: a character outside Latin-1 goes out as ``?``, as a
Windows server's code page conversion does.
"""

from __future__ import annotations

from .lifecycle import Simulator
from .listener import PRE_LOGIN_MAX_BYTES, PortBindError

__all__ = ["PRE_LOGIN_MAX_BYTES", "PortBindError", "Simulator"]

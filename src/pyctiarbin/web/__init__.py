"""The lab dashboard (``pycti web``): fleet, channel plots, alerts and guarded control, in a
browser, over the logger's database. A thin layer over :mod:`pyctiarbin.data`; needs the
``web`` extra (Starlette, uvicorn). Every script and style is served by the app itself.

::

    from pyctiarbin.web import WebSettings, serve

    serve(WebSettings("sqlite:///lab.db"), host="127.0.0.1", port=8050)

See ``docs/web.md``.
"""

from __future__ import annotations

from .server import WebSettings, create_app, serve

__all__ = ["WebSettings", "create_app", "serve"]

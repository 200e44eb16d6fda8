"""The dashboard's web application (Starlette): pages, a JSON API, and guarded control.

Routes (read-only, always there):

* ``GET /`` fleet, ``GET /channel/{cycler}/{channel}``, ``GET /alerts``: HTML pages whose
  script (``/static/app.js``, served by the app: nothing comes from a CDN) polls the API;
* ``GET /api/fleet``, ``/api/channel/{cycler}/{channel}/tests``, ``/api/series``,
  ``/api/cycles/{test_id}``, ``/api/alerts``: JSON;
* ``GET /export/{test_id}.bdf.csv``: the Battery Data Format export of one test.

With ``allow_control`` only: ``GET /login``, ``POST /login``, ``POST /logout``,
``GET /api/session``, ``POST /api/control/{cycler}/{channel}/{action}`` (``start``,
``stop``, ``resume``, ``mv``). Without it those routes do not exist (404). A control request
needs a logged-in session (cookie) and its CSRF token in the ``X-CSRF-Token`` header, and is
written to the audit log, with its outcome, before the answer is sent. A command whose outcome
is unknown (the connection dropped) is reported as such and never sent again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..config import LabConfig, load_lab_config, resolve_lab_credentials
from ..data import LabData
from ..errors import CtiError
from . import fleet as views
from .auth import Sessions, WebConfig, load_web_config
from .pages import page

__all__ = ["WebSettings", "create_app"]

log = logging.getLogger("pyctiarbin.web")

STATIC_DIR = Path(__file__).with_name("static")
SESSION_COOKIE = "pycti_session"
ACTIONS = ("start", "stop", "resume", "mv")


@dataclass(frozen=True)
class WebSettings:
    """How the app runs: the database, the lab config (cyclers, credentials, ``[web]`` users),
    whether control is allowed, when a cycler counts as down, and the plot point budget."""

    db_url: str
    config_path: Path | None = None
    allow_control: bool = False
    stale_after_s: float = 10.0
    max_points: int = 1500
    secure_cookies: bool = False


def _json(value: Any, status_code: int = 200) -> Response:
    # NaN and infinities are not JSON: the database stores them as NULL anyway.
    body = json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)
    return Response(body, status_code=status_code, media_type="application/json")


def _error(message: str, status_code: int) -> Response:
    return _json({"error": message}, status_code)


def _float(request: Request, name: str) -> float | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    return value


def _int(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    return None if text is None or text == "" else int(text)


class _Audit:
    """Appends one line per control action to the audit log (flushed before answering)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(
        self, user: str, cycler: str, channel: int, action: str, detail: str, outcome: str
    ) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = (
            f"{stamp} user={user} cycler={cycler} channel={channel} action={action}"
            f"{' ' + detail if detail else ''} outcome={outcome}\n"
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()


class _Dashboard:
    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.lab = LabData(settings.db_url)
        self.lab_config: LabConfig | None = (
            load_lab_config(settings.config_path) if settings.config_path is not None else None
        )
        self.web_config: WebConfig = load_web_config(settings.config_path)
        self.sessions = Sessions(self.web_config)
        self.audit = _Audit(self.web_config.audit_log)
        self._cycles: dict[int, tuple[float | None, dict[str, Any]]] = {}
        # The few static files, read once: served from memory without worker threads.
        self.static_files = {
            "app.js": ("text/javascript", (STATIC_DIR / "app.js").read_bytes()),
            "style.css": ("text/css", (STATIC_DIR / "style.css").read_bytes()),
        }

    # -- pages ---------------------------------------------------------------------------------

    def _session(self, request: Request) -> Any:
        if not self.settings.allow_control:
            return None
        return self.sessions.get(request.cookies.get(SESSION_COOKIE))

    def _page(self, request: Request, name: str, title: str, **data: str) -> HTMLResponse:
        session = self._session(request)
        return HTMLResponse(
            page(
                name,
                title,
                control=self.settings.allow_control,
                user=session.user if session is not None else None,
                data=data,
            )
        )

    def fleet_page(self, request: Request) -> Response:
        return self._page(request, "fleet", "Fleet")

    def channel_page(self, request: Request) -> Response:
        cycler = request.path_params["cycler"]
        channel = request.path_params["channel"]
        test = request.query_params.get("test", "")
        return self._page(
            request,
            "channel",
            f"{cycler} channel {channel}",
            cycler=cycler,
            channel=str(channel),
            test=test,
        )

    def alerts_page(self, request: Request) -> Response:
        return self._page(request, "alerts", "Alerts")

    def login_page(self, request: Request) -> Response:
        return self._page(request, "login", "Log in")

    # -- API -----------------------------------------------------------------------------------

    def api_fleet(self, request: Request) -> Response:
        return _json(views.fleet(self.lab, stale_after_s=self.settings.stale_after_s))

    def api_tests(self, request: Request) -> Response:
        tests = self.lab.tests(
            cycler=request.path_params["cycler"], channel=request.path_params["channel"]
        )
        return _json(
            [
                {
                    "test_id": str(t.test_id),
                    "test_name": t.test_name,
                    "schedule": t.schedule,
                    "barcode": t.barcode,
                    "start_s": t.start_s,
                    "first_seen_s": t.first_seen_s,
                    "last_status": t.last_status,
                    "ended_s": t.ended_s,
                    "end_status": t.end_status,
                }
                for t in tests
            ]
        )

    def api_series(self, request: Request) -> Response:
        try:
            points = _int(request, "points") or self.settings.max_points
            if not 2 <= points <= 20_000:
                raise ValueError("points must be 2..20000")
            result = views.series(
                self.lab,
                test_id=_int(request, "test_id"),
                cycler=request.query_params.get("cycler") or None,
                channel=_int(request, "channel"),
                start_s=_float(request, "start"),
                end_s=_float(request, "end"),
                max_points=points,
            )
        except ValueError as exc:
            return _error(str(exc), 400)
        return _json(result)

    def api_cycles(self, request: Request) -> Response:
        # A full scan of the test: kept until the test has a newer reading (an index lookup).
        test_id = request.path_params["test_id"]
        newest = self.lab.query(
            "SELECT MAX(unix_time_s) FROM readings WHERE test_id = ?", [test_id]
        )[0][0]
        cached = self._cycles.get(test_id)
        if cached is None or cached[0] != newest:
            cached = (newest, self.lab.cycles(test_id).to_dict())
            if len(self._cycles) >= 64:
                self._cycles.clear()
            self._cycles[test_id] = cached
        return _json(cached[1])

    def api_alerts(self, request: Request) -> Response:
        return _json(views.alerts(self.lab))

    def export_test(self, request: Request) -> Response:
        from ..logger.export import export_bdf

        test_id = request.path_params["test_id"]
        try:
            self.lab.test(test_id)
        except LookupError as exc:
            return _error(str(exc).strip("'\""), 404)
        directory = Path(tempfile.mkdtemp(prefix="pycti-web-export-"))
        try:
            files = export_bdf(self.settings.db_url, directory, fmt="csv", test_ids=[test_id])
            if not files:
                return _error(f"test {test_id} has no readings", 404)
            content = files[0].path.read_bytes()
            name = files[0].path.name
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return Response(
            content,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    def static(self, request: Request) -> Response:
        found = self.static_files.get(request.path_params["name"])
        if found is None:
            return _error("not found", 404)
        return Response(found[1], media_type=found[0], headers={"Cache-Control": "no-cache"})

    # -- control -------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _error("send JSON", 415)
        body = await request.json()
        user, password = body.get("username"), body.get("password")
        if not isinstance(user, str) or not isinstance(password, str):
            return _error("username and password are required", 400)
        result = self.sessions.login(user, password)
        if result is None:
            log.warning("failed dashboard login for user %r", user)
            return _error("wrong user name or password", 401)
        session_id, session = result
        response = _json({"user": session.user, "csrf": session.csrf})
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookies,
            max_age=int(self.web_config.session_hours * 3600),
        )
        return response

    def logout(self, request: Request) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(session_id)
        if session is not None and request.headers.get("x-csrf-token") != session.csrf:
            return _error("missing or wrong CSRF token", 403)
        self.sessions.logout(session_id)
        response = _json({"user": None})
        response.delete_cookie(SESSION_COOKIE)
        return response

    def api_session(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return _json({"user": None, "csrf": None})
        return _json({"user": session.user, "csrf": session.csrf})

    async def control(self, request: Request) -> Response:
        import hmac

        session = self._session(request)
        if session is None:
            return _error("log in to control cyclers", 401)
        token = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(token.encode(), session.csrf.encode()):
            return _error("missing or wrong CSRF token", 403)
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _error("send JSON", 415)
        cycler = request.path_params["cycler"]
        channel = request.path_params["channel"]
        action = request.path_params["action"]
        if action not in ACTIONS:
            return _error(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}", 404)
        body = await request.json()
        if not isinstance(body, dict):
            return _error("the body must be a JSON object", 400)
        try:
            detail, call = self._command(action, channel, body)
        except ValueError as exc:
            return _error(str(exc), 400)
        status, outcome = await self._run(cycler, call)
        self.audit.write(session.user, cycler, channel, action, detail, outcome)
        return _json({"outcome": outcome}, status)

    def _command(self, action: str, channel: int, body: dict[str, Any]) -> tuple[str, Any]:
        if action == "stop":
            return "", lambda client: client.stop([channel])
        if action == "resume":
            return "", lambda client: client.resume([channel])
        if action == "start":
            name = body.get("test_name")
            schedule = body.get("schedule") or None
            if not isinstance(name, str) or not name.strip():
                raise ValueError("start needs a test_name")
            if schedule is not None and not isinstance(schedule, str):
                raise ValueError("schedule must be a string")

            async def start(client: Any) -> None:
                if schedule:
                    await client.assign_schedule([channel], schedule)
                await client.start([channel], name)

            detail = f"test_name={json.dumps(name)}"
            if schedule:
                detail += f" schedule={json.dumps(schedule)}"
            return detail, start
        variable, value = body.get("variable"), body.get("value")
        if not isinstance(variable, int) or isinstance(variable, bool) or not 1 <= variable <= 16:
            raise ValueError("mv needs a variable 1..16")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ValueError("mv needs a finite numeric value")
        return (
            f"variable=MV_UD{variable} value={value!r}",
            lambda client: client.set_meta_variable(channel, variable, float(value)),
        )

    async def _run(self, cycler: str, call: Any) -> tuple[int, str]:
        from ..client import AsyncCyclerClient

        try:
            address = self._address(cycler)
            credentials = resolve_lab_credentials(self.lab_config)
        except (LookupError, ValueError) as exc:
            return 400, f"refused: {exc}"
        try:
            async with AsyncCyclerClient(
                address[0],
                address[1],
                username=credentials.username,
                password=credentials.password,
                retries=0,
                file_login=False,
            ) as client:
                await call(client)
        except CtiError as exc:
            unknown = getattr(exc, "outcome_unknown", False)
            prefix = "outcome unknown (not sent again)" if unknown else "failed"
            return 502, f"{prefix}: {exc}"
        return 200, "ok"

    def _address(self, cycler: str) -> tuple[str, int]:
        if self.lab_config is not None and cycler in self.lab_config.cyclers:
            found = self.lab_config.cyclers[cycler]
            return found.host, found.port
        for row in self.lab.cyclers():
            if row["cycler"] == cycler:
                return str(row["host"]), int(row["port"])
        raise LookupError(f"unknown cycler {cycler!r}")

    def close(self) -> None:
        self.lab.close()


def create_app(settings: WebSettings) -> Starlette:
    """The dashboard application over ``settings.db_url``.

    Raises:
        FileNotFoundError: for an SQLite database that does not exist.
        ValueError: for a bad URL or a bad ``[web]`` table in the config file.
        Exception: the driver's error if the database cannot be opened.
    """
    dashboard = _Dashboard(settings)

    def inline(handler: Any) -> Any:
        # Queries are short (index lookups): run them on the event loop, not in worker threads.
        async def endpoint(request: Request) -> Response:
            response: Response = handler(request)
            return response

        return endpoint

    routes = [
        Route("/", inline(dashboard.fleet_page)),
        Route("/channel/{cycler}/{channel:int}", inline(dashboard.channel_page)),
        Route("/alerts", inline(dashboard.alerts_page)),
        Route("/api/fleet", inline(dashboard.api_fleet)),
        Route("/api/channel/{cycler}/{channel:int}/tests", inline(dashboard.api_tests)),
        Route("/api/series", inline(dashboard.api_series)),
        Route("/api/cycles/{test_id:int}", inline(dashboard.api_cycles)),
        Route("/api/alerts", inline(dashboard.api_alerts)),
        Route("/export/{test_id:int}.bdf.csv", inline(dashboard.export_test)),
        Route("/static/{name}", inline(dashboard.static)),
    ]
    if settings.allow_control:
        routes += [
            Route("/login", inline(dashboard.login_page)),
            Route("/login", dashboard.login, methods=["POST"]),
            Route("/logout", inline(dashboard.logout), methods=["POST"]),
            Route("/api/session", inline(dashboard.api_session)),
            Route(
                "/api/control/{cycler}/{channel:int}/{action}",
                dashboard.control,
                methods=["POST"],
            ),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            dashboard.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.dashboard = dashboard
    return app

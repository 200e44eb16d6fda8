"""The dashboard's HTML: one small shell per page; ``/static/app.js`` fills it from the API."""

from __future__ import annotations

from html import escape

__all__ = ["page"]

_BODIES = {
    "fleet": """
<section>
  <p class="meta">Updated <span id="updated">never</span>.
    <span id="fleet-error" class="error"></span></p>
  <div id="fleet"></div>
  <h2>Gaps in the last 24 h</h2>
  <table class="grid"><thead><tr><th>cycler</th><th>from</th><th>to</th><th>missed polls</th>
    <th>reason</th></tr></thead><tbody id="gaps"></tbody></table>
</section>""",
    "channel": """
<section>
  <p class="meta"><label>Test <select id="test-select"></select></label>
    <a id="export-link" href="#">BDF export (CSV)</a>
    <button id="zoom-reset" type="button">Whole test</button>
    <span class="hint">Drag across a plot to zoom.</span>
    <span id="channel-error" class="error"></span></p>
  <div id="control-panel" hidden></div>
  <div class="plots">
    <figure><figcaption>Voltage (V)</figcaption>
      <canvas id="plot-voltage_v" class="plot" width="900" height="220"></canvas></figure>
    <figure><figcaption>Current (A)</figcaption>
      <canvas id="plot-current_a" class="plot" width="900" height="220"></canvas></figure>
    <figure><figcaption>Temperature (&deg;C)</figcaption>
      <canvas id="plot-temperature_c" class="plot" width="900" height="220"></canvas></figure>
    <figure><figcaption>Capacity (Ah): charge, discharge</figcaption>
      <canvas id="plot-capacity" class="plot" width="900" height="220"></canvas></figure>
  </div>
  <h2>Per cycle</h2>
  <table class="grid"><thead><tr><th>cycle</th><th>charge (Ah)</th><th>discharge (Ah)</th>
    <th>coulombic efficiency</th><th>readings</th></tr></thead>
    <tbody id="cycles"></tbody></table>
</section>
<dialog id="confirm">
  <form method="dialog">
    <p id="confirm-text"></p>
    <div id="confirm-fields"></div>
    <menu><button value="cancel" id="confirm-cancel">Cancel</button>
      <button value="ok" id="confirm-ok">Confirm</button></menu>
  </form>
</dialog>""",
    "alerts": """
<section>
  <h2>Active</h2>
  <table class="grid"><thead><tr><th>since</th><th>severity</th><th>rule</th><th>where</th>
    <th>message</th></tr></thead><tbody id="alerts-active"></tbody></table>
  <h2>History</h2>
  <table class="grid"><thead><tr><th>time</th><th>event</th><th>severity</th><th>rule</th>
    <th>where</th><th>message</th></tr></thead><tbody id="alerts-history"></tbody></table>
  <p class="meta">Alerts are stored when the logger runs with rules
    (<code>pycti log --alerts rules.toml</code>).</p>
</section>""",
    "login": """
<section>
  <form id="login-form" class="login">
    <label>User <input id="login-user" name="username" autocomplete="username" required></label>
    <label>Password <input id="login-password" name="password" type="password"
      autocomplete="current-password" required></label>
    <button id="login-submit" type="submit">Log in</button>
    <p id="login-error" class="error"></p>
  </form>
</section>""",
}


def page(name: str, title: str, *, control: bool, user: str | None, data: dict[str, str]) -> str:
    """The HTML of page ``name`` (``fleet``, ``channel``, ``alerts``, ``login``).

    Raises:
        KeyError: for an unknown page.
    """
    body = _BODIES[name]
    attributes = "".join(
        f' data-{escape(key)}="{escape(value)}"' for key, value in sorted(data.items())
    )
    account = ""
    if control:
        if user is None:
            account = '<a id="login-link" href="/login">Log in</a>'
        else:
            account = (
                f'<span id="user">{escape(user)}</span> '
                '<button id="logout" type="button">Log out</button>'
            )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - pycti</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/style.css">
<script src="/static/app.js" defer></script>
</head>
<body data-page="{escape(name)}" data-control="{"1" if control else "0"}"{attributes}>
<header>
  <nav><strong>pycti</strong> <a href="/">Fleet</a> <a href="/alerts">Alerts</a></nav>
  <h1>{escape(title)}</h1>
  <div class="account">{account}</div>
</header>
<main>{body}
</main>
</body>
</html>
"""

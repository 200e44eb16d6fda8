// pycti dashboard: fills the server's HTML shells from its JSON API. No framework, no CDN.
"use strict";

const FLEET_POLL_MS = 1000;
const ALERTS_POLL_MS = 2000;
const SERIES_POLL_MS = 5000;

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function fmt(value, digits) {
  return value === null || value === undefined ? "" : Number(value).toFixed(digits);
}

function clock(unixSeconds) {
  if (unixSeconds === null || unixSeconds === undefined) return "";
  return new Date(unixSeconds * 1000).toLocaleString();
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 90) return `${Math.max(0, seconds).toFixed(0)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// -- fleet ------------------------------------------------------------------------------------

const FLEET_CELLS = [
  ["status", (c) => c.status],
  ["test", (c) => c.test_name],
  ["cycle", (c) => (c.cycle === null ? "" : `${c.cycle} / ${c.step}`)],
  ["v", (c) => fmt(c.voltage_v, 4)],
  ["i", (c) => fmt(c.current_a, 4)],
  ["t", (c) => fmt(c.temperature_c, 1)],
  ["qc", (c) => fmt(c.charge_capacity_ah, 4)],
  ["qd", (c) => fmt(c.discharge_capacity_ah, 4)],
  ["age", (c, now) => age(now - c.unix_time_s)],
];

const fleetState = { layout: "", cells: new Map() };

function channelRecord(columns, row) {
  const record = {};
  columns.forEach((name, i) => { record[name] = row[i]; });
  return record;
}

function buildFleet(snapshot) {
  const root = document.getElementById("fleet");
  root.replaceChildren();
  fleetState.cells.clear();
  for (const cycler of snapshot.cyclers) {
    const box = el("div", { class: "cycler", id: `cycler-${cycler.name}` });
    const heading = el("h2", {}, cycler.name + " ");
    heading.append(el("span", { class: "addr" }, `${cycler.address} ${cycler.serial_number}`));
    heading.append(" ", el("span", { class: "state", id: `state-${cycler.name}` }));
    box.append(heading);
    const table = el("table", { class: "grid fleet" });
    const head = el("tr");
    for (const title of ["ch", "status", "test", "cycle / step", "V", "A", "\u00b0C",
                         "charge Ah", "discharge Ah", "age"]) {
      head.append(el("th", {}, title));
    }
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    const html = [];
    for (const row of cycler.channels) {
      const n = row[0];
      const key = `${cycler.name}-${n}`;
      const link = `/channel/${encodeURIComponent(cycler.name)}/${n}`;
      html.push(`<tr id="row-${key}"><td><a href="${link}">${n}</a></td>` +
        FLEET_CELLS.map(([name]) => `<td id="${name}-${key}"></td>`).join("") + "</tr>");
    }
    body.innerHTML = html.join("");
    table.append(body);
    box.append(table);
    root.append(box);
    for (const row of cycler.channels) {
      const key = `${cycler.name}-${row[0]}`;
      const cells = { row: document.getElementById(`row-${key}`) };
      for (const [name] of FLEET_CELLS) cells[name] = document.getElementById(`${name}-${key}`);
      fleetState.cells.set(key, cells);
    }
  }
}

function renderFleet(snapshot) {
  const started = performance.now();
  const layout = snapshot.cyclers
    .map((c) => c.name + ":" + c.channels.map((row) => row[0]).join(",")).join(";");
  if (layout !== fleetState.layout) {
    buildFleet(snapshot);
    fleetState.layout = layout;
  }
  for (const cycler of snapshot.cyclers) {
    const state = document.getElementById(`state-${cycler.name}`);
    if (cycler.down) {
      setText(state, `DOWN since ${clock(cycler.gap_since_s)} (${cycler.gap_reason})`);
      state.className = "state down";
    } else {
      setText(state, "up");
      state.className = "state up";
    }
    for (const row of cycler.channels) {
      const channel = channelRecord(snapshot.columns, row);
      const cells = fleetState.cells.get(`${cycler.name}-${channel.channel}`);
      for (const [name, value] of FLEET_CELLS) {
        setText(cells[name], String(value(channel, snapshot.now)));
      }
      const stale = cycler.down ? " stale" : "";
      const cls = `st-${channel.class}${stale}`;
      if (cells.row.className !== cls) cells.row.className = cls;
    }
  }
  const gaps = document.getElementById("gaps");
  gaps.replaceChildren(...snapshot.gaps.map((gap) => {
    const tr = el("tr", { class: gap.end_s === null ? "open" : "" });
    tr.append(el("td", {}, gap.cycler), el("td", {}, clock(gap.start_s)),
      el("td", {}, gap.end_s === null ? "still open" : clock(gap.end_s)),
      el("td", {}, String(gap.missed_intervals)), el("td", {}, gap.reason));
    return tr;
  }));
  setText(document.getElementById("updated"), new Date().toLocaleTimeString());
  const data = document.body.dataset;
  data.fleetUpdates = String(Number(data.fleetUpdates || 0) + 1);
  // Timings for bench/web.py: this render, and the first full one since navigation start.
  data.renderMs = (performance.now() - started).toFixed(2);
  if (!data.firstRenderMs) data.firstRenderMs = performance.now().toFixed(1);
}

async function pollFleet() {
  const error = document.getElementById("fleet-error");
  try {
    renderFleet(await getJSON("/api/fleet"));
    setText(error, "");
  } catch (exc) {
    setText(error, `cannot update: ${exc.message}`);
  }
  setTimeout(pollFleet, FLEET_POLL_MS);
}

// -- plots ------------------------------------------------------------------------------------

const PLOT_MARGIN = { left: 64, right: 12, top: 8, bottom: 26 };

function niceTicks(low, high, count) {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(v);
  return ticks;
}

function drawPlot(canvas, xs, lines, xRange) {
  const ctx = canvas.getContext("2d");
  const width = canvas.width;
  const height = canvas.height;
  ctx.clearRect(0, 0, width, height);
  let lowY = Infinity;
  let highY = -Infinity;
  let points = 0;
  for (const line of lines) {
    for (let i = 0; i < xs.length; i += 1) {
      const y = line.ys[i];
      if (y === null || y === undefined || xs[i] < xRange[0] || xs[i] > xRange[1]) continue;
      lowY = Math.min(lowY, y);
      highY = Math.max(highY, y);
      points += 1;
    }
  }
  canvas.dataset.points = String(points);
  canvas.dataset.xmin = String(xRange[0]);
  canvas.dataset.xmax = String(xRange[1]);
  const plotW = width - PLOT_MARGIN.left - PLOT_MARGIN.right;
  const plotH = height - PLOT_MARGIN.top - PLOT_MARGIN.bottom;
  ctx.strokeStyle = "#999";
  ctx.strokeRect(PLOT_MARGIN.left, PLOT_MARGIN.top, plotW, plotH);
  if (points === 0) {
    ctx.fillStyle = "#666";
    ctx.fillText("no data", PLOT_MARGIN.left + 8, PLOT_MARGIN.top + 16);
    return;
  }
  if (highY === lowY) { highY += 0.5; lowY -= 0.5; }
  const pad = (highY - lowY) * 0.05;
  lowY -= pad;
  highY += pad;
  const spanX = xRange[1] - xRange[0] || 1;
  const px = (x) => PLOT_MARGIN.left + ((x - xRange[0]) / spanX) * plotW;
  const py = (y) => PLOT_MARGIN.top + (1 - (y - lowY) / (highY - lowY)) * plotH;
  canvas._toX = (pixel) => xRange[0] + ((pixel - PLOT_MARGIN.left) / plotW) * spanX;
  ctx.fillStyle = "#333";
  ctx.font = "11px sans-serif";
  ctx.textAlign = "right";
  for (const tick of niceTicks(lowY, highY, 4)) {
    ctx.fillText(tick.toPrecision(4).replace(/\.?0+$/, ""), PLOT_MARGIN.left - 4, py(tick) + 4);
    ctx.strokeStyle = "#eee";
    ctx.beginPath();
    ctx.moveTo(PLOT_MARGIN.left, py(tick));
    ctx.lineTo(PLOT_MARGIN.left + plotW, py(tick));
    ctx.stroke();
  }
  ctx.textAlign = "center";
  for (const tick of niceTicks(xRange[0], xRange[1], 6)) {
    const label = new Date(tick * 1000).toLocaleTimeString();
    ctx.fillText(label, px(tick), height - 8);
  }
  ctx.save();
  ctx.beginPath();
  ctx.rect(PLOT_MARGIN.left, PLOT_MARGIN.top, plotW, plotH);
  ctx.clip();
  for (const line of lines) {
    ctx.strokeStyle = line.color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < xs.length; i += 1) {
      const y = line.ys[i];
      if (y === null || y === undefined) { pen = false; continue; }
      if (pen) ctx.lineTo(px(xs[i]), py(y)); else ctx.moveTo(px(xs[i]), py(y));
      pen = true;
    }
    ctx.stroke();
  }
  ctx.restore();
}

// -- channel page -----------------------------------------------------------------------------

const channelState = { tests: [], testId: "", zoom: null, series: null, timer: null };

function seriesUrl() {
  const body = document.body.dataset;
  const params = new URLSearchParams();
  if (channelState.testId) params.set("test_id", channelState.testId);
  else { params.set("cycler", body.cycler); params.set("channel", body.channel); }
  if (channelState.zoom) {
    params.set("start", String(channelState.zoom[0]));
    params.set("end", String(channelState.zoom[1]));
  }
  const canvas = document.getElementById("plot-voltage_v");
  params.set("points", String(Math.max(200, Math.min(4000, canvas.width * 2))));
  return `/api/series?${params}`;
}

function drawSeries() {
  const series = channelState.series;
  if (!series) return;
  const column = (name) => series.data[series.columns.indexOf(name)];
  const xs = column("unix_time_s");
  const range = channelState.zoom || [xs[0], xs[xs.length - 1]];
  drawPlot(document.getElementById("plot-voltage_v"), xs,
    [{ ys: column("voltage_v"), color: "#1f77b4" }], range);
  drawPlot(document.getElementById("plot-current_a"), xs,
    [{ ys: column("current_a"), color: "#d62728" }], range);
  drawPlot(document.getElementById("plot-temperature_c"), xs,
    [{ ys: column("temperature_c"), color: "#2ca02c" }], range);
  drawPlot(document.getElementById("plot-capacity"), xs,
    [{ ys: column("charge_capacity_ah"), color: "#ff7f0e" },
      { ys: column("discharge_capacity_ah"), color: "#9467bd" }], range);
  document.body.dataset.seriesPoints = String(xs.length);
}

async function loadSeries() {
  const error = document.getElementById("channel-error");
  try {
    channelState.series = await getJSON(seriesUrl());
    drawSeries();
    setText(error, "");
  } catch (exc) {
    setText(error, `cannot load the readings: ${exc.message}`);
  }
}

async function loadCycles() {
  const body = document.getElementById("cycles");
  if (!channelState.testId) { body.replaceChildren(); return; }
  const cycles = await getJSON(`/api/cycles/${channelState.testId}`);
  body.replaceChildren(...cycles.cycle.map((cycle, i) => {
    const tr = el("tr");
    const efficiency = cycles.coulombic_efficiency[i];
    tr.append(el("td", {}, String(cycle)), el("td", {}, fmt(cycles.charge_capacity_ah[i], 4)),
      el("td", {}, fmt(cycles.discharge_capacity_ah[i], 4)),
      el("td", {}, efficiency === null ? "" : `${(efficiency * 100).toFixed(2)} %`),
      el("td", {}, String(cycles.readings[i])));
    return tr;
  }));
}

function selectTest(testId) {
  channelState.testId = testId;
  channelState.zoom = null;
  const link = document.getElementById("export-link");
  if (testId) {
    link.href = `/export/${testId}.bdf.csv`;
    link.hidden = false;
  } else {
    link.hidden = true;
  }
  loadSeries();
  loadCycles().catch((exc) => {
    setText(document.getElementById("channel-error"), `cannot load cycles: ${exc.message}`);
  });
}

function attachZoom(canvas) {
  let startPixel = null;
  const overlay = el("div", { class: "zoom-box" });
  canvas.parentElement.style.position = "relative";
  canvas.parentElement.append(overlay);
  const pixelOf = (event) => {
    const box = canvas.getBoundingClientRect();
    return ((event.clientX - box.left) / box.width) * canvas.width;
  };
  canvas.addEventListener("mousedown", (event) => {
    startPixel = pixelOf(event);
  });
  canvas.addEventListener("mousemove", (event) => {
    if (startPixel === null) return;
    const box = canvas.getBoundingClientRect();
    const scale = box.width / canvas.width;
    const a = Math.min(startPixel, pixelOf(event)) * scale;
    const b = Math.max(startPixel, pixelOf(event)) * scale;
    Object.assign(overlay.style, { display: "block", left: `${canvas.offsetLeft + a}px`,
      width: `${b - a}px`, top: `${canvas.offsetTop}px`, height: `${box.height}px` });
  });
  window.addEventListener("mouseup", (event) => {
    if (startPixel === null) return;
    const endPixel = pixelOf(event);
    overlay.style.display = "none";
    const [a, b] = [Math.min(startPixel, endPixel), Math.max(startPixel, endPixel)];
    startPixel = null;
    if (b - a < 5 || !canvas._toX) return;
    channelState.zoom = [canvas._toX(a), canvas._toX(b)];
    loadSeries();
  });
}

async function initChannel() {
  const body = document.body.dataset;
  for (const canvas of document.querySelectorAll("canvas.plot")) attachZoom(canvas);
  document.getElementById("zoom-reset").addEventListener("click", () => {
    channelState.zoom = null;
    loadSeries();
  });
  const select = document.getElementById("test-select");
  select.addEventListener("change", () => selectTest(select.value));
  try {
    channelState.tests = await getJSON(
      `/api/channel/${encodeURIComponent(body.cycler)}/${body.channel}/tests`);
  } catch (exc) {
    setText(document.getElementById("channel-error"), exc.message);
  }
  select.replaceChildren(el("option", { value: "" }, "all readings of the channel"),
    ...channelState.tests.map((test) => el("option", { value: test.test_id },
      `${test.test_name || "(no name)"} \u2013 ${clock(test.start_s)}`)));
  const wanted = body.test || (channelState.tests.length
    ? channelState.tests[channelState.tests.length - 1].test_id : "");
  select.value = wanted;
  selectTest(wanted);
  // Follow a running test: reload while the user is not looking at a zoomed range.
  channelState.timer = setInterval(() => { if (!channelState.zoom) loadSeries(); },
    SERIES_POLL_MS);
  if (body.control === "1") initControl();
}

// -- control ----------------------------------------------------------------------------------

async function session() {
  return getJSON("/api/session");
}

function field(label, name, type, value) {
  const wrap = el("label", {}, `${label} `);
  wrap.append(el("input", { name, type, value: value || "", id: `field-${name}` }));
  return wrap;
}

async function initControl() {
  const panel = document.getElementById("control-panel");
  panel.hidden = false;
  const who = await session();
  if (!who.user) {
    const link = el("a", { href: `/login?next=${encodeURIComponent(location.pathname)}`,
      id: "control-login" }, "Log in to control this channel");
    panel.replaceChildren(link);
    return;
  }
  const body = document.body.dataset;
  const result = el("span", { id: "control-result" });
  const buttons = [["start", "Start"], ["stop", "Stop"], ["resume", "Resume"], ["mv", "Set MV"]]
    .map(([action, title]) => {
      const button = el("button", { type: "button", id: `control-${action}`,
        class: "control" }, title);
      button.addEventListener("click", () => confirmAction(action, title, result));
      return button;
    });
  panel.replaceChildren(el("strong", {}, `Control ${body.cycler} channel ${body.channel}: `),
    ...buttons, " ", result);
}

function confirmAction(action, title, result) {
  const body = document.body.dataset;
  const dialog = document.getElementById("confirm");
  const fields = document.getElementById("confirm-fields");
  setText(document.getElementById("confirm-text"),
    `${title} on cycler ${body.cycler}, channel ${body.channel}?`);
  fields.replaceChildren();
  if (action === "start") {
    fields.append(field("Test name", "test_name", "text"), field("Schedule", "schedule", "text"));
  } else if (action === "mv") {
    fields.append(field("MV_UD", "variable", "number", "1"),
      field("Value", "value", "number", "0"));
  }
  dialog.returnValue = "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "ok") {
      setText(result, `${title}: cancelled`);
      return;
    }
    const payload = {};
    for (const input of fields.querySelectorAll("input")) {
      payload[input.name] = input.type === "number" ? Number(input.value) : input.value;
    }
    setText(result, `${title}: sending\u2026`);
    const who = await session();
    const response = await fetch(
      `/api/control/${encodeURIComponent(body.cycler)}/${body.channel}/${action}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": who.csrf || "" },
        body: JSON.stringify(payload),
      });
    const answer = await response.json();
    setText(result, `${title}: ${answer.outcome || answer.error}`);
    result.className = response.ok ? "ok" : "error";
  };
  dialog.showModal();
}

function initLogin() {
  const form = document.getElementById("login-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch("/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: document.getElementById("login-user").value,
        password: document.getElementById("login-password").value }),
    });
    if (response.ok) {
      const next = new URLSearchParams(location.search).get("next");
      location.href = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
    } else {
      const answer = await response.json();
      setText(document.getElementById("login-error"), answer.error);
    }
  });
}

function initLogout() {
  const button = document.getElementById("logout");
  if (!button) return;
  button.addEventListener("click", async () => {
    const who = await session();
    await fetch("/logout", { method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": who.csrf || "" } });
    location.reload();
  });
}

// -- alerts -----------------------------------------------------------------------------------

function where(event) {
  return event.channel === null ? event.cycler : `${event.cycler} ch ${event.channel}`;
}

async function pollAlerts() {
  try {
    const alerts = await getJSON("/api/alerts");
    document.getElementById("alerts-active").replaceChildren(...alerts.active.map((event) => {
      const tr = el("tr", { class: `sev-${event.severity}` });
      tr.append(el("td", {}, clock(event.started_s)), el("td", {}, event.severity),
        el("td", {}, event.rule), el("td", {}, where(event)), el("td", {}, event.message));
      return tr;
    }));
    document.getElementById("alerts-history").replaceChildren(...alerts.events.map((event) => {
      const tr = el("tr", { class: `ev-${event.event}` });
      tr.append(el("td", {}, clock(event.unix_time_s)), el("td", {}, event.event),
        el("td", {}, event.severity), el("td", {}, event.rule), el("td", {}, where(event)),
        el("td", {}, event.message));
      return tr;
    }));
  } finally {
    setTimeout(pollAlerts, ALERTS_POLL_MS);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const pageName = document.body.dataset.page;
  if (pageName === "fleet") pollFleet();
  else if (pageName === "channel") initChannel();
  else if (pageName === "alerts") pollAlerts();
  else if (pageName === "login") initLogin();
  initLogout();
});

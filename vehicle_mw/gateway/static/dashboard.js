// Fleet dashboard: a paged fleet list (/api/fleet/page), per-vehicle link, backlog, signal and GNSS
// views from the REST API, plotted with uPlot (vendored, /static). Times are shown in the browser's zone.
"use strict";

const PAGE = 50;
const state = {
  vehicle: null, csrf: null, fleet: { q: "", state: "", sort: "id", order: "asc", offset: 0, total: 0 },
  signals: [], chosen: new Set(), plots: {},
};
const $ = id => document.getElementById(id);
const fmt = (v, d) => (v === null || v === undefined ? "—" : (typeof v === "number" ? v.toFixed(d) : v));
const vpath = vid => "/api/vehicles/" + encodeURIComponent(vid);
const COLORS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4", "#6e7781"];
const TRANSPORT_COLORS = { grpc: "#1f6feb", websocket: "#d1242f" };

// --- times with their zone -------------------------------------------------------------------
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";
function offsetText(date) {
  const m = -date.getTimezoneOffset(), a = Math.abs(m);
  return "UTC" + (m < 0 ? "-" : "+") + String(Math.floor(a / 60)).padStart(2, "0") + ":" + String(a % 60).padStart(2, "0");
}
function fmtTime(ns) {
  if (ns === null || ns === undefined) { return "—"; }
  const d = new Date(ns / 1e6), p = (n, w = 2) => String(n).padStart(w, "0");
  return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" +
    p(d.getMinutes()) + ":" + p(d.getSeconds()) + "." + p(d.getMilliseconds(), 3) + " " + offsetText(d);
}

function toLogin() { location.replace("/login"); }

async function getJSON(path) {
  const r = await fetch(path, { credentials: "same-origin" });
  if (r.status === 401) { toLogin(); }
  if (!r.ok) { throw new Error(path + ": " + r.status); }
  return r.json();
}

// state-changing calls carry the session's CSRF token (the cookie alone is not enough)
function post(path, body) {
  return fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": state.csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function whoAmI() {
  const me = await getJSON("/api/me");
  state.csrf = me.csrf_token;
  $("operator").textContent = me.name + " (" + me.role + ")";
  if (me.role === "viewer") {
    for (const el of $("command-form").elements) { el.disabled = true; }
    $("command-result").textContent = "viewers cannot send commands";
  }
}

// --- fleet list: the server searches, sorts, counts and pages ----------------------------------
async function refreshFleet() {
  const f = state.fleet;
  const page = await getJSON("/api/fleet/page?" + new URLSearchParams({
    q: f.q, sort: f.sort, order: f.order, offset: f.offset, limit: PAGE, ...(f.state ? { state: f.state } : {}),
  }));
  f.total = page.total;
  for (const el of document.querySelectorAll("#fleet-counts [data-count]")) {
    el.textContent = page.counts[el.dataset.count];
  }
  for (const b of document.querySelectorAll("#fleet-counts button")) {
    b.classList.toggle("active", b.dataset.state === f.state);
  }
  for (const th of document.querySelectorAll("#fleet th[data-sort]")) {
    th.dataset.order = th.dataset.sort === f.sort ? f.order : "";
  }
  $("fleet-count").textContent = "(" + page.counts.all + " vehicles, " + page.counts.up + " connected)";
  $("page-info").textContent = page.total ? (page.offset + 1) + "–" + (page.offset + page.rows.length) +
    " of " + page.total : "no vehicle matches";
  $("page-prev").disabled = f.offset === 0;
  $("page-next").disabled = f.offset + PAGE >= page.total;
  renderFleet(page.rows);
}

function renderFleet(rows) {
  const body = $("fleet").tBodies[0];
  body.innerHTML = "";
  for (const v of rows) {
    const tr = body.insertRow();
    tr.dataset.vehicle = v.vehicle_id;
    if (v.vehicle_id === state.vehicle) { tr.className = "selected"; }
    const backlog = v.outbox_records === null || v.outbox_records === undefined ? "—"
      : v.outbox_records + " rec / " + v.outbox_bytes + " B";
    const cells = [v.vehicle_id, v.link_state, v.transport || "—", fmt(v.rtt_ms, 1),
      v.loss === null || v.loss === undefined ? "—" : (100 * v.loss).toFixed(1) + " %", fmt(v.switches),
      fmt(v.acked_seq), fmt(v.samples), fmt(v.frames), backlog, fmtTime(v.last_seen_ns)];
    cells.forEach((c, i) => {
      const td = tr.insertCell(); td.textContent = c;
      if (i === 1) { td.className = v.link_state; }
    });
    tr.onclick = () => selectVehicle(v.vehicle_id);
  }
  if (!state.vehicle && rows.length) { selectVehicle(rows[0].vehicle_id); }
}

// --- plots -----------------------------------------------------------------------------------
function plot(id, opts, data) {
  const el = $(id);
  if (state.plots[id]) { state.plots[id].destroy(); }
  el.innerHTML = "";
  const width = Math.max(300, el.clientWidth || 600);
  state.plots[id] = new uPlot({ width, height: 220, scales: { x: { time: true } }, ...opts }, data, el);
  return state.plots[id];
}

// vertical lines at the transport switches, labelled with the transport switched to
function switchMarks(switches) {
  return u => {
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "#9a6700"; ctx.fillStyle = "#9a6700"; ctx.setLineDash([4, 3]); ctx.lineWidth = 1.5;
    ctx.font = (11 * devicePixelRatio) + "px system-ui";
    for (const s of switches) {
      const x = u.valToPos(s.ts_ns / 1e9, "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) { continue; }
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
      ctx.fillText("→ " + s.to_transport, x + 3, u.bbox.top + 12 * devicePixelRatio);
    }
    ctx.restore();
  };
}

async function refreshLink() {
  const h = await getJSON(vpath(state.vehicle) + "/link-history?limit=5000");
  const st = h.status;
  const xs = st.map(s => s.ts_ns / 1e9);
  const transports = [...new Set(st.map(s => s.transport).concat(h.switches.map(s => s.to_transport))
    .filter(t => t))].sort();
  const series = [{}], data = [xs];
  for (const t of transports) {
    const color = TRANSPORT_COLORS[t] || COLORS[series.length % COLORS.length];
    series.push({ label: t + " RTT ms", stroke: color, scale: "ms", spanGaps: false });
    data.push(st.map(s => (s.transport === t ? s.rtt_ms : null)));
    series.push({ label: t + " loss %", stroke: color, dash: [6, 4], scale: "%", spanGaps: false });
    data.push(st.map(s => (s.transport === t && s.loss !== null ? 100 * s.loss : null)));
  }
  const el = $("link-plot");
  el.dataset.points = st.length; el.dataset.switches = h.switches.length;
  el.dataset.transports = transports.join(",");
  $("link-info").textContent = st.length + " status reports, " + h.switches.length + " switches";
  plot("link-plot", {
    series, hooks: { draw: [switchMarks(h.switches)] },
    axes: [{}, { scale: "ms", label: "RTT ms" }, { scale: "%", side: 1, label: "loss %", grid: { show: false } }],
  }, data);
  plot("backlog-plot", {
    series: [{}, { label: "records", stroke: "#1a7f37", scale: "rec" }, { label: "bytes", stroke: "#8250df", scale: "B" }],
    axes: [{}, { scale: "rec", label: "records" }, { scale: "B", side: 1, label: "bytes", grid: { show: false } }],
  }, [xs, st.map(s => s.outbox_records), st.map(s => s.outbox_bytes)]);
  $("backlog-plot").dataset.points = st.length;
  const last = st[st.length - 1];
  $("backlog-info").textContent = last ? "latest " + last.outbox_records + " rec / " + last.outbox_bytes + " B at " +
    fmtTime(last.ts_ns) : "no status yet";
  const body = $("link-events").tBodies[0];
  body.innerHTML = "";
  for (const e of h.switches.slice(-20).reverse()) {
    const tr = body.insertRow();
    [fmtTime(e.ts_ns), e.from_transport || "—", e.to_transport, e.reason, fmt(e.rtt_ms, 1),
      (100 * e.loss).toFixed(1) + " %"].forEach(c => { tr.insertCell().textContent = c; });
  }
}

function renderSignalList() {
  const needle = $("signal-search").value.toLowerCase();
  const list = $("signal-list");
  list.innerHTML = "";
  for (const s of state.signals) {
    if (needle && !s.name.toLowerCase().includes(needle)) { continue; }
    const label = document.createElement("label");
    label.dataset.signal = s.name;
    const box = document.createElement("input");
    box.type = "checkbox"; box.checked = state.chosen.has(s.name);
    box.onchange = () => { box.checked ? state.chosen.add(s.name) : state.chosen.delete(s.name); refreshSignals(); };
    label.append(box, " " + s.name + (s.unit ? " [" + s.unit + "]" : "") + " (" + s.samples + ")");
    list.appendChild(label);
  }
}

async function refreshSignals() {
  const names = [...state.chosen].sort();
  const el = $("signals-plot");
  const all = await Promise.all(names.map(n =>
    getJSON(vpath(state.vehicle) + "/series?max_points=550&signal=" + encodeURIComponent(n))));
  const tables = all.map(s => [s.points.map(p => p[0] / 1e9), s.points.map(p => p[1])]);
  const data = tables.length ? uPlot.join(tables) : [[]];
  const units = Object.fromEntries(state.signals.map(s => [s.name, s.unit]));
  const series = [{}].concat(names.map((n, i) => ({
    label: n + (units[n] ? " [" + units[n] + "]" : ""), stroke: COLORS[i % COLORS.length], scale: units[n] || n,
  })));
  plot("signals-plot", { series, axes: [{}, {}] }, data);
  el.dataset.series = names.join(",");
  el.dataset.points = all.reduce((a, s) => a + s.points.length, 0);
  $("plot-info").textContent = names.length ? all.map((s, i) => names[i] + ": " + s.count + " samples" +
    (s.downsampled ? " (" + s.points.length + " buckets)" : "")).join(", ") : "choose signals below";
  const links = $("csv-links");
  links.innerHTML = "";
  for (const n of names) {
    const a = document.createElement("a");
    a.href = vpath(state.vehicle) + "/series.csv?signal=" + encodeURIComponent(n);
    a.download = ""; a.textContent = "CSV " + n; a.dataset.signal = n;
    links.appendChild(a);
  }
}

const deg = (v, pos, neg) => Math.abs(v).toFixed(5) + "° " + (v < 0 ? neg : pos);

// equirectangular projection around the track's mean latitude: enough for a drive, no tiles needed
async function refreshTrack() {
  const t = await getJSON(vpath(state.vehicle) + "/track?max_points=2000");
  const c = $("track"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  c.dataset.points = t.points.length;
  if (!t.points.length) {
    $("track-info").textContent = t.latitude && t.longitude ? "no positions yet" : "no latitude/longitude signals";
    return;
  }
  const lats = t.points.map(p => p[1]), lons = t.points.map(p => p[2]);
  const [la0, la1, lo0, lo1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const k = Math.cos(((la0 + la1) / 2) * Math.PI / 180);
  const span = Math.max((lo1 - lo0) * k, la1 - la0, 1e-6), pad = 20, size = Math.min(c.width, c.height) - 2 * pad;
  const xy = p => [pad + ((p[2] - lo0) * k / span) * size, c.height - pad - ((p[1] - la0) / span) * size];
  ctx.strokeStyle = "#1f6feb"; ctx.lineWidth = 2; ctx.beginPath();
  t.points.forEach((p, i) => { const [x, y] = xy(p); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
  ctx.stroke();
  for (const [p, color] of [[t.points[0], "#1a7f37"], [t.points[t.points.length - 1], "#d1242f"]]) {
    const [x, y] = xy(p); ctx.fillStyle = color; ctx.beginPath(); ctx.arc(x, y, 5, 0, 2 * Math.PI); ctx.fill();
  }
  const km = span * 111.32;
  $("track-info").textContent = t.latitude + " / " + t.longitude + ": " + t.points.length + " points, " +
    deg(la0, "N", "S") + "…" + deg(la1, "N", "S") + ", " + deg(lo0, "E", "W") + "…" + deg(lo1, "E", "W") + ", " +
    "box " + km.toFixed(2) + " km, " + fmtTime(t.points[0][0]) + " → " + fmtTime(t.points[t.points.length - 1][0]);
}

async function selectVehicle(vid) {
  state.vehicle = vid;
  $("selected-vehicle").textContent = vid;
  for (const tr of $("fleet").tBodies[0].rows) { tr.className = tr.dataset.vehicle === vid ? "selected" : ""; }
  state.signals = await getJSON(vpath(vid) + "/signals");
  const busiest = state.signals.filter(s => s.samples > 0).sort((a, b) => b.samples - a.samples);
  state.chosen = new Set(busiest.slice(0, 2).map(s => s.name));
  renderSignalList();
  await Promise.all([refreshSignals(), refreshLink(), refreshTrack()]);
}

function connectLive() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/live");
  ws.onopen = () => { $("feed-state").textContent = "live"; $("feed-state").className = "good"; };
  ws.onmessage = ev => {
    const msg = JSON.parse(ev.data);
    $("gateway-id").textContent = "gateway " + msg.gateway_id;
  };
  ws.onclose = () => {
    $("feed-state").textContent = "reconnecting…"; $("feed-state").className = "bad";
    // logged out or expired: back to the login page instead of retrying forever
    fetch("/api/me", { credentials: "same-origin" }).then(r => { if (r.status === 401) { toLogin(); } })
      .catch(() => {});
    setTimeout(connectLive, 2000);
  };
}

let searchTimer = null;
$("fleet-search").oninput = () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { state.fleet.q = $("fleet-search").value; state.fleet.offset = 0; refreshFleet(); }, 200);
};
for (const b of document.querySelectorAll("#fleet-counts button")) {
  b.onclick = () => { state.fleet.state = b.dataset.state; state.fleet.offset = 0; refreshFleet(); };
}
for (const th of document.querySelectorAll("#fleet th[data-sort]")) {
  th.onclick = () => {
    const f = state.fleet;
    f.order = f.sort === th.dataset.sort && f.order === "asc" ? "desc" : "asc";
    f.sort = th.dataset.sort; f.offset = 0; refreshFleet();
  };
}
$("page-prev").onclick = () => { state.fleet.offset = Math.max(0, state.fleet.offset - PAGE); refreshFleet(); };
$("page-next").onclick = () => { state.fleet.offset += PAGE; refreshFleet(); };
$("signal-search").oninput = renderSignalList;
$("timezone").textContent = "times in " + ZONE + " (" + offsetText(new Date()) + ")";
$("command-form").onsubmit = async e => {
  e.preventDefault();
  if (!state.vehicle) { return; }
  let payload;
  try { payload = JSON.parse($("command-payload").value || "null"); } catch (err) {
    $("command-result").textContent = "payload is not JSON: " + err.message; return;
  }
  const r = await post(vpath(state.vehicle) + "/commands", { kind: $("command-kind").value, payload });
  const body = await r.json();
  $("command-result").textContent = r.ok ? "command " + body.id + ": " + (body.ok ? "acknowledged" : "rejected") +
    (body.detail ? " (" + body.detail + ")" : "") : "failed: " + body.detail;
};
$("logout").onclick = async () => { await post("/api/logout"); toLogin(); };
setInterval(refreshFleet, 2000);
setInterval(() => {
  if ($("live").checked && state.vehicle) { refreshSignals(); refreshLink(); refreshTrack(); }
}, 5000);
whoAmI().then(() => { connectLive(); refreshFleet(); });

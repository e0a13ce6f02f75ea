// Fleet dashboard: live fleet table from /api/live, plots and link history from the REST API.
"use strict";

const state = { vehicle: null, signal: null, fleet: [], csrf: null };
const $ = id => document.getElementById(id);
const fmt = (v, d) => (v === null || v === undefined ? "—" : (typeof v === "number" ? v.toFixed(d) : v));

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

function renderFleet(vehicles) {
  state.fleet = vehicles;
  $("fleet-count").textContent = "(" + vehicles.length + " vehicles, " +
    vehicles.filter(v => v.connected).length + " connected)";
  const body = $("fleet").tBodies[0];
  body.innerHTML = "";
  for (const v of vehicles) {
    const tr = body.insertRow();
    tr.dataset.vehicle = v.vehicle_id;
    if (v.vehicle_id === state.vehicle) { tr.className = "selected"; }
    const backlog = v.outbox_records === null ? "—" : v.outbox_records + " rec / " + v.outbox_bytes + " B";
    const cells = [v.vehicle_id, v.connected ? "up" : "down", v.transport || "—", fmt(v.rtt_ms, 1),
      v.loss === null ? "—" : (100 * v.loss).toFixed(1) + " %", v.switches, v.acked_seq, v.samples,
      v.frames === null ? "—" : v.frames, backlog];
    cells.forEach((c, i) => {
      const td = tr.insertCell(); td.textContent = c;
      if (i === 1) { td.className = v.connected ? "up" : "down"; }
    });
    tr.onclick = () => selectVehicle(v.vehicle_id);
  }
  if (!state.vehicle && vehicles.length) { selectVehicle(vehicles[0].vehicle_id); }
}

async function selectVehicle(vid) {
  state.vehicle = vid;
  $("selected-vehicle").textContent = vid;
  for (const tr of $("fleet").tBodies[0].rows) { tr.className = tr.dataset.vehicle === vid ? "selected" : ""; }
  const signals = await getJSON("/api/vehicles/" + encodeURIComponent(vid) + "/signals");
  const sel = $("signal-select");
  sel.innerHTML = "";
  for (const s of signals) {
    const o = document.createElement("option");
    o.value = s.name; o.textContent = s.name + (s.unit ? " [" + s.unit + "]" : "") + " (" + s.samples + ")";
    sel.appendChild(o);
  }
  const best = signals.filter(s => s.samples > 0).sort((a, b) => b.samples - a.samples)[0];
  state.signal = best ? best.name : (signals[0] ? signals[0].name : null);
  if (state.signal) { sel.value = state.signal; }
  await Promise.all([refreshPlot(), refreshLinkEvents()]);
}

async function refreshPlot(wholeHistory) {
  if (!state.vehicle || !state.signal) { return; }
  let q = "/api/vehicles/" + encodeURIComponent(state.vehicle) + "/series?max_points=550&signal=" +
    encodeURIComponent(state.signal);
  const live = $("live").checked && !wholeHistory;
  if (live) {
    const latest = await getJSON(q + "&max_points=2");
    const pts = latest.points || [];
    if (pts.length) {
      const end = pts[pts.length - 1][0];
      q += "&start_ns=" + (end - Number($("window-s").value) * 1e9);
    }
  }
  const series = await getJSON(q);
  drawPlot($("plot"), series, { title: state.vehicle + " · " + state.signal + (live ? " (live)" : " (history)") });
  $("plot-info").textContent = series.count + " samples" +
    (series.downsampled ? ", " + series.points.length + " buckets (min/avg/max)" : "");
}

async function refreshLinkEvents() {
  if (!state.vehicle) { return; }
  const events = await getJSON("/api/vehicles/" + encodeURIComponent(state.vehicle) + "/link-events?limit=20");
  const body = $("link-events").tBodies[0];
  body.innerHTML = "";
  for (const e of events) {
    const tr = body.insertRow();
    [new Date(e.ts_ns / 1e6).toISOString().substring(11, 23), e.from_transport || "—", e.to_transport,
      e.reason, fmt(e.rtt_ms, 1), (100 * e.loss).toFixed(1) + " %"].forEach(c => { tr.insertCell().textContent = c; });
  }
}

function connectLive() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/live");
  ws.onopen = () => { $("feed-state").textContent = "live"; $("feed-state").className = "good"; };
  ws.onmessage = ev => {
    const msg = JSON.parse(ev.data);
    $("gateway-id").textContent = "gateway " + msg.gateway_id;
    renderFleet(msg.vehicles);
  };
  ws.onclose = () => {
    $("feed-state").textContent = "reconnecting…"; $("feed-state").className = "bad";
    // logged out or expired: back to the login page instead of retrying forever
    fetch("/api/me", { credentials: "same-origin" }).then(r => { if (r.status === 401) { toLogin(); } })
      .catch(() => {});
    setTimeout(connectLive, 2000);
  };
}

$("signal-select").onchange = e => { state.signal = e.target.value; refreshPlot(); };
$("history").onclick = () => { $("live").checked = false; refreshPlot(true); };
$("command-form").onsubmit = async e => {
  e.preventDefault();
  if (!state.vehicle) { return; }
  let payload;
  try { payload = JSON.parse($("command-payload").value || "null"); } catch (err) {
    $("command-result").textContent = "payload is not JSON: " + err.message; return;
  }
  const r = await post("/api/vehicles/" + encodeURIComponent(state.vehicle) + "/commands",
    { kind: $("command-kind").value, payload });
  const body = await r.json();
  $("command-result").textContent = r.ok ? "command " + body.id + ": " + (body.ok ? "acknowledged" : "rejected") +
    (body.detail ? " (" + body.detail + ")" : "") : "failed: " + body.detail;
};
$("logout").onclick = async () => { await post("/api/logout"); toLogin(); };
setInterval(() => { if ($("live").checked) { refreshPlot(); refreshLinkEvents(); } }, 2000);
whoAmI().then(connectLive);

// A small time-series plot on <canvas>: line of values, min..max band when downsampled.
"use strict";

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) { ticks.push(t); }
  return ticks;
}

function drawPlot(canvas, series, opts) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, L = 70, R = 15, T = 20, B = 35;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#555";
  const pts = series.points || [];
  canvas.dataset.points = String(pts.length);   // what was drawn, for tests and accessibility tools
  canvas.dataset.title = (opts && opts.title) || "";
  if (!pts.length) { ctx.fillText("no samples yet", L, H / 2); return; }
  const xs = pts.map(p => p[0] / 1e9);
  const lows = pts.map(p => (p.length > 2 ? p[2] : p[1]));
  const highs = pts.map(p => (p.length > 3 ? p[3] : p[1]));
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1e-3);
  let y0 = Math.min(...lows), y1 = Math.max(...highs);
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
  const X = t => L + (t - x0) / (x1 - x0) * (W - L - R);
  const Y = v => H - B - (v - y0) / (y1 - y0) * (H - T - B);
  ctx.strokeStyle = "#e3e6ea"; ctx.lineWidth = 1;
  for (const v of niceTicks(y0, y1, 5)) {
    ctx.beginPath(); ctx.moveTo(L, Y(v)); ctx.lineTo(W - R, Y(v)); ctx.stroke();
    ctx.fillText(Number(v.toPrecision(6)).toString(), 4, Y(v) + 4);
  }
  for (const t of niceTicks(0, x1 - x0, 8)) {
    const d = new Date((x0 + t) * 1000);
    ctx.fillText(d.toISOString().substring(11, 19), X(x0 + t) - 25, H - 12);
  }
  if (series.downsampled) {
    ctx.fillStyle = "rgba(40,110,220,0.18)";
    ctx.beginPath();
    pts.forEach((p, i) => { const x = X(xs[i]); i ? ctx.lineTo(x, Y(p[3])) : ctx.moveTo(x, Y(p[3])); });
    for (let i = pts.length - 1; i >= 0; i--) { ctx.lineTo(X(xs[i]), Y(pts[i][2])); }
    ctx.closePath(); ctx.fill();
  }
  ctx.strokeStyle = "#1f6feb"; ctx.lineWidth = 1.5;
  ctx.beginPath();
  pts.forEach((p, i) => { const x = X(xs[i]), y = Y(p[1]); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
  ctx.stroke();
  ctx.fillStyle = "#1d232b";
  ctx.fillText((opts && opts.title) || "", L, 14);
}

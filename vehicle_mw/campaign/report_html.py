"""The dry-run's HTML report: one self-contained page, inline SVG timelines, no scripts or CDN."""

from __future__ import annotations

import html

import numpy as np

from vehicle_mw.campaign.dryrun import PLOT_POINTS, DryRunReport

W, H = 900, 120


def _polyline(t: np.ndarray, v: np.ndarray, t0: int, t1: int) -> str:
    if len(t) == 0:
        return ""
    step = max(1, len(t) // PLOT_POINTS)
    t, v = t[::step], v[::step]
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    span = (hi - lo) or 1.0
    xs = (t - t0) / max(t1 - t0, 1) * W
    ys = H - 5 - (v - lo) / span * (H - 10)
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True))
    return f'<polyline fill="none" stroke="#1f6fb2" stroke-width="1" points="{pts}"/>'


def render(report: DryRunReport) -> str:
    """The whole page."""
    t0, t1 = report.trace_start_ns, max(report.trace_end_ns, report.trace_start_ns + 1)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>vmw campaign dry-run</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}svg{background:#fafafa}</style>",
        "</head><body><h1>Campaign dry-run</h1>",
        f"<p>{report.trace_samples:,} samples over {(t1 - t0) / 1e9:.1f} s of trace.</p>",
        "<table><tr><th>campaign</th><th>kind</th><th>triggers</th><th>suppressed</th>"
        "<th>overlapping</th><th>samples</th><th>bytes</th><th>compressed</th></tr>",
    ]
    for c in report.campaigns:
        parts.append(
            f"<tr><td>{html.escape(c.name)}</td><td>{c.kind}</td><td>{len(c.triggers_ns)}</td>"
            f"<td>{c.suppressed}</td><td>{c.overlaps}</td><td>{c.samples:,}</td><td>{c.bytes:,}</td>"
            f"<td>{c.bytes_compressed:,}</td></tr>"
        )
    parts.append("</table>")
    for c in report.campaigns:
        names = report.condition_signals.get(c.name)
        if not names:
            continue
        parts.append(
            f"<h2>{html.escape(c.name)}</h2><p><code>{html.escape(report.expressions[c.name])}</code></p>"
        )
        for name in names:
            t, v = report.series.get(name, (np.empty(0, np.int64), np.empty(0)))
            marks = "".join(
                f'<line x1="{(tr - t0) / (t1 - t0) * W:.1f}" y1="0" x2="{(tr - t0) / (t1 - t0) * W:.1f}" '
                f'y2="{H}" stroke="#d62728" stroke-width="1"/>'
                for tr in c.triggers_ns[:2000]
            )
            shades = "".join(
                f'<rect x="{(a - t0) / (t1 - t0) * W:.1f}" y="0" '
                f'width="{max((b - a) / (t1 - t0) * W, 1):.1f}" height="{H}" fill="#ffbb78" opacity="0.4"/>'
                for a, b in c.windows[:2000]
            )
            parts.append(
                f"<p>{html.escape(name)}</p><svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' "
                f"viewBox='0 0 {W} {H}'>{shades}{_polyline(t, v, t0, t1)}{marks}</svg>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = ["render"]

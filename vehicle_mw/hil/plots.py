"""Plots of the asserted signals for the HTML report: inline SVG, no scripts or external assets.

Each ``signal_reaches`` assertion gets its signal's stored samples over the run, the target value
(a dashed line with the tolerance band) and the step it is timed from (a vertical line), so a
reader sees how the value got there, or did not.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from vehicle_mw.signals import values_as_float

MAX_POINTS = 1500  # per plot; longer series keep every n-th sample (the report stays small)
WIDTH, HEIGHT, PAD = 720, 180, 44


@dataclass
class SignalPlot:
    """One asserted signal: ``points`` are (ms since the scenario start, value)."""

    title: str
    signal: str
    points: list[tuple[float, float]] = field(default_factory=list)
    target: float | None = None
    tolerance: float = 0.0
    marks: list[tuple[float, str]] = field(default_factory=list)  # (ms, step id)


def asserted_plots(assertions, evidence) -> list[SignalPlot]:
    """A plot per ``signal_reaches`` assertion, from the run's evidence (gateway-stored samples)."""
    plots = []
    for a in assertions:
        if a.kind != "signal_reaches":
            continue
        check = a.check
        sid = evidence.signal_ids.get(check.signal, -1)  # -1: no such signal, no samples
        s = evidence.samples[evidence.samples["signal_id"] == sid]
        ms = (s["timestamp_ns"].astype(np.int64) - evidence.t0_ns) / 1e6
        values = values_as_float(s)
        step = max(1, len(s) // MAX_POINTS)
        marks = []
        if check.after in evidence.step_ns:
            marks.append(((evidence.step_ns[check.after] - evidence.t0_ns) / 1e6, check.after))
        plots.append(
            SignalPlot(
                a.name,
                check.signal,
                list(zip(ms[::step].tolist(), values[::step].tolist(), strict=True)),
                check.value,
                check.tolerance,
                marks,
            )
        )
    return plots


def svg(plot: SignalPlot) -> str:
    """The plot as an inline ``<svg>`` element (axes labelled with the ranges; hover titles)."""
    e = html.escape
    xs = [p[0] for p in plot.points] + [m[0] for m in plot.marks]
    ys = [p[1] for p in plot.points] + ([plot.target] if plot.target is not None else [])
    if not plot.points:
        return f'<p class="fail">{e(plot.signal)}: no samples stored during the run</p>'
    x0, x1 = min(xs + [0.0]), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 1.0, y1 + 1.0
    x1 = x1 if x1 > x0 else x0 + 1.0

    def sx(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (WIDTH - 2 * PAD)

    def sy(y: float) -> float:
        return HEIGHT - PAD / 2 - (y - y0) / (y1 - y0) * (HEIGHT - PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'class="plot"><title>{e(plot.signal)} during the run</title>',
        f'<rect x="{PAD}" y="{PAD / 2}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - PAD}" fill="none" '
        'stroke="#bbb"/>',
    ]
    if plot.target is not None:
        lo, hi = sy(plot.target + plot.tolerance), sy(plot.target - plot.tolerance)
        parts.append(
            f'<rect x="{PAD}" y="{lo:.1f}" width="{WIDTH - 2 * PAD}" height="{max(hi - lo, 0.5):.1f}" '
            'fill="#dff5df"/>'
            f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{sy(plot.target):.1f}" y2="{sy(plot.target):.1f}" '
            f'stroke="#2a2" stroke-dasharray="4 3"><title>target {plot.target:g}</title></line>'
        )
    for ms, label in plot.marks:
        parts.append(
            f'<line x1="{sx(ms):.1f}" x2="{sx(ms):.1f}" y1="{PAD / 2}" y2="{HEIGHT - PAD / 2}" stroke="#c60" '
            f'stroke-dasharray="2 2"><title>step {e(label)} at +{ms:.1f} ms</title></line>'
        )
    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in plot.points)
    lo, hi = min(p[1] for p in plot.points), max(p[1] for p in plot.points)
    parts.append(
        f'<polyline points="{line}" fill="none" stroke="#247" stroke-width="1.5">'
        f"<title>{e(plot.signal)}: {lo:g} to {hi:g}</title></polyline>"
    )
    text = 'font-size="11" font-family="sans-serif"'
    parts.append(
        f'<text x="{PAD - 4}" y="{PAD / 2 + 10}" text-anchor="end" {text}>{y1:g}</text>'
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD / 2}" text-anchor="end" {text}>{y0:g}</text>'
        f'<text x="{PAD}" y="{HEIGHT - 4}" {text}>+{x0:.0f} ms</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 4}" text-anchor="end" {text}>+{x1:.0f} ms</text>'
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 4}" text-anchor="middle" {text}>{e(plot.signal)} '
        f"({len(plot.points)} samples shown)</text></svg>"
    )
    return "".join(parts)


__all__ = ["MAX_POINTS", "SignalPlot", "asserted_plots", "svg"]

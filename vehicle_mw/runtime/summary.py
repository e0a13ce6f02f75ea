"""What ``vmw vehicle run`` and ``vmw vehicle status`` print: one table of the per-stage counters.

On a terminal the table is kept live (rich); otherwise a plain line every few seconds, so a log
collector (journald) gets readable progress without control characters.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

PLAIN_PERIOD_S = 5.0
Counters = dict[str, dict[str, Any]]


def rows(c: Counters) -> list[tuple[str, str]]:
    """(what, value) rows: per bus frames/decoded/unknown/drops, SOME/IP, outbox, link."""
    out: list[tuple[str, str]] = []
    can = c.get("can", {}).get("buses", {})
    dec = c.get("decode", {}).get("buses", {})
    for bus in dict.fromkeys([*can, *dec]):
        r, d = can.get(bus, {}), dec.get(bus, {})
        state = r.get("state", "-") + (f" ({r['last_error']})" if r.get("last_error") else "")
        out.append((f"bus {bus}", state))
        out.append(("  frames in / dropped", f"{r.get('frames', 0):,} / {r.get('dropped', 0):,}"))
        out.append(
            (
                "  decoded / unknown ids / samples",
                f"{d.get('decoded', 0):,} / {d.get('unknown_ids', 0):,} / {d.get('samples', 0):,}",
            )
        )
    for name, s in c.get("someip", {}).get("services", {}).items():
        avail = "available" if s.get("available") else "not available"
        out.append(
            (f"someip {name}", f"{avail}, {s.get('events', 0):,} events, {s.get('samples', 0):,} samples")
        )
    u = c.get("uplink", {})
    if u:
        out.append(("samples into the outbox", f"{u.get('samples_stored', 0):,}"))
        out.append(("ring drops", f"{u.get('ring_drops', 0):,}"))
        out.append(
            (
                "outbox backlog",
                f"{u.get('backlog_batches', 0)} batches, {u.get('backlog_samples', 0):,} samples",
            )
        )
        out.append(("acked batch seq", str(u.get("acked_seq", 0))))
        active = u.get("transport")
        out.append(("transport", active or "connecting"))
        view = u.get("links", {}).get(active or "", {})
        if view:
            out.append(("RTT / loss", f"{view['rtt_ms']:.1f} ms / {100 * view['loss']:.1f} %"))
        out.append(("switches", str(u.get("switches", 0))))
    return out


def table(c: Counters, title: str) -> Table:
    t = Table(title=title, show_header=False, expand=False)
    t.add_column("what")
    t.add_column("now", justify="right")
    for what, value in rows(c):
        t.add_row(what, value)
    return t


def line(c: Counters) -> str:
    return "  ".join(f"{k.strip()}={v}" for k, v in rows(c))


class LiveSummary:
    """Keeps the runtime's counters in view while it runs."""

    def __init__(self, title: str, quiet: bool = False, console: Console | None = None):
        self.title = title
        self.quiet = quiet
        self.console = console or Console(stderr=False)

    @contextlib.contextmanager
    def live(self, counters: Callable[[], Counters]) -> Iterator[None]:
        with live_view(
            self.console,
            lambda: table(counters(), self.title),
            lambda: line(counters()),
            quiet=self.quiet,
        ):
            yield


@contextlib.contextmanager
def live_view(
    console: Console,
    render: Callable[[], Table],
    plain: Callable[[], str],
    *,
    quiet: bool = False,
    period_s: float = PLAIN_PERIOD_S,
) -> Iterator[None]:
    """While the block runs: a table refreshed twice a second on a terminal, a plain line every
    ``period_s`` otherwise (logs, pipes, systemd's journal); nothing when ``quiet``.
    The runtime and the demo both show their numbers through this."""
    if quiet:
        yield
        return
    if console.is_terminal:
        with Live(render(), console=console, refresh_per_second=2) as live:
            with _every(0.5, lambda: live.update(render())):
                yield
        return
    with _every(period_s, lambda: console.print(plain(), soft_wrap=True, markup=False, highlight=False)):
        yield


@contextlib.contextmanager
def _every(period_s: float, tick: Callable[[], None]) -> Iterator[None]:
    """Call ``tick`` every ``period_s`` on a daemon thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(period_s):
            tick()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(2)


__all__ = ["LiveSummary", "line", "live_view", "rows", "table"]

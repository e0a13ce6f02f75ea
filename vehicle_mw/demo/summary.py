"""The demo's terminal output: the runtime's counters (vehicle_mw.runtime.summary) plus what the
gateway stored and the link switches with their reasons; live on a terminal, plain lines otherwise."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from vehicle_mw.channel.uplink import SwitchEvent
from vehicle_mw.runtime.summary import live_view, rows

PLAIN_PERIOD_S = 2.0  # the demo is short: a line every 2 s


def describe(ev: SwitchEvent) -> str:
    return f"{ev.from_transport or 'none'} -> {ev.to_transport}: {ev.reason}"


@dataclass(frozen=True)
class Snapshot:
    elapsed_s: float
    counters: dict[str, dict[str, Any]]
    stored_samples: int  # at the gateway, for this vehicle
    switch_log: tuple[SwitchEvent, ...] = field(default=())

    def _bus_sum(self, stage: str, key: str) -> int:
        return sum(int(b.get(key, 0)) for b in self.counters.get(stage, {}).get("buses", {}).values())

    @property
    def frames(self) -> int:
        return self._bus_sum("can", "frames")

    @property
    def samples(self) -> int:
        """Samples the runtime appended to the outbox."""
        return int(self.counters.get("uplink", {}).get("samples_stored", 0))

    @property
    def transport(self) -> str | None:
        return self.counters.get("uplink", {}).get("transport")

    @property
    def switches(self) -> int:
        return int(self.counters.get("uplink", {}).get("switches", 0))

    def line(self) -> str:
        u = self.counters.get("uplink", {})
        view = u.get("links", {}).get(self.transport or "", {})
        rtt = f"{view['rtt_ms']:.1f}ms" if view else "-"
        return (
            f"t={self.elapsed_s:5.1f}s frames={self.frames} samples={self.samples} "
            f"transport={self.transport or '-'} rtt={rtt} switches={self.switches} "
            f"backlog={u.get('backlog_batches', 0)} acked_seq={u.get('acked_seq', 0)} "
            f"stored={self.stored_samples}"
        )


def _table(s: Snapshot, url: str) -> Table:
    t = Table(title=f"vehicle_mw demo  ·  dashboard {url}", show_header=False, expand=False)
    t.add_column("what")
    t.add_column("now", justify="right")
    for what, value in rows(s.counters):
        t.add_row(what, value)
    t.add_row("samples stored at gateway", f"{s.stored_samples:,}")
    for ev in s.switch_log[-4:]:
        t.add_row("  link switch", describe(ev))
    t.caption = f"running {s.elapsed_s:.0f} s · Ctrl-C stops"
    return t


class LiveSummary:
    """Prints the dashboard URL and notes, then keeps the runtime's numbers in view."""

    def __init__(self, url: str, quiet: bool = False):
        self.url = url
        self.quiet = quiet
        self.console = Console()

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, soft_wrap=True, markup=False, highlight=False)

    @contextlib.contextmanager
    def live(self, snapshot: Callable[[], Snapshot]) -> Iterator[None]:
        with live_view(
            self.console,
            lambda: _table(snapshot(), self.url),
            lambda: snapshot().line(),
            quiet=self.quiet,
            period_s=PLAIN_PERIOD_S,
        ):
            yield

    def final(self, s: Snapshot) -> None:
        if self.quiet:
            return
        print("final: " + s.line(), flush=True)
        for ev in s.switch_log:
            print(f"link switch {describe(ev)}", flush=True)

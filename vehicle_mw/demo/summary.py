"""The demo's terminal output: a live rich table on a terminal, periodic plain lines otherwise."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.table import Table

PLAIN_PERIOD_S = 2.0


@dataclass(frozen=True)
class Snapshot:
    elapsed_s: float
    frames: int
    samples: int
    undecoded: int
    loops: int
    transport: str | None
    rtt_ms: float | None
    loss: float | None
    switches: int
    backlog_batches: int
    backlog_records: int
    acked_seq: int
    stored_samples: int

    def line(self) -> str:
        rtt = f"{self.rtt_ms:.1f} ms" if self.rtt_ms is not None else "-"
        return (
            f"t={self.elapsed_s:5.1f}s frames={self.frames} samples={self.samples} "
            f"transport={self.transport or '-'} rtt={rtt} backlog={self.backlog_batches} batches/"
            f"{self.backlog_records} samples acked_seq={self.acked_seq} stored={self.stored_samples}"
        )


def _table(s: Snapshot, url: str) -> Table:
    t = Table(title=f"vehicle_mw demo  ·  dashboard {url}", show_header=True, expand=False)
    t.add_column("stage")
    t.add_column("now", justify="right")
    t.add_row("CAN frames replayed", f"{s.frames:,}" + (f" (trace restarted {s.loops}x)" if s.loops else ""))
    t.add_row("frames not in the DBC", f"{s.undecoded:,}")
    t.add_row("samples decoded -> outbox", f"{s.samples:,}")
    t.add_row("transport", s.transport or "connecting")
    t.add_row("RTT / loss", "-" if s.rtt_ms is None else f"{s.rtt_ms:.1f} ms / {100 * (s.loss or 0):.1f} %")
    t.add_row("switches", str(s.switches))
    t.add_row("outbox backlog", f"{s.backlog_batches} batches, {s.backlog_records:,} samples")
    t.add_row("acked batch seq", str(s.acked_seq))
    t.add_row("samples stored at gateway", f"{s.stored_samples:,}")
    t.caption = f"running {s.elapsed_s:.0f} s · Ctrl-C stops"
    return t


class LiveSummary:
    """Prints the dashboard URL, then keeps the pipeline's numbers in view."""

    def __init__(self, url: str, quiet: bool = False):
        self.url = url
        self.quiet = quiet
        self.console = Console()

    def announce(self, gateway, catalog, trace) -> None:
        if self.quiet:
            return
        self.console.print(f"[bold]dashboard[/bold]  {self.url}")
        self.console.print(
            f"gateway    grpc {gateway.grpc_target}  websocket {gateway.ws_url}  api {gateway.http_url}/docs"
        )
        self.console.print(f"vehicle    replaying {trace.name} with {len(catalog)} signals from its DBC")

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    @contextlib.contextmanager
    def live(self, snapshot: Callable[[], Snapshot]) -> Iterator[None]:
        if self.quiet:
            yield
            return
        if self.console.is_terminal:
            with Live(_table(snapshot(), self.url), console=self.console, refresh_per_second=2) as live:
                stop = threading.Event()

                def refresh() -> None:
                    while not stop.wait(0.5):
                        live.update(_table(snapshot(), self.url))

                th = threading.Thread(target=refresh, name="vmw-demo-summary", daemon=True)
                th.start()
                try:
                    yield
                finally:
                    stop.set()
                    th.join()
            return
        stop = threading.Event()

        def lines() -> None:
            while not stop.wait(PLAIN_PERIOD_S):
                print(snapshot().line(), flush=True)

        th = threading.Thread(target=lines, name="vmw-demo-summary", daemon=True)
        th.start()
        try:
            yield
        finally:
            stop.set()
            th.join()

    def final(self, s: Snapshot) -> None:
        if not self.quiet:
            print("final: " + s.line(), flush=True)

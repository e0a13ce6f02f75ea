"""The demo's scripted bad link: at a set moment the gRPC link gets RTT and loss, later it heals.

Both channel targets go through a :class:`vehicle_mw.hil.link_proxy.LinkProxy` in front of the
gateway. The script impairs only the gRPC proxy, so the negotiator leaves gRPC for WebSocket
(reason: the RTT or loss it measured), and after the impairment is cleared and the dwell time and
hysteresis allow it, returns to the preferred gRPC -- the mission of the channel, shown live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from vehicle_mw.hil.link_proxy import LinkProxy

log = logging.getLogger("vehicle_mw.demo")

IMPAIRMENT = {"delay_ms": 150.0, "jitter_ms": 20.0, "loss": 0.2}  # RTT ~300 ms > 250 ms rtt_high_ms
RETURN_S = 20.0  # about what the channel needs to trust gRPC again (probe window, dwell, hysteresis)


@dataclass(frozen=True)
class ImpairmentScript:
    """When the gRPC link goes bad (seconds after start) and for how long; None: never."""

    at_s: float | None = 10.0
    for_s: float = 15.0

    def fits(self, duration_s: float | None) -> bool:
        """Run the script only when the demo lasts long enough to show the switch back too."""
        if self.at_s is None:
            return False
        return duration_s is None or self.at_s + self.for_s + RETURN_S <= duration_s


@dataclass
class DemoLinks:
    """The proxies in front of the gateway and the channel targets pointing at them."""

    grpc: LinkProxy
    websocket: LinkProxy
    grpc_target: str
    websocket_url: str


@contextlib.asynccontextmanager
async def proxied_links(grpc_target: str, websocket_url: str) -> AsyncIterator[DemoLinks]:
    host, _, port = grpc_target.rpartition(":")
    ws = urlsplit(websocket_url)
    grpc = LinkProxy(host, int(port), name="grpc")
    websocket = LinkProxy(ws.hostname or "127.0.0.1", ws.port or 443, name="websocket")
    await grpc.start()
    await websocket.start()
    try:
        yield DemoLinks(
            grpc,
            websocket,
            f"127.0.0.1:{grpc.port}",
            f"{ws.scheme}://127.0.0.1:{websocket.port}{ws.path}",
        )
    finally:
        await grpc.stop()
        await websocket.stop()


async def run_script(
    script: ImpairmentScript, proxy: LinkProxy, active: Callable[[], str | None], note: Callable[[str], None]
) -> None:
    """``script.at_s`` after start, once gRPC carries the data (``active()``), impair ``proxy`` for
    ``script.for_s``; then clear it (also when cancelled)."""
    assert script.at_s is not None
    try:
        await asyncio.sleep(script.at_s)
        while active() != "grpc":
            await asyncio.sleep(0.1)
        proxy.impair(**IMPAIRMENT)
        note(
            f"script     impairing the gRPC link: +{2 * IMPAIRMENT['delay_ms']:.0f} ms RTT, "
            f"{100 * IMPAIRMENT['loss']:.0f} % loss for {script.for_s:.0f} s"
        )
        await asyncio.sleep(script.for_s)
        note("script     gRPC link healthy again")
    finally:
        proxy.clear()


__all__ = ["IMPAIRMENT", "DemoLinks", "ImpairmentScript", "proxied_links", "run_script"]

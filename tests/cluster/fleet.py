"""Simulated vehicles for the cluster tests: the project's loadgen clients, driven like a vehicle's
outbox (a window of unacknowledged batches, resent after reconnecting to the next gateway of its
list, resuming after its last Ack)."""

from __future__ import annotations

import asyncio
import contextlib

from vehicle_mw.gateway.loadgen import WsVehicle, batch, hello
from vehicle_mw.v1 import link_pb2

PER = 20  # samples per batch


def numbered(seq: int, per: int = PER) -> link_pb2.Uplink:
    """Batch ``seq``: source sequences (seq-1)*per+1 .. seq*per, two signals."""
    first = (seq - 1) * per + 1
    ids = list(range(first, first + per))
    return batch(seq, [1 + i % 2 for i in ids], [float(i % 97) for i in ids], ids,
                 ts_ns=[1_700_000_000_000_000_000 + i * 1_000_000 for i in ids])  # fmt: skip


class DrivenVehicle:
    def __init__(self, vehicle_id: str, urls: list[str], batches: int, period_s: float, window: int = 8):
        self.vehicle_id, self.urls, self.batches = vehicle_id, urls, batches
        self.period_s, self.window = period_s, window
        self.acked = 0
        self.sent = 0
        self.reconnects = 0

    @property
    def done(self) -> bool:
        return self.acked >= self.batches

    async def run(self) -> None:
        turn = 0
        while not self.done:
            url = self.urls[turn % len(self.urls)]
            turn += 1
            v = None
            try:
                v = await WsVehicle.connect(url)
                first = await v.open(hello(self.vehicle_id, resume_after_seq=self.acked), timeout=20)
                if first is None or first.WhichOneof("msg") != "welcome":
                    raise ConnectionError(f"no welcome: {first}")
                self.acked = max(self.acked, first.welcome.acked_seq)
                await self._stream(v)
            except (ConnectionError, OSError, TimeoutError) as exc:
                self.reconnects += 1
                self.last_error = str(exc)
                await asyncio.sleep(0.2)
            finally:
                if v is not None:
                    with contextlib.suppress(Exception):
                        await v.close()

    async def _stream(self, v: WsVehicle) -> None:
        next_seq = self.acked + 1  # the outbox resends everything not acknowledged
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self.done:
            while next_seq <= self.batches and next_seq - self.acked <= self.window and loop.time() >= due:
                await v.send(numbered(next_seq))
                self.sent += 1
                next_seq += 1
                due += self.period_s
            wait = max(0.005, due - loop.time()) if next_seq - self.acked <= self.window else 15.0
            try:
                down = await v.recv(timeout=min(wait, 15.0) if next_seq <= self.batches else 15.0)
            except TimeoutError:
                if next_seq - self.acked > self.window or next_seq > self.batches:
                    raise
                continue
            if down is None:
                raise ConnectionError("gateway closed the connection")
            kind = down.WhichOneof("msg")
            if kind == "ack":
                self.acked = max(self.acked, down.ack.acked_seq)
            elif kind == "probe":
                await v.send(
                    link_pb2.Uplink(echo=link_pb2.Echo(id=down.probe.id, sent_ns=down.probe.sent_ns))
                )
            elif kind == "error":
                raise ConnectionError(f"gateway error: {down.error.message}")


class Fleet:
    def __init__(self, prefix: str, count: int, urls: list[str], batches: int, period_s: float):
        self.vehicles = [
            DrivenVehicle(
                f"{prefix}-{i:03d}", urls[i % len(urls) :] + urls[: i % len(urls)], batches, period_s
            )
            for i in range(count)
        ]
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(v.run()) for v in self.vehicles]

    @property
    def acked(self) -> int:
        return sum(v.acked for v in self.vehicles)

    @property
    def total(self) -> int:
        return sum(v.batches for v in self.vehicles)

    async def wait_acked(self, fraction: float, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.acked < fraction * self.total:
            if loop.time() > deadline:
                raise TimeoutError(f"acked {self.acked} of {self.total} batches after {timeout} s")
            await asyncio.sleep(0.05)

    async def finish(self, timeout: float) -> None:
        await asyncio.wait_for(asyncio.gather(*self.tasks), timeout)

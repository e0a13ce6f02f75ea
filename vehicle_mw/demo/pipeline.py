"""The vehicle side of the demo: CAN replay -> frame ring -> native decode -> sample ring -> outbox.

Three stages, each on its own thread, linked by the shared-memory rings of ``vehicle_mw.native``:
``replay_log`` pushes frame records at the trace's own timing, ``Decoder.run`` decodes ring to
ring in C, and an executor ring task (``vehicle_mw.rt``) appends the samples to the durable outbox
that the channel's ``Uplink`` drains.
"""

from __future__ import annotations

import os
import pathlib
import threading
from dataclasses import dataclass

import numpy as np

from vehicle_mw.can import replay_log
from vehicle_mw.native import FRAME_SIZE, SAMPLE_DTYPE, SAMPLE_SIZE, SlotRing
from vehicle_mw.rt import Executor
from vehicle_mw.signals import Decoder, SignalCatalog
from vehicle_mw.store import Outbox


class CountingSink:
    """A frame ring that counts what the replay pushed into it."""

    def __init__(self, ring: SlotRing):
        self.ring = ring
        self.frames = 0

    def push_batch(self, buf) -> int:
        n = self.ring.push_batch(buf)
        self.frames += n
        return n

    def wait_space(self, timeout: float) -> bool:
        return bool(self.ring.wait_space(timeout))


@dataclass
class PipelineCounters:
    frames: int = 0
    samples: int = 0
    undecoded_frames: int = 0  # frames of IDs the DBC does not describe, or too short
    loops: int = 0


class VehiclePipeline:
    """Replay a trace through rings, decoder and executor into ``outbox``, until stopped."""

    def __init__(self, trace: pathlib.Path, catalog: SignalCatalog, outbox: Outbox, speed: float = 1.0):
        self.trace = trace
        self.catalog = catalog
        self.outbox = outbox
        self.speed = speed
        tag = f"{os.getpid()}.{id(self) & 0xFFFF:x}"
        self.frame_ring = SlotRing.create(f"/vmw.demo.{tag}.frames", FRAME_SIZE, 4096)
        self.sample_ring = SlotRing.create(f"/vmw.demo.{tag}.samples", SAMPLE_SIZE, 65536)
        self.sink = CountingSink(self.frame_ring)
        self.decoder = Decoder(catalog)
        self.executor = Executor("demo-outbox")
        self.executor.on_ring("samples-to-outbox", self.sample_ring, self._to_outbox, max_batch=4096)
        self.samples = 0
        self.loops = 0
        self._stop_replay = threading.Event()
        self._stop_decode = threading.Event()
        self._replay = threading.Thread(target=self._run_replay, name="vmw-demo-replay", daemon=True)
        self._decode = threading.Thread(
            target=self.decoder.run,
            args=(self.frame_ring, self.sample_ring, self._stop_decode),
            name="vmw-demo-decode",
            daemon=True,
        )
        self.error: BaseException | None = None

    def _run_replay(self) -> None:
        try:
            replay_log(
                self.trace,
                self.sink,
                speed=self.speed,
                loops=0,
                stop=self._stop_replay,
                on_loop=self._on_loop,
            )
        except BaseException as exc:  # noqa: BLE001 - reported by the demo, not lost in a thread
            self.error = exc

    def _on_loop(self, n: int) -> None:
        if not self._stop_replay.is_set():  # a pass cut short by stop is not a completed loop
            self.loops = n

    def _to_outbox(self, batch: bytes) -> None:
        samples = np.frombuffer(batch, SAMPLE_DTYPE)
        if len(samples):
            self.outbox.append(samples)
            self.samples += len(samples)

    def counters(self) -> PipelineCounters:
        stats = self.decoder.stats()
        return PipelineCounters(self.sink.frames, self.samples, stats.unknown + stats.too_short, self.loops)

    def start(self) -> None:
        self.executor.start()
        self._decode.start()
        self._replay.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the replay, then let decode and the outbox task drain what is in the rings."""
        self._stop_replay.set()
        self._replay.join(timeout)
        _wait_empty(self.frame_ring, timeout)
        self._stop_decode.set()
        self._decode.join(timeout)
        _wait_empty(self.sample_ring, timeout)
        self.executor.stop(timeout)
        for ring in (self.frame_ring, self.sample_ring):
            ring.unlink()
            ring.close()


def _wait_empty(ring: SlotRing, timeout: float) -> None:
    """Bounded wait until the consumer has taken everything from ``ring``."""
    done = threading.Event()
    deadline = timeout
    while len(ring) and deadline > 0:
        done.wait(0.01)
        deadline -= 0.01


__all__ = ["CountingSink", "PipelineCounters", "VehiclePipeline"]

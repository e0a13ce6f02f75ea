"""A thread that decodes a frame ring into a sample ring until stopped, entirely in C.

The thread calls ``vmw_decode_loop`` once: waiting, decoding and pushing all
happen in C with the GIL released, so decoding neither costs nor waits for
the interpreter (a busy Python thread cannot starve it).
"""

from __future__ import annotations

import threading

from vehicle_mw.native import ffi, lib
from vehicle_mw.signals.catalog import SignalCatalog
from vehicle_mw.signals.decoder import Decoder, DecodeStats
from vehicle_mw.signals.errors import DecoderError

POLL_NS = 100_000_000  # how often the loop re-checks its stop flag while idle


class RingDecoderThread:
    """What every decoder thread shares: one thread between a frame ring and a sample ring,
    started and stopped the same way (stop wakes both rings so a waiting loop sees it at once).
    Subclasses set ``frame_ring``, ``sample_ring`` and ``_thread``, and implement ``_request_stop``
    and ``stats``."""

    frame_ring: object
    sample_ring: object
    _thread: threading.Thread

    def _request_stop(self) -> None:
        raise NotImplementedError

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current batch (wakes a waiting loop at once)."""
        self._request_stop()
        self.frame_ring.wake()
        self.sample_ring.wake()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DecoderThread(RingDecoderThread):
    """Frame SlotRing -> native decode -> sample SlotRing, in its own thread.

    The rings must stay open until :meth:`stop` returns (the thread uses them from C).
    """

    def __init__(
        self, catalog: SignalCatalog | Decoder, frame_ring, sample_ring, *, name: str = "vmw-decode"
    ):
        self.decoder = catalog if isinstance(catalog, Decoder) else Decoder(catalog)
        self.frame_ring = frame_ring
        self.sample_ring = sample_ring
        self._stop = ffi.new("int *", 0)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        rc = lib.vmw_decode_loop(
            self.decoder._d, self.frame_ring.cptr, self.sample_ring.cptr, self._stop, POLL_NS
        )
        if rc != 0:
            self.error = DecoderError(
                f"decoder thread stopped: rings {self.frame_ring.name!r} / {self.sample_ring.name!r} "
                "must have 88- and 32-byte slots"
            )

    def _request_stop(self) -> None:
        self._stop[0] = 1

    def stats(self) -> DecodeStats:
        """Counters (safe to read while the thread runs)."""
        return self.decoder.stats()


__all__ = ["DecoderThread", "RingDecoderThread"]

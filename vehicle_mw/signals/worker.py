"""A thread that decodes a frame ring into a sample ring until stopped."""

from __future__ import annotations

import threading

from vehicle_mw.signals.catalog import SignalCatalog
from vehicle_mw.signals.decoder import Decoder, DecodeStats


class DecoderThread:
    """Runs :meth:`Decoder.run` (frame SlotRing -> native decode -> sample SlotRing) in its own thread."""

    def __init__(
        self, catalog: SignalCatalog | Decoder, frame_ring, sample_ring, *, name: str = "vmw-decode"
    ):
        self.decoder = catalog if isinstance(catalog, Decoder) else Decoder(catalog)
        self.frame_ring = frame_ring
        self.sample_ring = sample_ring
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.decoder.run(self.frame_ring, self.sample_ring, self._stop)
        except BaseException as exc:  # kept for the owner: a decoder must not die silently
            self.error = exc
            raise

    def start(self) -> DecoderThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current batch (wakes a waiting thread at once)."""
        self._stop.set()
        self.frame_ring.wake()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stats(self) -> DecodeStats:
        return self.decoder.stats()

    def __enter__(self) -> DecoderThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["DecoderThread"]

"""Decoding with transport-protocol reassembly: J1939 TP and ISO-TP messages decoded like single frames.

Where this sits: frames go into the frame ring exactly as read (sequence numbers, restart resume
and the reader's hot path do not change). On a bus that declares ``j1939_tp`` or ``isotp`` the
decoder is a :class:`TransportDecoderThread` instead of the all-C :class:`DecoderThread`: per batch
of up to 256 frames one C call (``vmw_decode_frames_ex``) decodes every ordinary frame and hands
back only the frames of the transport ids (J1939 TP.CM / TP.DT by PGN, both ids of each ISO-TP
link -- marked ``VMW_DEC_MSG_DIVERT`` in the decoder's id table, so ordinary frames cost nothing
more). Those go to :class:`~vehicle_mw.can.j1939_tp.J1939Reassembler` /
:class:`~vehicle_mw.can.isotp.IsoTpReassembler`; a complete message is decoded by
``vmw_decode_message`` with the same tables (J1939: the carried PGN; ISO-TP: the message of the id
it travelled on; up to 4095 bytes), its samples stamped with the time and sequence number of the
frame that completed it, in frame order with the batch's other samples. Buses without transport
keep the C loop unchanged.

A decoder restarted mid-message loses that one message (its earlier frames were released).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np

from vehicle_mw.can.isotp import IsoTpReassembler, endpoints
from vehicle_mw.can.j1939_tp import J1939Reassembler, J1939Timeouts
from vehicle_mw.native import FRAME_DTYPE, FRAME_SIZE, SAMPLE_DTYPE, ffi, lib
from vehicle_mw.native.records import FRAME_EXTENDED
from vehicle_mw.signals.catalog import SignalCatalog
from vehicle_mw.signals.decoder import Decoder, DecodeStats
from vehicle_mw.signals.worker import DecoderThread, RingDecoderThread

log = logging.getLogger(__name__)
BATCH = 256


class TransportDecoder:
    """A :class:`Decoder` plus the reassemblers of the catalog's buses that declare transport.

    Not thread-safe (one per decoding thread, like Decoder). ``clock`` (monotonic ns) drives the
    idle timeouts (:meth:`expire_idle`); timeouts while frames flow use the frames' timestamps.
    """

    def __init__(
        self,
        catalog: SignalCatalog | Decoder,
        *,
        clock: Callable[[], int] = time.monotonic_ns,
        j1939_timeouts: J1939Timeouts | None = None,
        n_cr_ns: int = 1_000_000_000,
    ):
        self.decoder = catalog if isinstance(catalog, Decoder) else Decoder(catalog)
        self.catalog = self.decoder.catalog
        self.j1939: dict[int, J1939Reassembler] = {}
        self.isotp: dict[int, IsoTpReassembler] = {}
        for bus in self.catalog.buses:
            if bus.j1939_tp:
                self.j1939[bus.bus_id] = J1939Reassembler(
                    max_sessions=bus.transport_sessions, timeouts=j1939_timeouts, clock=clock
                )
            if bus.isotp:
                self.isotp[bus.bus_id] = IsoTpReassembler(
                    endpoints(bus.bus_id, bus.isotp),
                    max_sessions=bus.transport_sessions,
                    n_cr_ns=n_cr_ns,
                    clock=clock,
                )
        self.messages = 0  # reassembled messages decoded
        self.messages_unknown = 0  # reassembled, but no database message for them
        self.messages_short = 0  # reassembled, shorter than their database message
        self.errors = 0  # a reassembler raised (a bug: counted and logged, the frame skipped)
        per = max(self.decoder.max_samples_per_frame, 1)
        self._msg_out = np.empty(per, SAMPLE_DTYPE)
        self._n_out = ffi.new("size_t *")
        self._n_div = ffi.new("size_t *")
        self._divert = ffi.new("uint32_t[]", BATCH)
        self._divert_cap = BATCH

    # -- decoding -----------------------------------------------------------------------------------
    def decode_array(self, frames: np.ndarray | bytes | memoryview) -> np.ndarray:
        """All samples of ``frames`` -- ordinary and reassembled -- in frame order."""
        if not isinstance(frames, np.ndarray):
            frames = np.frombuffer(frames, FRAME_DTYPE)
        frames = np.ascontiguousarray(frames)
        parts = []
        for start in range(0, len(frames), BATCH):
            parts.append(self._decode_batch(frames[start : start + BATCH]))
        if not parts:
            return np.empty(0, SAMPLE_DTYPE)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _decode_batch(self, frames: np.ndarray) -> np.ndarray:
        n = len(frames)
        per = max(self.decoder.max_samples_per_frame, 1)
        out = np.empty(n * per, SAMPLE_DTYPE)
        fp = ffi.cast("struct vmw_can_frame *", frames.ctypes.data)
        op = ffi.cast("struct vmw_sample *", out.ctypes.data)
        if n > self._divert_cap:
            self._divert = ffi.new("uint32_t[]", n)
            self._divert_cap = n
        used = lib.vmw_decode_frames_ex(
            self.decoder._d, fp, n, op, len(out), self._n_out, self._divert, self._divert_cap, self._n_div
        )
        assert used == n, "room for every sample and every diverted frame was given"
        samples = out[: int(self._n_out[0])]
        n_div = int(self._n_div[0])
        if not n_div:
            return samples
        extra = []
        for i in range(n_div):
            got = self._reassemble(frames, int(self._divert[i]))
            if got is not None:
                extra.append(got)
        if not extra:
            return samples
        merged = np.concatenate([samples, *extra])
        if (frames["bus_id"] == frames["bus_id"][0]).all():  # one bus: seq is frame order
            merged = merged[np.argsort(merged["source_seq"], kind="stable")]
        return merged

    def _reassemble(self, frames: np.ndarray, i: int) -> np.ndarray | None:
        bus = int(frames["bus_id"][i])
        can_id = int(frames["can_id"][i])
        ext = bool(frames["flags"][i] & FRAME_EXTENDED)
        length = int(frames["len"][i])
        data = frames["data"][i, :length].tobytes()
        ts = int(frames["timestamp_ns"][i])
        seq = int(frames["seq"][i])
        try:
            iso = self.isotp.get(bus)
            if iso is not None and iso.handles(bus, ext, can_id):
                msg = iso.feed(bus, can_id, ext, data, ts, seq)
                if msg is None:
                    return None
                return self._decode_message(bus, ext, msg.can_id, msg.data, ts, seq)
            tp = self.j1939.get(bus)
            if tp is not None and ext:
                jm = tp.feed(bus, can_id, data, ts, seq)
                if jm is None:
                    return None
                return self._decode_message(bus, True, jm.can_id, jm.data, ts, seq)
        except Exception:  # a reassembler bug must not stop decoding
            self.errors += 1
            log.exception(
                "bus %d: transport reassembly failed on frame %d (id %#x); skipped", bus, seq, can_id
            )
        return None

    def _decode_message(self, bus: int, ext: bool, can_id: int, data: bytes, ts: int, seq: int):
        out = self._msg_out
        op = ffi.cast("struct vmw_sample *", out.ctypes.data)
        rc = lib.vmw_decode_message(
            self.decoder._d,
            bus,
            int(ext),
            can_id,
            ffi.from_buffer(data),
            len(data),
            ts,
            seq,
            op,
            len(out),
            self._n_out,
        )
        if rc == lib.VMW_DECODE_MSG_OK:
            self.messages += 1
            return out[: int(self._n_out[0])].copy()
        if rc == lib.VMW_DECODE_MSG_SHORT:
            self.messages_short += 1
        else:  # UNKNOWN (NO_ROOM cannot happen: out holds the largest message's samples)
            self.messages_unknown += 1
        return None

    # -- timeouts and counters ----------------------------------------------------------------------
    def expire_idle(self) -> int:
        """Apply the protocol timeouts while no frame comes (on the injected clock)."""
        return sum(r.expire_idle() for r in (*self.j1939.values(), *self.isotp.values()))

    def stats(self) -> DecodeStats:
        return self.decoder.stats()

    def diverted(self) -> int:
        """Frames handed to the reassemblers so far."""
        s = ffi.new("vmw_decode_stats *")
        lib.vmw_decoder_stats(self.decoder._d, s)
        return int(s.diverted)

    def counters(self) -> dict[str, Any]:
        """Per bus and protocol: reassembly counters and open sessions; plus what decoding them gave."""
        out: dict[str, Any] = {
            "diverted_frames": self.diverted(),
            "messages_decoded": self.messages,
            "messages_unknown": self.messages_unknown,
            "messages_too_short": self.messages_short,
            "errors": self.errors,
        }
        for bus, r in self.j1939.items():
            out.setdefault(str(bus), {})["j1939_tp"] = asdict(r.counters) | {"open_sessions": r.sessions}
        for bus, r in self.isotp.items():
            out.setdefault(str(bus), {})["isotp"] = asdict(r.counters) | {"open_sessions": r.sessions}
        return out


class TransportDecoderThread(RingDecoderThread):
    """Frame SlotRing -> decode with reassembly -> sample SlotRing, in its own thread (Python loop:
    one GIL round trip per batch of up to 256 frames). Same interface as :class:`DecoderThread`.

    Frames are released only once all their samples are in the sample ring (it waits for room, never
    drops); stopped while waiting, they stay in the ring for the next decoder.
    """

    def __init__(
        self,
        catalog: SignalCatalog | Decoder | TransportDecoder,
        frame_ring,
        sample_ring,
        *,
        name: str = "vmw-decode-tp",
        poll_s: float = 0.1,
    ):
        self.transport = catalog if isinstance(catalog, TransportDecoder) else TransportDecoder(catalog)
        self.decoder = self.transport.decoder
        self.frame_ring, self.sample_ring = frame_ring, sample_ring
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        fr = self.frame_ring
        ptr = ffi.new("void **")
        try:
            while not self._stop.is_set():
                if len(fr) == 0 and not fr.wait(self.poll_s):
                    self.transport.expire_idle()
                    continue
                n = int(lib.vmw_slot_ring_peek(fr.cptr, ptr, BATCH))
                if n == 0:
                    fr._check_fault()
                    continue
                frames = np.frombuffer(ffi.buffer(ptr[0], n * FRAME_SIZE), FRAME_DTYPE)
                samples = self.transport.decode_array(frames)
                del frames
                if not self._push_all(samples):
                    return
                lib.vmw_slot_ring_release(fr.cptr, n)
        except BaseException as exc:  # reported through .error / .alive (DecodeStage.poll)
            self.error = exc
            log.exception("decoder thread %s stopped", self._thread.name)

    def _push_all(self, samples: np.ndarray) -> bool:
        done = 0
        while done < len(samples):
            done += self.sample_ring.push_batch(samples[done:])
            if done < len(samples):
                if self._stop.is_set():
                    return False
                self.sample_ring.wait_space(self.poll_s)
        return True

    def _request_stop(self) -> None:
        self._stop.set()

    def stats(self) -> DecodeStats:
        return self.transport.stats()

    def transport_counters(self) -> dict[str, Any]:
        """Reassembly counters (read while running: a snapshot, not atomic across fields)."""
        return self.transport.counters()


def decoder_thread(catalog: SignalCatalog, bus_id: int, frame_ring, sample_ring, *, name: str):
    """The decoder thread of one bus: the all-C :class:`DecoderThread`, or a
    :class:`TransportDecoderThread` when the bus declares ``j1939_tp`` or ``isotp``."""
    bus = next((b for b in catalog.buses if b.bus_id == bus_id), None)
    if bus is not None and bus.has_transport:
        return TransportDecoderThread(catalog, frame_ring, sample_ring, name=name)
    return DecoderThread(Decoder(catalog), frame_ring, sample_ring, name=name)


__all__ = ["TransportDecoder", "TransportDecoderThread", "decoder_thread"]

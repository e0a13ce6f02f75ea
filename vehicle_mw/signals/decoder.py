"""Batch decoding of CAN frame records into sample records by the native decoder.

A :class:`Decoder` owns one C decoder built from a catalog. It is not
thread-safe: use one per decoding thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vehicle_mw.native import FRAME_DTYPE, SAMPLE_DTYPE, ffi, lib
from vehicle_mw.native.records import VALUE_F64, VALUE_I64
from vehicle_mw.signals.catalog import SignalCatalog
from vehicle_mw.signals.errors import DecoderError
from vehicle_mw.signals.tables import build_tables

KEY_EXTENDED = 1 << 31


@dataclass(frozen=True)
class DecodeStats:
    """Counters since the decoder was built."""

    frames: int
    decoded: int
    samples: int
    unknown: int
    too_short: int
    error_frames: int
    remote: int
    unknown_ids_dropped: int


def _split_key(key: int) -> tuple[int, bool, int]:
    return key >> 32, bool(key & KEY_EXTENDED), key & 0x1FFFFFFF


class Decoder:
    """Decodes frame records (``FRAME_DTYPE``) into sample records (``SAMPLE_DTYPE``)."""

    def __init__(self, catalog: SignalCatalog):
        self.catalog = catalog
        self._tables = build_tables(catalog)
        t = self._tables
        ptr = lib.vmw_decoder_new(t.messages, t.n_messages, t.signals, t.n_signals, t.mux_ids, t.n_mux_ids)
        if ptr == ffi.NULL:
            raise DecoderError(f"native decoder rejected the catalog's tables (errno {ffi.errno})")
        self._d = ffi.gc(ptr, lib.vmw_decoder_free)
        self.max_samples_per_frame = int(lib.vmw_decoder_max_samples_per_frame(self._d))
        self._n_out = ffi.new("size_t *")
        self._ring_counts = ffi.new("size_t[2]")

    def decode_into(self, frames: np.ndarray, out: np.ndarray) -> tuple[int, int]:
        """Decode into ``out``; returns (frames consumed, samples written). Both contiguous."""
        if frames.dtype != FRAME_DTYPE or out.dtype != SAMPLE_DTYPE:
            raise TypeError("frames must be FRAME_DTYPE and out SAMPLE_DTYPE arrays")
        if not (frames.flags.c_contiguous and out.flags.c_contiguous):
            raise ValueError("frames and out must be contiguous")
        fp = ffi.cast("struct vmw_can_frame *", frames.ctypes.data)
        op = ffi.cast("struct vmw_sample *", out.ctypes.data)
        used = lib.vmw_decode_frames(self._d, fp, len(frames), op, len(out), self._n_out)
        return int(used), int(self._n_out[0])

    def decode_array(self, frames: np.ndarray | bytes | memoryview) -> np.ndarray:
        """All samples of ``frames`` (an array or a buffer of frame records), as a new array."""
        if not isinstance(frames, np.ndarray):
            frames = np.frombuffer(frames, FRAME_DTYPE)
        frames = np.ascontiguousarray(frames)
        n = len(frames)
        # Decode straight into the result: np.empty touches no memory it does not fill.
        cap = min(max(n * self.max_samples_per_frame, 1), 1 << 22)
        parts = []
        done = 0
        while done < n:
            out = np.empty(max(cap, self.max_samples_per_frame), SAMPLE_DTYPE)
            used, written = self.decode_into(frames[done:], out)
            parts.append(out[:written] if written * 2 >= len(out) else out[:written].copy())
            done += used
        if not parts:
            return np.empty(0, SAMPLE_DTYPE)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def decode_ring(self, frame_ring, sample_ring, max_frames: int = 4096) -> tuple[int, int]:
        """Move up to ``max_frames`` frames from a frame SlotRing to a sample SlotRing, all in C.

        Frames stay in their ring while the sample ring lacks room for their
        samples. Returns (frames consumed, samples pushed).
        """
        counts = self._ring_counts
        rc = lib.vmw_decode_ring(self._d, frame_ring.cptr, sample_ring.cptr, max_frames, counts, counts + 1)
        if rc != 0:
            raise DecoderError(
                f"decode_ring: rings {frame_ring.name!r} / {sample_ring.name!r} must have "
                f"{FRAME_DTYPE.itemsize}- and {SAMPLE_DTYPE.itemsize}-byte slots"
            )
        return int(counts[0]), int(counts[1])

    def run(self, frame_ring, sample_ring, stop, *, poll_s: float = 0.1) -> None:
        """Decode ring to ring until ``stop`` (a threading.Event) is set: wait, drain, repeat.

        The waits block in the kernel with the GIL released; when the sample
        ring is full the loop waits for room instead of dropping samples.
        """
        while not stop.is_set():
            if not frame_ring.wait(poll_s):
                continue
            while not stop.is_set():
                frames, _ = self.decode_ring(frame_ring, sample_ring)
                if frames:
                    continue
                if len(frame_ring) and not self._wait_space(sample_ring, poll_s):
                    continue
                break

    @staticmethod
    def _wait_space(ring, timeout: float) -> bool:
        wait_space = getattr(ring, "wait_space", None)
        if wait_space is not None:
            return bool(wait_space(timeout))
        time.sleep(min(timeout, 0.001))  # rings without a space wait: brief pause, then retry
        return True

    def stats(self) -> DecodeStats:
        s = ffi.new("vmw_decode_stats *")
        lib.vmw_decoder_stats(self._d, s)
        return DecodeStats(
            s.frames,
            s.decoded,
            s.samples,
            s.unknown,
            s.too_short,
            s.error_frames,
            s.remote,
            s.unknown_ids_dropped,
        )

    def _id_counts(self, fn) -> dict[tuple[int, bool, int], int]:
        n = fn(self._d, ffi.NULL, ffi.NULL, 0)
        keys = ffi.new("uint64_t[]", max(n, 1))
        counts = ffi.new("uint64_t[]", max(n, 1))
        n = min(n, fn(self._d, keys, counts, n))
        return {_split_key(keys[i]): counts[i] for i in range(n)}

    def unknown_ids(self) -> dict[tuple[int, bool, int], int]:
        """Frames per unknown (bus_id, extended, can_id)."""
        return self._id_counts(lib.vmw_decoder_unknown_ids)

    def short_ids(self) -> dict[tuple[int, bool, int], int]:
        """Frames too short for their message, per (bus_id, extended, frame id of the message)."""
        return self._id_counts(lib.vmw_decoder_short_ids)


def sample_values(samples: np.ndarray) -> list[float | int | bool]:
    """Python values of sample records, each as its kind says (for tools and tests, not the hot path)."""
    raw = samples["value"]
    as_i = raw.view("<i8")
    as_u = raw.view("<u8")
    out: list[float | int | bool] = []
    for kind, f, i, u in zip(
        samples["kind"].tolist(), raw.tolist(), as_i.tolist(), as_u.tolist(), strict=True
    ):
        if kind == VALUE_F64:
            out.append(f)
        elif kind == VALUE_I64:
            out.append(i)
        elif kind == 3:
            out.append(bool(u))
        else:
            out.append(u)
    return out


def values_as_float(samples: np.ndarray) -> np.ndarray:
    """Sample values as float64 whatever their kind (vectorised, for plots and CSV)."""
    return column_values_as_float(samples["kind"], samples["value"])


def column_values_as_float(kinds: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """:func:`values_as_float` on the kind and value columns already taken apart (a gather of
    the structured array would cost far more when the caller holds the columns)."""
    out = raw.copy()
    ints = kinds == VALUE_I64
    out[ints] = raw.view("<i8")[ints]
    uints = (kinds != VALUE_F64) & ~ints
    out[uints] = raw.view("<u8")[uints]
    return out


__all__ = ["DecodeStats", "Decoder", "column_values_as_float", "sample_values", "values_as_float"]

"""``ByteRing``: single-producer single-consumer ring of variable-length records in shared memory.

Each record keeps its length; payloads are contiguous and 8-byte aligned, so the producer
can write in place (``reserve``) and the consumer can read in place (``peek``).
"""

from __future__ import annotations

import array
from collections.abc import Iterable
from typing import Any

from vehicle_mw.native._lib import ffi, lib
from vehicle_mw.native.ring_base import RingBase
from vehicle_mw.native.ring_types import Overflow, RingError


class ByteRing(RingBase):
    """Variable-length records (at most ``max_record`` bytes each, = capacity/2 - 8)."""

    _kind = "byte"

    def __init__(self, name: str, ptr: Any) -> None:
        super().__init__(name, ptr)
        self.capacity = int(lib.vmw_byte_ring_capacity(ptr))
        self.max_record = int(lib.vmw_byte_ring_max_record(ptr))
        self._dst = ffi.new("char[]", self.capacity)
        self._lens = ffi.new("uint32_t[]", 256)
        self._lens_n = 256

    @classmethod
    def create(cls, name: str, capacity: int, overflow: Overflow = Overflow.REJECT_NEWEST) -> ByteRing:
        """Create the segment with ``capacity`` bytes of record space (rounded up to a power of two)."""
        return cls._open(name, "create", lib.vmw_byte_ring_create, capacity, int(overflow))

    @classmethod
    def attach(cls, name: str) -> ByteRing:
        """Attach to an existing byte-ring segment."""
        return cls._open(name, "attach", lib.vmw_byte_ring_attach)

    @classmethod
    def open(cls, name: str, capacity: int, overflow: Overflow = Overflow.REJECT_NEWEST) -> ByteRing:
        """Attach if the segment exists (a restarted process rejoins the live ring), else create it.
        RingError if the existing ring is smaller than capacity."""
        try:
            ring = cls.attach(name)
        except RingError as exc:
            if exc.code != RingError.NOT_FOUND:
                raise
            return cls.create(name, capacity, overflow)
        if ring.capacity < capacity:
            found = ring.capacity
            ring.close()
            raise RingError(
                f"ring {name!r}: exists with {found} bytes, wanted {capacity}", RingError.BAD_SIZE
            )
        return ring

    def _check_len(self, n: int) -> None:
        if n > self.max_record:
            raise RingError(
                f"ring {self.name!r}: a {n}-byte record exceeds the {self.max_record}-byte maximum"
            )

    def push(self, rec: Any) -> bool:
        """Push one record; False if it did not fit (reject-newest)."""
        src = ffi.from_buffer(rec)
        self._check_len(len(src))
        lens = self._lens
        lens[0] = len(src)
        if lib.vmw_byte_ring_push_n(self.cptr, src, lens, 1) == 1:
            return True
        self._check_fault()
        return False

    def push_batch(self, records: Iterable[Any]) -> int:
        """Push records with one native call; returns how many were accepted (a prefix)."""
        recs = [memoryview(r).cast("B") for r in records]
        sizes = array.array("I", [len(r) for r in recs])
        if not sizes:
            return 0
        self._check_len(max(sizes))
        blob = b"".join(recs)
        lens = ffi.from_buffer("uint32_t[]", sizes)
        done = int(lib.vmw_byte_ring_push_n(self.cptr, ffi.from_buffer(blob), lens, len(sizes)))
        if done < len(sizes):
            self._check_fault()
        return done

    def reserve(self, size: int) -> ByteReservation:
        """Zero-copy write: ``with ring.reserve(n) as w: w.view[:k] = ...; w.length = k``.
        Committed on normal exit (length defaults to n); RingError if there is no room."""
        self._check_len(size)
        return ByteReservation(self, size)

    def pop_batch(self, max_n: int = 256) -> list[bytes]:
        """Up to max_n records (empty list when the ring is empty)."""
        if max_n > self._lens_n:
            self._lens = ffi.new("uint32_t[]", max_n)
            self._lens_n = max_n
        lens = self._lens
        n = lib.vmw_byte_ring_pop_n(self.cptr, self._dst, self.capacity, lens, max_n)
        if not n:
            self._check_fault()
        out: list[bytes] = []
        buf = ffi.buffer(self._dst, self.capacity)
        pos = 0
        for i in range(n):
            size = lens[i]
            out.append(buf[pos : pos + size])
            pos += size
        return out

    def pop(self) -> bytes | None:
        """One record, or None when empty."""
        got = self.pop_batch(1)
        return got[0] if got else None

    def peek(self) -> BytePeek:
        """Zero-copy read of the next record: ``with ring.peek() as mv:`` (mv is None when empty);
        released on normal exit."""
        return BytePeek(self)

    async def get_batch(self, max_n: int = 256, timeout: float | None = None) -> list[bytes]:
        """asyncio: the next records (up to max_n); [] if timeout passes first."""
        while True:
            got = self.pop_batch(max_n)
            if got or not await self._await_readable(timeout):
                return got


class ByteReservation:
    """Context manager of ByteRing.reserve(): ``view`` is writable ring memory."""

    def __init__(self, ring: ByteRing, size: int) -> None:
        self._ring = ring
        self.size = size
        self.length = size
        self.view: memoryview | None = None

    def __enter__(self) -> ByteReservation:
        p = lib.vmw_byte_ring_reserve(self._ring.cptr, self.size)
        if p == ffi.NULL:
            self._ring._check_fault()
            raise RingError(f"ring {self._ring.name!r}: no room for a {self.size}-byte record")
        self.view = memoryview(ffi.buffer(ffi.cast("char *", p), self.size))
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.view is not None:
            self.view.release()
        if exc_type is None:
            if not 0 <= self.length <= self.size:
                raise RingError(
                    f"ring {self._ring.name!r}: commit length {self.length} outside 0..{self.size}"
                )
            lib.vmw_byte_ring_commit(self._ring.cptr, self.length)


class BytePeek:
    """Context manager of ByteRing.peek(); ``intact`` is False if overwrite-oldest raced the view."""

    def __init__(self, ring: ByteRing) -> None:
        self._ring = ring
        self._view: memoryview | None = None
        self.intact = True

    def __enter__(self) -> memoryview | None:
        ptr = ffi.new("void **")
        size = ffi.new("uint32_t *")
        if not lib.vmw_byte_ring_peek(self._ring.cptr, ptr, size):
            self._ring._check_fault()
            return None
        self._view = memoryview(ffi.buffer(ffi.cast("char *", ptr[0]), size[0])).toreadonly()
        return self._view

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._view is None:
            return
        self._view.release()
        if exc_type is None:
            self.intact = bool(lib.vmw_byte_ring_release(self._ring.cptr))

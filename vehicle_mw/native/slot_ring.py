"""Fixed-size record rings: ``SlotRing`` (one producer, one consumer) and ``MpmcRing`` (many of each).

Records are ``slot_size`` bytes (e.g. 88-byte CAN frames, 32-byte samples); batches are
buffers of ``n * slot_size`` bytes, so ``np.frombuffer(ring.pop_batch(256), FRAME_DTYPE)``
gives columns with one native call per batch.
"""

from __future__ import annotations

import threading
from typing import Any

from vehicle_mw.native._lib import ffi, lib
from vehicle_mw.native.ring_base import RingBase
from vehicle_mw.native.ring_types import Overflow, RingError


class _FixedSlots(RingBase):
    def __init__(self, name: str, ptr: Any) -> None:
        super().__init__(name, ptr)
        k = self._kind
        self.slot_size = int(getattr(lib, f"vmw_{k}_ring_slot_size")(ptr))
        self.capacity = int(getattr(lib, f"vmw_{k}_ring_capacity")(ptr))
        self._push_n = getattr(lib, f"vmw_{k}_ring_push_n")
        self._push_bytes = getattr(lib, f"vmw_{k}_ring_push_bytes")
        self._pop_n = getattr(lib, f"vmw_{k}_ring_pop_n")
        self._scratch = ffi.new("char[]", self.slot_size * 64)
        self._scratch_n = 64
        self._one = ffi.new("char[]", self.slot_size)
        self._peek_ptr = ffi.new("void **")  # what SlotRing.peek writes into (one consumer)

    @classmethod
    def open(
        cls,
        name: str,
        slot_size: int,
        capacity: int,
        overflow: Overflow = Overflow.REJECT_NEWEST,
    ) -> Any:
        """Attach if the segment exists (a restarted process rejoins the live ring), else create it.
        RingError if the existing ring has another slot size or less capacity."""
        try:
            ring = cls.attach(name)
        except RingError as exc:
            if exc.code != RingError.NOT_FOUND:
                raise
            return cls.create(name, slot_size, capacity, overflow)
        if ring.slot_size != slot_size or ring.capacity < capacity:
            found = f"{ring.slot_size}-byte slots x {ring.capacity}"
            ring.close()
            raise RingError(
                f"ring {name!r}: exists with {found}, wanted {slot_size}-byte slots x {capacity}",
                RingError.BAD_SIZE,
            )
        return ring

    def _records_in(self, buf: Any) -> tuple[Any, int]:
        src = ffi.from_buffer(buf)
        size = len(src)
        if size % self.slot_size:
            raise RingError(
                f"ring {self.name!r}: {size} bytes is not a whole number of {self.slot_size}-byte records"
            )
        return src, size // self.slot_size

    def push(self, rec: Any) -> bool:
        """Push one record of exactly slot_size bytes; False if the ring was full (reject-newest)."""
        ptr = self._ptr
        if ptr is None or type(rec) is not bytes or len(rec) != self.slot_size:
            src, n = self._records_in(rec)  # the general (slower) path, with its checks
            if n != 1:
                raise RingError(f"ring {self.name!r}: push() takes one {self.slot_size}-byte record")
            if self._push_n(self.cptr, src, 1) == 1:
                return True
        elif self._push_bytes(ptr, rec, 1) == 1:
            return True
        self._check_fault()
        return False

    def push_batch(self, buf: Any) -> int:
        """Push n records packed in a bytes-like object; returns how many were accepted."""
        ptr = self._ptr
        if ptr is not None and type(buf) is bytes and not len(buf) % self.slot_size:
            n = len(buf) // self.slot_size  # bytes: passed as char * without a buffer wrapper
            if not n:
                return 0
            done = int(self._push_bytes(ptr, buf, n))
            if done < n:
                self._check_fault()
            return done
        src, n = self._records_in(buf)
        if not n:
            return 0
        done = int(self._push_n(self.cptr, src, n))
        if done < n:
            self._check_fault()
        return done

    def _room(self, n: int) -> Any:
        if n > self._scratch_n:
            self._scratch = ffi.new("char[]", self.slot_size * n)
            self._scratch_n = n
        return self._scratch

    def pop_batch(self, max_n: int = 256) -> bytes:
        """Up to max_n records as one bytes object (empty when the ring is empty)."""
        dst = self._room(max_n)
        n = self._pop_n(self.cptr, dst, max_n)
        if not n:
            self._check_fault()
        return ffi.buffer(dst, n * self.slot_size)[:]

    def pop(self) -> bytes | None:
        """One record, or None when empty."""
        one = self._one
        if self._pop_n(self.cptr, one, 1):
            return ffi.unpack(one, self.slot_size)
        self._check_fault()
        return None

    def pop_into(self, buf: Any) -> int:
        """Pop as many whole records as fit into a writable buffer; returns the record count."""
        dst = ffi.from_buffer(buf, require_writable=True)
        n = int(self._pop_n(self.cptr, dst, len(dst) // self.slot_size))
        if not n:
            self._check_fault()
        return n

    async def get_batch(self, max_n: int = 256, timeout: float | None = None) -> bytes:
        """asyncio: the next batch (up to max_n records); b'' if timeout passes first."""
        while True:
            data = self.pop_batch(max_n)
            if data or not await self._await_readable(timeout):
                return data


class SlotRing(_FixedSlots):
    """Single-producer single-consumer ring of fixed-size records in shared memory."""

    _kind = "slot"

    @classmethod
    def create(
        cls,
        name: str,
        slot_size: int,
        capacity: int,
        overflow: Overflow = Overflow.REJECT_NEWEST,
    ) -> SlotRing:
        """Create the segment (capacity rounds up to a power of two). A segment of that name whose
        creator died is reclaimed; one whose creator runs raises RingError."""
        return cls._open(name, "create", lib.vmw_slot_ring_create, slot_size, capacity, int(overflow))

    @classmethod
    def attach(cls, name: str) -> SlotRing:
        """Attach to an existing segment; RingError if missing or not a slot ring of this layout."""
        return cls._open(name, "attach", lib.vmw_slot_ring_attach)

    def peek(self, max_n: int = 256) -> SlotPeek:
        """Zero-copy: ``with ring.peek(n) as mv:`` -- up to n contiguous records, released on
        normal exit (an exception leaves them in the ring for the next pop)."""
        return SlotPeek(self, max_n)


class SlotPeek:
    """Context manager of SlotRing.peek(); ``intact`` is False if overwrite-oldest raced the view."""

    def __init__(self, ring: SlotRing, max_n: int) -> None:
        self._ring = ring
        self._max_n = max_n
        self._n = 0
        self._view: memoryview | None = None
        self.intact = True

    def __enter__(self) -> memoryview:
        ptr = self._ring._peek_ptr
        self._n = int(lib.vmw_slot_ring_peek(self._ring.cptr, ptr, self._max_n))
        if not self._n:
            self._ring._check_fault()
        raw = ffi.buffer(ffi.cast("char *", ptr[0]), self._n * self._ring.slot_size)
        self._view = memoryview(raw).toreadonly()
        return self._view

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._view is not None:
            self._view.release()
        if exc_type is None:
            self.intact = bool(lib.vmw_slot_ring_release(self._ring.cptr, self._n))


class MpmcRing(_FixedSlots):
    """Bounded many-producer many-consumer ring of fixed-size records (fan-in, work sharing).

    A handle registers as one producer and one consumer participant (at most 32 live
    at once per ring); calls on one handle are serialised with a lock so Python threads
    may share it. Cells a killed participant left half-done are repaired by waiters.
    """

    _kind = "mpmc"

    def __init__(self, name: str, ptr: Any) -> None:
        super().__init__(name, ptr)
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls,
        name: str,
        slot_size: int,
        capacity: int,
        overflow: Overflow = Overflow.REJECT_NEWEST,
    ) -> MpmcRing:
        """Create the segment (see SlotRing.create)."""
        return cls._open(name, "create", lib.vmw_mpmc_ring_create, slot_size, capacity, int(overflow))

    @classmethod
    def attach(cls, name: str) -> MpmcRing:
        """Attach to an existing MPMC segment."""
        return cls._open(name, "attach", lib.vmw_mpmc_ring_attach)

    def _check_fault(self) -> None:
        """After a call that moved nothing: RingCorrupt for a damaged segment, RingError when
        no participant entry was free."""
        super()._check_fault()
        if lib.vmw_mpmc_ring_last_error(self.cptr) == lib.VMW_RING_ESLOTS:
            raise RingError(
                f"ring {self.name!r}: all {lib.VMW_MPMC_MAX_PARTICIPANTS} participant entries are held "
                "by live processes",
                lib.VMW_RING_ESLOTS,
            )

    def push_batch(self, buf: Any) -> int:
        src, n = self._records_in(buf)
        if not n:
            return 0
        with self._lock:
            done = int(self._push_n(self.cptr, src, n))
        if done < n:
            self._check_fault()
        return done

    def push(self, rec: Any) -> bool:
        src, n = self._records_in(rec)
        if n != 1:
            raise RingError(f"ring {self.name!r}: push() takes one {self.slot_size}-byte record")
        return self.push_batch(rec) == 1

    def pop(self) -> bytes | None:
        with self._lock:
            one = self._one
            if self._pop_n(self.cptr, one, 1):
                return ffi.unpack(one, self.slot_size)
        self._check_fault()
        return None

    def pop_batch(self, max_n: int = 256) -> bytes:
        with self._lock:
            dst = self._room(max_n)
            n = self._pop_n(self.cptr, dst, max_n)
            data = ffi.buffer(dst, n * self.slot_size)[:]
        if not n:
            self._check_fault()
        return data

    def pop_into(self, buf: Any) -> int:
        dst = ffi.from_buffer(buf, require_writable=True)
        with self._lock:
            n = int(self._pop_n(self.cptr, dst, len(dst) // self.slot_size))
        if not n:
            self._check_fault()
        return n

    def recover(self) -> int:
        """Repair cells left half-done by killed participants; returns how many
        (RingCorrupt if the indices are damaged)."""
        fixed = int(lib.vmw_mpmc_ring_recover(self.cptr))
        if not fixed:
            self._check_fault()
        return fixed

"""What the three ring kinds share: the native handle, waiting (blocking and asyncio), counters."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any

from vehicle_mw.native._lib import ffi, lib
from vehicle_mw.native.ring_types import RingError, RingStats, check, check_handle


def _timeout_ns(timeout: float | None) -> int:
    return -1 if timeout is None else max(0, int(timeout * 1e9))


class RingBase:
    """One process-local handle on a ring segment. Create with ``create()`` or ``attach()``."""

    _kind = ""  # "slot", "byte" or "mpmc": selects the vmw_<kind>_ring_* functions

    def __init__(self, name: str, ptr: Any) -> None:
        self.name = name
        k = self._kind
        self._ptr = ffi.gc(ptr, getattr(lib, f"vmw_{k}_ring_close"))
        self._wait = getattr(lib, f"vmw_{k}_ring_wait")
        self._wake = getattr(lib, f"vmw_{k}_ring_wake")
        self._wait_space = getattr(lib, f"vmw_{k}_ring_wait_space")
        self._size = getattr(lib, f"vmw_{k}_ring_size")
        self._stats = getattr(lib, f"vmw_{k}_ring_stats")
        self._last_error = getattr(lib, f"vmw_{k}_ring_last_error")
        self._error_detail = getattr(lib, f"vmw_{k}_ring_error_detail")
        self._stats_out = ffi.new("vmw_ring_stats *")
        self._waiter: concurrent.futures.ThreadPoolExecutor | None = None
        self._closing = threading.Event()

    @classmethod
    def _open(cls, name: str, action: str, fn: Any, *args: Any) -> Any:
        out = ffi.new(f"vmw_{cls._kind}_ring **")
        check(fn(name.encode(), *args, out), name, action)
        return cls(name, out[0])

    @property
    def cptr(self) -> Any:
        """The native handle (``vmw_<kind>_ring *``) for C code that pushes or pops directly."""
        if self._ptr is None:
            raise RingError(f"ring {self.name!r} is closed")
        return self._ptr

    def _check_fault(self) -> None:
        """After a call that moved nothing: RingCorrupt if the handle found its segment damaged.
        (Called only on that path, so a successful push/pop costs no extra native call.)"""
        ptr = self.cptr
        code = self._last_error(ptr)
        if code:
            check_handle(code, self._error_detail(ptr), self.name)

    def __len__(self) -> int:
        return int(self._size(self.cptr))

    def stats(self) -> RingStats:
        """Counters from the shared header (the same for every attached process)."""
        s = self._stats_out
        self._stats(self.cptr, s)
        return RingStats(s.pushed, s.popped, s.dropped, s.high_water, s.capacity)

    def wait(self, timeout: float | None = None) -> bool:
        """Block (futex, no spinning, GIL released) until a record is readable; False on timeout."""
        return self._block(self._wait, timeout)

    def wait_space(self, timeout: float | None = None) -> bool:
        """Producer side: block until a record fits (a ByteRing: a max_record one); False on timeout."""
        return self._block(self._wait_space, timeout)

    def _block(self, fn: Any, timeout: float | None) -> bool:
        ptr = self.cptr
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return bool(fn(ptr, 0))
            if fn(ptr, _timeout_ns(remaining)):
                return True

    def _wait_until_cancelled(self, timeout: float | None, cancelled: threading.Event) -> bool:
        ptr = self.cptr
        deadline = None if timeout is None else time.monotonic() + timeout
        while not cancelled.is_set() and not self._closing.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if self._wait(ptr, _timeout_ns(remaining)):
                return True
        return False

    async def _await_readable(self, timeout: float | None) -> bool:
        """Wait in a helper thread blocked on the futex; cancelling the task wakes it."""
        if self._waiter is None:
            self._waiter = concurrent.futures.ThreadPoolExecutor(1, f"vmw-ring-wait-{self.name}")
        cancelled = threading.Event()
        fut = asyncio.get_running_loop().run_in_executor(
            self._waiter, self._wait_until_cancelled, timeout, cancelled
        )
        try:
            return await fut
        except asyncio.CancelledError:
            cancelled.set()
            self._wake(self.cptr)
            raise

    def wake(self) -> None:
        """Wake every process blocked in wait() on this ring (they return if nothing arrived)."""
        self._wake(self.cptr)

    def close(self) -> None:
        """Unmap this handle; the segment stays for the other processes (see unlink())."""
        if self._waiter is not None:
            self._closing.set()  # a get_batch still waiting returns empty
            if self._ptr is not None:
                self._wake(self._ptr)
            self._waiter.shutdown(wait=True)
            self._waiter = None
        if self._ptr is not None:
            ffi.release(self._ptr)
            self._ptr = None

    def unlink(self) -> None:
        """Remove the segment's name; mapped handles keep working until closed."""
        rc = lib.vmw_ring_unlink(self.name.encode())
        if rc != lib.VMW_RING_ENOENT:
            check(rc, self.name, "unlink")

    def __enter__(self) -> RingBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._ptr is None else f"{len(self)}/{self.stats().capacity}"
        return f"<{type(self).__name__} {self.name!r} {state}>"

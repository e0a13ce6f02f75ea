"""Taking received messages off a python-can bus: the first one blocking, the rest in bulk.

``BusABC.recv()`` wraps every frame in timing, software filtering and a log
call; with no software filters set, that wrapper only adds cost, so a reader
calls the interface's ``_recv_internal`` directly. The ``virtual`` interface
keeps received messages in a ``queue.Queue``: that queue is drained under its
own lock, all available messages at once, instead of one ``get`` per frame.
Buses with software filters, or interfaces that override ``recv`` themselves
(or do not implement ``_recv_internal``), keep going through ``recv()``.
"""

from __future__ import annotations

import queue

import can
from can.interfaces.virtual import VirtualBus

RECV = "recv"  # BusABC.recv(): filters, or an interface we know nothing about
INTERNAL = "internal"  # the interface's _recv_internal, one call per frame
QUEUE = "queue"  # the virtual interface's receive queue, drained in bulk


def source_kind(bus: can.BusABC, *, bulk: bool = True) -> str:
    """Which way :class:`MessageSource` reads ``bus`` (RECV, INTERNAL, or QUEUE when ``bulk``)."""
    cls = type(bus)
    if bus.filters or cls.recv is not can.BusABC.recv or cls._recv_internal is can.BusABC._recv_internal:
        return RECV
    if bulk and isinstance(bus, VirtualBus) and type(getattr(bus, "queue", None)) is queue.Queue:
        return QUEUE
    return INTERNAL


class MessageSource:
    """Reads one bus: :meth:`wait` blocks for a first message, :meth:`drain` takes what is there now.

    The way is chosen again at every :meth:`wait`, so filters set on a running
    bus take effect at the next wake-up.
    """

    def __init__(self, bus: can.BusABC, *, bulk: bool = True):
        self.bus = bus
        self.bulk = bulk  # False: never drain a queue in bulk (one _recv_internal per frame)
        self.kind = source_kind(bus, bulk=bulk)

    def wait(self, timeout: float) -> can.Message | None:
        """The next message, or None after ``timeout`` seconds; errors of the interface propagate."""
        self.kind = source_kind(self.bus, bulk=self.bulk)
        if self.kind == RECV:
            return self.bus.recv(timeout)
        return self.bus._recv_internal(timeout)[0]

    def drain(self, limit: int) -> list[can.Message]:
        """Up to ``limit`` messages that are available without waiting (possibly none)."""
        if limit <= 0:
            return []
        if self.kind == QUEUE:
            return self._drain_queue(limit)
        out: list[can.Message] = []
        if self.kind == RECV:
            recv = self.bus.recv
            while len(out) < limit and (msg := recv(0.0)) is not None:
                out.append(msg)
        else:
            internal = self.bus._recv_internal
            while len(out) < limit and (msg := internal(0.0)[0]) is not None:
                out.append(msg)
        return out

    def _drain_queue(self, limit: int) -> list[can.Message]:
        bus = self.bus
        bus._check_if_open()  # a shut-down bus raises CanOperationError, like _recv_internal
        q = bus.queue
        with q.mutex:  # what queue.Queue.get does, for all waiting items at once
            items = q.queue
            if len(items) <= limit:
                out = list(items)
                items.clear()
            else:
                out = [items.popleft() for _ in range(limit)]
            if out and q.maxsize > 0:  # only a bounded queue has senders waiting for room
                q.not_full.notify(len(out))
        return out


__all__ = ["INTERNAL", "QUEUE", "RECV", "MessageSource", "source_kind"]

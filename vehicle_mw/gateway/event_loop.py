"""The gateway's event loop: authenticated sessions' sockets are served before new connections.

asyncio runs every ready callback of an iteration first come, first served. Under a reconnect
flood (peers cut at their first frame that come straight back) an iteration held 500-600
handshake and pre-auth callbacks, 60 ms of work, and a real vehicle's batch and ack each waited
behind one: its ack p99 went from 9 ms to 80-90 ms (``bench_reliability``).

:class:`SessionFirstSelector` keeps two epoll sets. Sockets start in the *general* one (listening
sockets, TLS and WebSocket handshakes, unauthenticated peers, the HTTP API); a socket whose
session authenticated is moved (:func:`promote`) to the *sessions* set. Each iteration takes every
ready session socket and at most ``general_batch`` general events (epoll hands the rest out
round-robin in later iterations, level-triggered, so nothing starves). The sessions set is itself
registered in the general set, so a single blocking wait covers both.

Only the loop made by :func:`new_event_loop` has this selector (``vmw gateway serve`` and
:func:`run` use it); on any other loop :func:`promote` does nothing and the gateway works as before.
"""

from __future__ import annotations

import asyncio
import select
import selectors
from collections.abc import Coroutine
from typing import Any

GENERAL_BATCH = 8  # general events per iteration: a few ms of handshake work at most


class _TwoLevelEpoll:
    """What ``selectors.EpollSelector`` needs of ``select.epoll``, over two epoll sets."""

    general_batch = GENERAL_BATCH

    def __init__(self) -> None:
        self.general = select.epoll()
        self.sessions = select.epoll()
        self.general.register(self.sessions.fileno(), select.EPOLLIN)
        self.promoted: set[int] = set()
        self.masks: dict[int, int] = {}

    def _set(self, fd: int) -> select.epoll:
        return self.sessions if fd in self.promoted else self.general

    def fileno(self) -> int:
        return self.general.fileno()

    def register(self, fd: int, mask: int) -> None:
        self._set(fd).register(fd, mask)
        self.masks[fd] = mask

    def modify(self, fd: int, mask: int) -> None:
        self._set(fd).modify(fd, mask)
        self.masks[fd] = mask

    def unregister(self, fd: int) -> None:
        self.masks.pop(fd, None)
        self._set(fd).unregister(fd)

    def move(self, fd: int, promoted: bool) -> None:
        if (fd in self.promoted) == promoted:
            return
        mask = self.masks.get(fd)
        if mask is not None:
            self._set(fd).unregister(fd)
        (self.promoted.add if promoted else self.promoted.discard)(fd)
        if mask is not None:
            self._set(fd).register(fd, mask)

    def poll(self, timeout: float = -1, maxevents: int = -1) -> list[tuple[int, int]]:
        ready = self.general.poll(timeout, self.general_batch)  # the sessions set may take a place
        sessions_fd = self.sessions.fileno()
        events = [ev for ev in ready if ev[0] != sessions_fd]
        return self.sessions.poll(0, max(len(self.promoted), 1)) + events

    def close(self) -> None:
        self.sessions.close()
        self.general.close()


class SessionFirstSelector(selectors.EpollSelector):
    """An epoll selector that serves promoted (authenticated) sockets first."""

    _selector_cls = _TwoLevelEpoll

    def move(self, fd: int, promoted: bool) -> None:
        self._selector.move(fd, promoted)  # type: ignore[attr-defined]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A selector event loop whose selector serves authenticated sessions first."""
    return asyncio.SelectorEventLoop(SessionFirstSelector())


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run`` on the gateway's event loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)


def _socket_fd(transport: asyncio.BaseTransport | None) -> int:
    sock = transport.get_extra_info("socket") if transport is not None else None
    return sock.fileno() if sock is not None else -1


def _selector() -> SessionFirstSelector | None:
    selector = getattr(asyncio.get_running_loop(), "_selector", None)
    return selector if isinstance(selector, SessionFirstSelector) else None


def promote(transport: asyncio.BaseTransport | None) -> int:
    """Serve this connection's socket with the sessions (after its Hello is authenticated);
    returns the descriptor to :func:`demote` when the connection ends, or -1 (not this loop)."""
    selector, fd = _selector(), _socket_fd(transport)
    if selector is None or fd < 0:
        return -1
    selector.move(fd, True)
    return fd


def demote(fd: int) -> None:
    """Back to the general set: the connection on ``fd`` ended and the number will be reused (a
    connection accepted on it before this runs is served first for that one iteration)."""
    selector = _selector()
    if selector is not None and fd >= 0:
        selector.move(fd, False)


__all__ = ["GENERAL_BATCH", "SessionFirstSelector", "demote", "new_event_loop", "promote", "run"]

"""The gateway's event loop serves authenticated sessions' sockets first and starves nobody."""

from __future__ import annotations

import asyncio
import selectors
import socket

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.event_loop import GENERAL_BATCH, SessionFirstSelector, new_event_loop
from vehicle_mw.gateway.loadgen import WsVehicle, hello

from .helpers import local_config
from .test_delivery import numbered


def readable_pairs(n: int) -> list[tuple[socket.socket, socket.socket]]:
    pairs = [socket.socketpair() for _ in range(n)]
    for a, _b in pairs:
        a.send(b"x")  # the other end stays readable until read
    return pairs


def test_promoted_sockets_come_first_and_general_ones_round_robin():
    sel = SessionFirstSelector()
    pairs = readable_pairs(3 * GENERAL_BATCH)
    session_a, session_b = socket.socketpair()
    try:
        for _a, b in pairs:
            sel.register(b, selectors.EVENT_READ)
        sel.register(session_b, selectors.EVENT_READ)
        sel.move(session_b.fileno(), True)
        session_a.send(b"batch")
        seen: set[int] = set()
        for _ in range(4):  # 3 batches of general events (the sessions set may take a place in one)
            ready = [key.fd for key, _ev in sel.select(0)]
            assert session_b.fileno() in ready
            general = [fd for fd in ready if fd != session_b.fileno()]
            assert 0 < len(general) <= GENERAL_BATCH
            seen.update(general)
        assert len(seen) == len(pairs)  # level-triggered epoll hands each ready socket out in turn
        # a promoted socket keeps its place when its reader is removed and added again (back-pressure)
        sel.unregister(session_b)
        sel.register(session_b, selectors.EVENT_READ)
        assert session_b.fileno() in [key.fd for key, _ev in sel.select(0)][:1]
        sel.move(session_b.fileno(), False)
        assert session_b.fileno() not in sel._selector.promoted  # type: ignore[attr-defined]
    finally:
        sel.close()
        for a, b in [*pairs, (session_a, session_b)]:
            a.close()
            b.close()


def test_a_blocking_wait_wakes_for_a_promoted_socket():
    sel = SessionFirstSelector()
    a, b = socket.socketpair()
    try:
        sel.register(b, selectors.EVENT_READ)
        sel.move(b.fileno(), True)
        assert sel.select(0) == []
        a.send(b"x")
        assert [key.fd for key, _ev in sel.select(5)] == [b.fileno()]  # returns at once, not after 5 s
    finally:
        sel.close()
        a.close()
        b.close()


def test_gateway_on_its_loop_promotes_authenticated_sessions_and_demotes_them_at_the_end(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True)

    async def scenario():
        selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
        assert isinstance(selector, SessionFirstSelector)
        async with Gateway(cfg) as gw:
            v = await WsVehicle.connect(gw.ws_url)
            assert not selector._selector.promoted  # before its Hello: a general socket
            assert (await v.open(hello("VIN-LOOP"))).WhichOneof("msg") == "welcome"
            await v.send(numbered(1))
            assert await v.wait_ack(1) == 1
            assert len(selector._selector.promoted) == 1
            await v.close()
            deadline = asyncio.get_running_loop().time() + 10
            while selector._selector.promoted and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            assert not selector._selector.promoted  # the number goes back to the general set

    loop = new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(scenario(), 60))
    finally:
        loop.close()

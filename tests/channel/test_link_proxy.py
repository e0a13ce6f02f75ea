"""The impairment proxy against a real echo server: delay, stall, blackhole, cut, bandwidth, control port."""

from __future__ import annotations

import asyncio
import time

import pytest

from vehicle_mw.hil import LinkProxy, LinkProxyError, control_request


async def _echo_server() -> asyncio.Server:
    async def handle(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _with_proxy(body) -> None:
    server = await _echo_server()
    proxy = LinkProxy("127.0.0.1", server.sockets[0].getsockname()[1], seed=3)
    await proxy.start(control_port=0)
    try:
        await body(proxy)
    finally:
        await proxy.stop()
        server.close()


async def _roundtrip(reader, writer, payload: bytes, timeout: float = 5.0) -> float:
    t0 = time.monotonic()
    writer.write(payload)
    await writer.drain()
    got = await asyncio.wait_for(reader.readexactly(len(payload)), timeout)
    assert got == payload
    return time.monotonic() - t0


def test_delay_adds_to_round_trip_time():
    async def body(proxy):
        r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
        proxy.impair(delay_ms=50)
        assert await _roundtrip(r, w, b"x" * 100) >= 0.100  # 50 ms each way
        proxy.clear()
        w.close()

    asyncio.run(_with_proxy(body))


def test_stall_holds_data_until_released():
    async def body(proxy):
        r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
        proxy.impair(stall=True)
        w.write(b"held")
        await w.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(r.readexactly(4), 0.3)
        proxy.impair(stall=False)
        assert await asyncio.wait_for(r.readexactly(4), 5) == b"held"
        w.close()

    asyncio.run(_with_proxy(body))


def test_blackhole_drops_silently_then_aborts_the_broken_connection():
    async def body(proxy):
        r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
        await _roundtrip(r, w, b"ok")
        proxy.impair(blackhole=True)
        w.write(b"lost")
        await w.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(r.readexactly(4), 0.3)
        assert proxy.bytes_dropped >= 4 and proxy.connections == 1  # half-open: still "connected"
        proxy.impair(blackhole=False)
        assert await asyncio.wait_for(r.read(10), 5) == b""  # its byte stream has a hole: aborted
        w.close()

    asyncio.run(_with_proxy(body))


def test_cut_with_refuse_blocks_new_connections_until_restore():
    async def body(proxy):
        r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
        await _roundtrip(r, w, b"a")
        proxy.cut(refuse=True)
        assert await asyncio.wait_for(r.read(10), 5) == b""
        r2, w2 = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await asyncio.wait_for(r2.read(10), 5) == b""  # accepted by the OS, then aborted
        proxy.restore()
        r3, w3 = await asyncio.open_connection("127.0.0.1", proxy.port)
        await _roundtrip(r3, w3, b"back")
        for wr in (w, w2, w3):
            wr.close()

    asyncio.run(_with_proxy(body))


def test_bandwidth_cap_paces_bytes():
    async def body(proxy):
        r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
        proxy.impair(bandwidth_kbps=800)  # 100 kB/s per direction
        assert await _roundtrip(r, w, b"z" * 40_000, timeout=10) >= 0.4
        w.close()

    asyncio.run(_with_proxy(body))


def test_control_port_changes_settings_and_rejects_bad_ones():
    async def body(proxy):
        reply = await control_request("127.0.0.1", proxy.control_port, {"cmd": "set", "delay_ms": 120})
        assert reply["impairment"]["delay_ms"] == 120 and proxy.impairment.delay_ms == 120
        with pytest.raises(LinkProxyError, match="loss"):
            await control_request("127.0.0.1", proxy.control_port, {"cmd": "set", "loss": 2})
        with pytest.raises(LinkProxyError, match="unknown impairment"):
            await control_request("127.0.0.1", proxy.control_port, {"cmd": "set", "color": 1})
        reply = await control_request("127.0.0.1", proxy.control_port, {"cmd": "clear"})
        assert reply["impairment"]["delay_ms"] == 0

    asyncio.run(_with_proxy(body))

"""Before authentication a peer gets little (issue #12, items 7-8): small frames, few slots, deadlines."""

from __future__ import annotations

import _ssl
import asyncio
import gc
import logging
import os
import re
import resource
import ssl
import subprocess
import sys

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake
from websockets.server import ServerProtocol

from vehicle_mw.gateway import Gateway
from vehicle_mw.gateway.loadgen import GrpcVehicle, WsVehicle, hello
from vehicle_mw.gateway.log_limit import RateLimitFilter
from vehicle_mw.gateway.process_limits import HeapTrimmer
from vehicle_mw.gateway.session import LinkSession
from vehicle_mw.gateway.ws_server import _LinkConnection
from vehicle_mw.manifest.gateway import GatewayLimits, GatewayTls
from vehicle_mw.v1 import link_pb2

from .helpers import ROOT, GatewayProcess, local_config, run
from .test_delivery import numbered

Code = link_pb2.Error.Code
GOOD = "VIN-GOOD"


def _partial_frame(declared: int, sent: int) -> bytes:
    """A masked binary WebSocket frame header declaring ``declared`` payload bytes, and ``sent`` of them."""
    return b"\x82\xff" + declared.to_bytes(8, "big") + b"\x00\x00\x00\x00" + b"\x00" * sent


async def closed_within(ws, seconds: float) -> bool:
    try:
        await asyncio.wait_for(ws.wait_closed(), seconds)
    except TimeoutError:
        return False
    return True


def test_unauthenticated_peers_cannot_make_the_gateway_buffer(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True, limits=GatewayLimits(max_preauth_connections=20))

    async def scenario():
        async with Gateway(cfg) as gw:
            good = await WsVehicle.connect(gw.ws_url)
            await good.open(hello(GOOD))
            # partial 8 MiB frames before any Hello: each connection is cut at the frame header
            hostile = [await connect(gw.ws_url, compression=None) for _ in range(10)]
            for ws in hostile:
                ws.transport.write(_partial_frame(8 << 20, 64 * 1024))
            for ws in hostile:
                assert await closed_within(ws, 10), "a partial 8 MiB pre-auth frame must be refused at once"
                assert ws.close_code == 1009  # message too big
            await good.send(numbered(1))
            assert await good.wait_ack(1) == 1

            # gRPC: a large first message gets an Error naming the pre-auth bound
            g = await GrpcVehicle.connect(gw.grpc_target)
            await g.send_raw(b"\x0a" + b"\x00" * (1 << 20))
            down = await g.recv()
            assert down is not None and down.error.code == Code.MESSAGE_TOO_LARGE
            assert "before authentication" in down.error.message
            await g.close()

            # the total number of unauthenticated connections is bounded; authenticated ones do not count
            idle = [await WsVehicle.connect(gw.ws_url) for _ in range(20)]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while gw.core.preauth_count < 20 and loop.time() < deadline:
                await asyncio.sleep(0.02)
            # beyond the bound a connection is closed at accept, before any handshake work
            try:
                over = await WsVehicle.connect(gw.ws_url)
            except (OSError, InvalidHandshake, TimeoutError):
                pass
            else:
                assert await over.recv() is None, "an over-limit connection must be closed"
                await over.close()
            await good.send(numbered(2))
            assert await good.wait_ack(2) == 2
            await idle[0].close()
            deadline = loop.time() + 10
            while gw.core.preauth_count >= 20 and loop.time() < deadline:
                await asyncio.sleep(0.02)
            late = await WsVehicle.connect(gw.ws_url)  # a slot is free again: a vehicle gets in
            assert (await late.open(hello("VIN-LATE"))).WhichOneof("msg") == "welcome"
            await late.close()
            for v in idle[1:]:
                await v.close()
            text = gw.core.metrics.registry.get_sample_value
            assert text("vmw_gateway_preauth_refused_total", {"reason": "too_large"}) >= 1
            assert text("vmw_gateway_preauth_refused_total", {"reason": "over_limit"}) >= 1
            assert text("vmw_gateway_preauth_bytes_total", {"transport": "websocket"}) > 0
            await good.close()

    run(scenario())


async def until(cond, seconds: float = 10.0) -> bool:
    """Wait (bounded) for ``cond()`` to hold; returns whether it did."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not cond():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def test_tls_handshakes_in_progress_count_as_unauthenticated(tmp_path, pki):
    """Item 8: from accept to Welcome a connection holds a pre-auth slot, TLS handshake included."""
    tls = GatewayTls(cert=str(pki.server.cert), key=str(pki.server.key))
    limits = GatewayLimits(max_preauth_connections=8, handshake_timeout_s=2.0)
    cfg = local_config(tmp_path, allow_anonymous=True, tls=tls, limits=limits)
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))

    async def scenario():
        async with Gateway(cfg) as gw:
            good = await WsVehicle.connect(gw.ws_url, ctx)  # authenticated: does not count
            assert (await good.open(hello(GOOD))).WhichOneof("msg") == "welcome"
            assert await until(lambda: gw.core.preauth_count == 0)
            # TCP connections that never send a ClientHello: each holds a slot while TLS is pending
            raw = [await asyncio.open_connection("127.0.0.1", gw.ws_port) for _ in range(8)]
            assert await until(lambda: gw.core.preauth_count == 8), gw.core.preauth_count
            gauge = gw.core.metrics.registry.get_sample_value
            assert gauge("vmw_gateway_preauth_connections", {"transport": "websocket"}) == 8
            # the bound is reached: the next connection is closed before its TLS handshake
            over_r, over_w = await asyncio.open_connection("127.0.0.1", gw.ws_port)
            assert await asyncio.wait_for(over_r.read(), 10) == b""
            over_w.close()
            assert gauge("vmw_gateway_preauth_refused_total", {"reason": "over_limit"}) >= 1
            # the authenticated vehicle is unaffected
            await good.send(numbered(1))
            assert await good.wait_ack(1) == 1
            # the handshake timeout closes the silent ones and frees their slots
            for reader, _w in raw:
                assert await asyncio.wait_for(reader.read(), 15) == b""
            assert await until(lambda: gw.core.preauth_count == 0), gw.core.preauth_count
            late = await WsVehicle.connect(gw.ws_url, ctx)
            assert (await late.open(hello("VIN-LATE"))).WhichOneof("msg") == "welcome"
            assert await until(lambda: gw.core.preauth_count == 0)
            await late.close()
            await good.close()
            for _r, w in raw:
                w.close()

    run(scenario())


def test_closed_connections_are_freed_without_the_garbage_collector(tmp_path, pki):
    """asyncio's transports sit in reference cycles, TLS shutdown errors keep frames in their
    tracebacks, websockets keeps the exceptions that ended a connection, and ``wait_for`` keeps the
    Hello's StopAsyncIteration in its task: without breaking those at connection loss every closed
    connection (its OpenSSL object, read buffer, session, ~100 objects) waited for a full
    collection, which under a reconnect flood took 200 ms with every session's acks behind it."""
    tls = GatewayTls(cert=str(pki.server.cert), key=str(pki.server.key))
    cfg = local_config(tmp_path, allow_anonymous=True, tls=tls)
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    kinds = {
        "_SSLSocket": _ssl._SSLSocket,
        "_LinkConnection": _LinkConnection,
        "ServerProtocol": ServerProtocol,
        "LinkSession": LinkSession,
    }

    def live() -> dict[str, int]:
        counts = dict.fromkeys(kinds, 0)
        for o in gc.get_objects():
            for name, kind in kinds.items():
                if type(o) is kind:
                    counts[name] += 1
        return counts

    def grown(before: dict[str, int]) -> dict[str, int]:
        now = live()
        return {k: now[k] - before[k] for k in kinds if now[k] - before[k] > 2}

    async def scenario():
        async with Gateway(cfg) as gw:
            gc.collect()
            gc.disable()
            try:
                before = live()
                for i in range(30):
                    if i % 3 == 0:
                        async with connect(gw.ws_url, ssl=ctx, compression=None) as ws:
                            ws.transport.write(_partial_frame(8 << 20, 64 * 1024))
                            assert await closed_within(ws, 10)
                    elif i % 3 == 1:  # TLS and upgrade done, closed before any Hello
                        async with connect(gw.ws_url, ssl=ctx, compression=None):
                            pass
                    else:
                        v = await WsVehicle.connect(gw.ws_url, ctx)
                        assert (await v.open(hello(f"VIN-C{i}"))).WhichOneof("msg") == "welcome"
                        await v.close()
                assert await until(lambda: gw.core.preauth_count == 0 and not gw.core.sessions)
                # the gateway's handlers finish their close a moment after the client's
                ok = await until(lambda: not grown(before))
                assert ok, f"left for the garbage collector: {grown(before)}"
            finally:
                gc.enable()

    run(scenario())


def test_heap_trimmer_trims_once_per_burst():
    trimmer = HeapTrimmer(min_free_bytes=16 << 20)
    if not trimmer.available or trimmer.free_bytes() is None:
        pytest.skip("not glibc")
    trimmer.trim_if_worth_it()  # sets the floor
    before = trimmer.trims
    # a burst that leaves holes: every other chunk stays, so the freed ones cannot merge into the
    # heap's top (glibc would give that back by itself) and stay counted as free
    chunks = [bytearray(2000) for _ in range(64 * 1024)]  # 128 MiB, below the mmap size
    kept = chunks[::2]
    assert not trimmer.trim_if_worth_it()  # the floor follows the heap's reuse of free chunks down
    del chunks
    assert trimmer.trim_if_worth_it(), trimmer.free_bytes()
    assert not trimmer.trim_if_worth_it(), "nothing freed since: no second trim"
    assert trimmer.trims == before + 1
    del kept


def test_slowloris_http_connections_are_closed(tmp_path):
    cfg = local_config(tmp_path, allow_anonymous=True, limits=GatewayLimits(http_timeout_s=1.0))

    async def scenario():
        async with Gateway(cfg) as gw:
            port = gw.http_port
            slow = []
            for _ in range(20):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finishes the head
                slow.append((reader, writer))
            for reader, _writer in slow:
                assert await asyncio.wait_for(reader.read(), 10) == b"", (
                    "a partial request head must time out"
                )
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 200")
            for _reader, w in [*slow, (reader, writer)]:
                w.close()

    run(scenario())


def test_descriptor_soft_limit_is_raised_at_start(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(1024, hard)
    gw = GatewayProcess(local_config(tmp_path, allow_anonymous=True), tmp_path)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        ["prlimit", f"--nofile={low}:{hard}", sys.executable, "-m", "vehicle_mw", "gateway", "serve"]
        + ["--config", str(gw.config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None and "gateway" in proc.stdout.readline()
        limits = open(f"/proc/{proc.pid}/limits").read()
        m = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits)
        assert m and int(m.group(1)) == hard == int(m.group(2)), limits
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    if low < hard:
        assert f'"event": "fd_limit_raised", "from": {low}, "to": {hard}' in err


def test_rate_limit_filter_passes_a_burst_then_counts():
    flt = RateLimitFilter(burst=3, window_s=3600)
    log = logging.getLogger("test.flood")
    records = [
        log.makeRecord(
            log.name, logging.ERROR, __file__, 1, '{"event": "accept_failed", "n": %d}', (i,), None
        )
        for i in range(100)
    ]
    passed = [r for r in records if flt.filter(r)]
    assert len(passed) == 3 and flt.suppressed_total == 97
    other = log.makeRecord(log.name, logging.ERROR, __file__, 1, "something else", (), None)
    assert flt.filter(other)  # a different line has its own budget
    flt.window_s = 0  # next window: the first line that passes says how many were dropped
    nxt = log.makeRecord(
        log.name, logging.ERROR, __file__, 1, '{"event": "accept_failed", "n": %d}', (1,), None
    )
    assert flt.filter(nxt) and '"similar_suppressed": 97}' in nxt.getMessage()

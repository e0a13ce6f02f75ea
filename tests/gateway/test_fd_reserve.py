"""Out of descriptors (issue #12, item 8): a legitimate vehicle still gets in, no traceback flood.

The gateway runs in its own process with a low RLIMIT_NOFILE (soft = hard, so raising the soft
limit at start cannot help); raw TCP connections that never speak take every descriptor. accept()
then fails with EMFILE: the gateway gives up its reserve descriptor to take the waiting
connection, sheds the oldest unauthenticated connections and logs one line (per 10 s) saying so.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from vehicle_mw.gateway.loadgen import WsVehicle, hello
from vehicle_mw.manifest.gateway import GatewayLimits

from .helpers import ROOT, GatewayProcess, local_config, run

NOFILE = 160
HOSTILE = 400  # far more than the gateway can hold


def _start(gw: GatewayProcess) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        ["prlimit", f"--nofile={NOFILE}:{NOFILE}", sys.executable, "-m", "vehicle_mw", "gateway", "serve"]
        + ["--config", str(gw.config_file)],
        stdout=subprocess.PIPE,
        stderr=gw.log_file.open("w"),
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    for _ in range(2):
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"gateway exited: {gw.log_file.read_text()[-2000:]}")
        if m := GatewayProcess.LINE.search(line):
            gw.grpc_target, gw.ws_url = m.group(1), m.group(2)
    return proc


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_descriptor_exhaustion_keeps_room_for_a_vehicle(tmp_path):
    # timeouts far beyond the test's waits: only shedding can make room, not a timeout
    limits = GatewayLimits(handshake_timeout_s=120, hello_timeout_s=120)
    cfg = local_config(tmp_path, allow_anonymous=True, limits=limits)
    gw = GatewayProcess(cfg, tmp_path)
    proc = _start(gw)
    port = int(gw.ws_url.rsplit(":", 1)[1].split("/")[0])

    async def scenario() -> dict:
        loop = asyncio.get_running_loop()
        hostile = []
        for _ in range(HOSTILE):
            hostile.append(await asyncio.open_connection("127.0.0.1", port))  # queued by the kernel
        # wait (bounded) until the gateway has run out of descriptors and said so
        deadline = loop.time() + 30
        while "accept_out_of_descriptors" not in gw.log_file.read_text():
            assert proc.poll() is None, gw.log_file.read_text()[-2000:]
            assert loop.time() < deadline, f"no EMFILE seen; gateway holds {_fds(proc.pid)} descriptors"
            await asyncio.sleep(0.05)
        at_limit = _fds(proc.pid)

        # a legitimate vehicle connects while the hostile connections are still open
        v = await asyncio.wait_for(WsVehicle.connect(gw.ws_url), 20)
        first = await v.open(hello("VIN-LEGIT"), timeout=20)
        assert first is not None and first.WhichOneof("msg") == "welcome", first
        await v.close()

        # shed hostile connections were closed by the gateway (EOF), not left hanging
        async def eof(reader: asyncio.StreamReader) -> bool:
            try:
                return await asyncio.wait_for(reader.read(1), 0.01) == b""
            except (TimeoutError, ConnectionError):
                return False

        closed = sum([await eof(r) for r, _w in hostile])
        for _r, w in hostile:
            w.close()
        return {"at_limit": at_limit, "closed": closed}

    try:
        result = run(scenario(), timeout=120)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    log = gw.log_file.read_text()
    assert result["at_limit"] >= NOFILE - 20, result  # it ran out (the shed ones are closing at any time)
    assert result["closed"] > 0, result
    assert "Traceback" not in log, log[-3000:]
    lines = [x for x in log.splitlines() if "accept_out_of_descriptors" in x]
    assert lines and '"shed_preauth"' in lines[0]
    assert len(lines) <= 3, f"{len(lines)} EMFILE lines: one per 10 s while it lasts"

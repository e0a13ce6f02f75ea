"""kill -9 of the gateway mid-stream: after a restart every sample of a real trace is stored once."""

from __future__ import annotations

import pathlib
import sqlite3

import can

from vehicle_mw.gateway.loadgen import GrpcVehicle, SimVehicle, WsVehicle, batch, hello

from .helpers import GatewayProcess, local_config, run

TRACE = pathlib.Path(__file__).resolve().parents[2] / "vehicle_mw" / "demo" / "data" / "gnss_drive.log"
V = "VIN-CRASH-TEST-01"
PER_BATCH = 20
WINDOW = 32


def trace_batches() -> list:
    """One sample per frame of the trace (source_seq = frame number), 20 per batch."""
    frames = list(can.LogReader(str(TRACE)))
    out = []
    for i in range(0, len(frames), PER_BATCH):
        chunk = frames[i : i + PER_BATCH]
        out.append(
            batch(
                len(out) + 1,
                [f.arbitration_id for f in chunk],
                [float(f.data[0]) if f.data else 0.0 for f in chunk],
                list(range(i + 1, i + 1 + len(chunk))),
                [int(f.timestamp * 1e9) for f in chunk],
            )
        )
    return out


async def stream(v: SimVehicle, batches: list, acked: int, stop_after: int | None, on_stop) -> int:
    """Send with a window of unacknowledged batches; returns the last ack seen."""
    next_seq = acked + 1
    while acked < len(batches):
        try:
            while next_seq <= len(batches) and next_seq - acked <= WINDOW:
                await v.send(batches[next_seq - 1])
                next_seq += 1
            acked = await v.wait_ack(acked + 1)
        except (ConnectionError, TimeoutError):
            return acked
        if stop_after is not None and acked >= stop_after:
            on_stop()  # kill -9 while batches are still in flight
            stop_after = None
    return acked


def test_kill_9_mid_stream_loses_nothing_and_stores_nothing_twice(tmp_path):
    batches = trace_batches()
    total = sum(len(b.batch.columns.signal_id) for b in batches)
    cfg = local_config(tmp_path, allow_anonymous=True)
    gw = GatewayProcess(cfg, tmp_path).start()

    async def first_run() -> int:
        v = await WsVehicle.connect(gw.ws_url)
        await v.open(hello(V))
        acked = await stream(v, batches, 0, len(batches) // 3, gw.kill)
        await v.close()
        return acked

    async def second_run(acked: int, gw2: GatewayProcess) -> tuple[int, int]:
        v = await GrpcVehicle.connect(gw2.grpc_target)
        welcome = (await v.open(hello(V, resume_after_seq=acked, transport="grpc"))).welcome
        done = await stream(v, batches, acked, None, None)  # resend everything not acked to us
        await v.close()
        return welcome.acked_seq, done

    try:
        acked_before_kill = run(first_run())
        assert gw.proc.returncode == -9
        assert len(batches) // 3 <= acked_before_kill < len(batches)
        gw2 = GatewayProcess(cfg, tmp_path).start()
        try:
            gateway_acked, done = run(second_run(acked_before_kill, gw2))
        finally:
            gw2.stop()
    finally:
        gw.kill()
    # typically gateway_acked > acked_before_kill: batches committed whose Ack the kill swallowed,
    # which the vehicle resends and the gateway must drop
    assert gateway_acked >= acked_before_kill and done == len(batches)

    conn = sqlite3.connect(cfg.database)
    seqs = [r[0] for r in conn.execute("SELECT source_seq FROM samples ORDER BY source_seq")]
    conn.close()
    assert len(seqs) == total == 4024
    assert seqs == list(range(1, total + 1)), "every frame of the trace stored exactly once"

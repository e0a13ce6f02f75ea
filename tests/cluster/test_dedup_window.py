"""A batch published again after JetStream's duplicate window (a long outage, then the vehicle's
resend) enters the stream twice, and PostgreSQL still stores it once."""

from __future__ import annotations

import asyncio
import time

from vehicle_mw.cluster.js_backend import JetStreamOptions, JetStreamSink
from vehicle_mw.cluster.pg_queries import PgQueries
from vehicle_mw.cluster.worker import SinkWorker

from .fleet import PER, numbered

V = "VIN-DW-1"
WINDOW_S = 1.0


def test_resend_beyond_the_duplicate_window_is_stored_once(nats1, pg_dsn):
    opts = JetStreamOptions(dsn=pg_dsn, nats=nats1.urls, replicas=1, duplicate_window_s=WINDOW_S)
    batches = [numbered(seq).batch for seq in range(1, 6)]

    async def scenario():
        sink = JetStreamSink(pg_dsn, opts)
        await sink.start()
        first = await asyncio.gather(*(sink.write_batch(V, b, b.columns) for b in batches))
        again = await asyncio.gather(*(sink.write_batch(V, b, b.columns) for b in batches))
        assert first == [True] * 5 and again == [False] * 5  # inside the window: JetStream drops them
        await asyncio.sleep(WINDOW_S + 0.5)  # the server's window must pass: this is what is tested
        late = await asyncio.gather(*(sink.write_batch(V, b, b.columns) for b in batches))
        assert late == [True] * 5  # JetStream took them again
        await sink.stop()
        worker = SinkWorker(nats1.urls, pg_dsn, replicas=1, duplicate_window_s=WINDOW_S)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + 30
        while worker.stats.stored + worker.stats.duplicates < 10:
            assert time.monotonic() < deadline and not task.done(), worker.stats
            await asyncio.sleep(0.05)
        stop.set()
        await task
        assert (worker.stats.stored, worker.stats.duplicates) == (5, 5)

    asyncio.run(asyncio.wait_for(scenario(), 90))
    q = PgQueries(pg_dsn)
    seqs = sorted(int(x) & ((1 << 40) - 1) for x in q.source_seqs(V))
    q.close()
    assert seqs == list(range(1, 5 * PER + 1))

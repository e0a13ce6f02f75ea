"""Durable store-and-forward outbox of sample records.

    from vehicle_mw.store import Outbox
    from vehicle_mw.manifest.channel import OutboxConfig

    outbox = Outbox("/var/lib/vmw/outbox", OutboxConfig(max_bytes=64 << 20, fsync="interval"))
    seqs = outbox.append(samples, priority=1)    # numpy SAMPLE_DTYPE array -> batch seqs
    for batch in outbox.pending(after_seq=outbox.acked_seq, limit=32):
        send(batch.seq, batch.samples, batch.evicted_before)
    outbox.ack(highest_acknowledged_seq)         # deletion happens only here (or by eviction)

Segment files with a CRC per record; a torn tail after kill -9 or power loss is cut on open,
never replayed; a damaged record in the middle costs only itself (the scan resynchronizes on the
next record) and is reported like an eviction. See docs/store.md.
"""

from vehicle_mw.store.outbox import Batch, Outbox, OutboxError, OutboxStats

__all__ = ["Batch", "Outbox", "OutboxError", "OutboxStats"]

"""The JetStream stream between gateway replicas and sink workers: names, envelope, creation.

One subject carries every batch; a message is (vehicle id, the SampleBatch as the vehicle sent
it, compressed columns kept compressed). ``Nats-Msg-Id`` is a digest of (vehicle, seq), so a
batch published twice within the duplicate window (a retry, or a vehicle resending to another
replica) is stored once by JetStream; after the window, the workers' PostgreSQL key drops it.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct

import nats.errors
import nats.js.errors
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from vehicle_mw.gateway.errors import GatewayError
from vehicle_mw.v1 import link_pb2

SUBJECT = "vmw.batch"
STREAM = "VMW_BATCHES"
DURABLE = "vmw-sink"
_LEN = struct.Struct("<H")
# the cluster is electing a leader or a node is gone: try again until the deadline
_RETRY = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.APIError,
)


def msg_id(vehicle_id: str, seq: int) -> str:
    return hashlib.blake2b(f"{vehicle_id}\0{seq}".encode(), digest_size=16).hexdigest()


def encode(vehicle_id: str, batch: link_pb2.SampleBatch) -> bytes:
    vid = vehicle_id.encode()
    return _LEN.pack(len(vid)) + vid + batch.SerializeToString()


def decode(data: bytes) -> tuple[str, link_pb2.SampleBatch]:
    (n,) = _LEN.unpack_from(data)
    vid = data[_LEN.size : _LEN.size + n].decode()
    return vid, link_pb2.SampleBatch.FromString(data[_LEN.size + n :])


async def ensure_stream(
    js, replicas: int, duplicate_window_s: float, max_bytes: int, timeout: float = 30.0
) -> None:
    """Create (or update) the stream; waits for the cluster to elect a JetStream leader."""
    config = StreamConfig(
        name=STREAM,
        subjects=[SUBJECT],
        retention=RetentionPolicy.WORK_QUEUE,  # a message is gone once a worker acked it
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=duplicate_window_s,
        max_bytes=max_bytes,
        discard=DiscardPolicy.NEW,  # full: publishes fail, vehicles get no ack and keep their data
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError:
                await js.update_stream(config)
            return
        except _RETRY as exc:
            if loop.time() > deadline:
                raise GatewayError(f"jetstream: cannot create stream {STREAM}: {exc}") from None
            await asyncio.sleep(0.25)


__all__ = ["DURABLE", "STREAM", "SUBJECT", "decode", "encode", "ensure_stream", "msg_id"]

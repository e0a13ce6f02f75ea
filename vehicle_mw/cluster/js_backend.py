"""The ``jetstream`` storage backend: a stateless gateway replica publishing batches to JetStream.

A batch's future completes when JetStream acknowledged the publish (stored on a quorum of the
stream's replicas), so the vehicle's Ack follows that; sink workers (:mod:`vehicle_mw.cluster.worker`)
copy the stream into PostgreSQL. Publishes are asynchronous with at most ``window`` awaiting their
ack; one not acknowledged in ``ack_timeout_s`` is published again with the same ``Nats-Msg-Id``
(safe: deduplicated), so a NATS node failing mid-publish delays an Ack and loses nothing.

Everything else (registration, sessions, catalog, status, link events, commands) and the read
side go to PostgreSQL directly: they are few, and a replica that takes a vehicle over loads its
watermark and stored batches from there, while a batch still in the stream and resent by the
vehicle is dropped by JetStream's duplicate window or the workers' key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging

import nats
import nats.errors
from pydantic import Field

from vehicle_mw.cluster import js_stream
from vehicle_mw.cluster.pg_backend import PostgresBackend, PostgresOptions
from vehicle_mw.cluster.pg_sink import PgSink
from vehicle_mw.gateway.errors import CommandError, GatewayError
from vehicle_mw.gateway.sink import Sink
from vehicle_mw.v1 import link_pb2

log = logging.getLogger("vehicle_mw.cluster.jetstream")
COMMAND_PREFIX = "vmw.cmd"


def command_subject(vehicle_id: str) -> str:
    return f"{COMMAND_PREFIX}.{hashlib.blake2b(vehicle_id.encode(), digest_size=16).hexdigest()}"


class JetStreamOptions(PostgresOptions):
    nats: list[str] = Field(min_length=1, description="NATS server URLs (nats://[token@]host:port)")
    replicas: int = Field(3, ge=1, le=5, description="stream replicas (3 on a 3-node cluster)")
    window: int = Field(1024, ge=1, le=65536, description="most publishes awaiting their JetStream ack")
    ack_timeout_s: float = Field(5.0, gt=0, description="publish again when not acknowledged by then")
    duplicate_window_s: float = Field(120.0, gt=0, description="JetStream's Nats-Msg-Id dedup window")
    max_bytes: int = Field(
        1 << 30, gt=0, description="stream size bound; full: publishes wait (back-pressure)"
    )


class JetStreamSink(PgSink):
    """Batches to JetStream, the rest to PostgreSQL; downlink commands between replicas over NATS
    (request on ``vmw.cmd.<digest of vehicle>``: the replica holding the vehicle answers)."""

    relays_commands = True

    def __init__(self, dsn: str, options: JetStreamOptions):
        super().__init__(dsn)
        self.options = options
        self._nc = None
        self._js = None
        self._window = asyncio.Semaphore(options.window)
        self._tasks: set[asyncio.Task] = set()
        self.published = 0
        self.republished = 0
        self._core = None

    async def start(self) -> None:
        await super().start()
        o = self.options
        try:
            self._nc = await nats.connect(
                servers=o.nats, max_reconnect_attempts=-1, reconnect_time_wait=0.2, connect_timeout=5,
                name="vmw-gateway",
            )  # fmt: skip
        except (OSError, nats.errors.Error) as exc:
            await super().stop()
            raise GatewayError(f"storage.nats: cannot connect to {len(o.nats)} server(s): {exc}") from None
        self._js = self._nc.jetstream(timeout=o.ack_timeout_s, publish_async_max_pending=o.window)
        await js_stream.ensure_stream(self._js, o.replicas, o.duplicate_window_s, o.max_bytes)

    async def attach(self, core) -> None:
        self._core = core

        async def on_request(msg) -> None:
            try:
                req = json.loads(msg.data)
                vid, kind, payload = req["vehicle_id"], req["kind"], base64.b64decode(req["payload"])
            except (ValueError, KeyError, TypeError):
                return
            state = core.vehicles.get(vid)
            if state is None or state.session is None or msg.subject != command_subject(vid):
                return  # not ours: the replica holding the vehicle answers
            try:
                ack = await core.send_command(vid, kind, payload, local_only=True)
                await msg.respond(b"A" + ack.SerializeToString())
            except CommandError as exc:
                await msg.respond(b"E" + str(exc).encode())

        async def on_msg(msg) -> None:  # NATS runs a subscription's callbacks one at a time
            task = asyncio.create_task(on_request(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        assert self._nc is not None
        await self._nc.subscribe(f"{COMMAND_PREFIX}.*", cb=on_msg)

    async def relay_command(self, vehicle_id: str, kind: str, payload: bytes) -> link_pb2.CommandAck:
        assert self._nc is not None and self._core is not None
        body = json.dumps(
            {"vehicle_id": vehicle_id, "kind": kind, "payload": base64.b64encode(payload).decode()}
        )
        timeout = self._core.config.limits.command_timeout_s + 1.0
        try:
            reply = await self._nc.request(command_subject(vehicle_id), body.encode(), timeout=timeout)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
            raise CommandError(f"vehicle {vehicle_id} is not connected to any gateway replica") from None
        if reply.data[:1] == b"A":
            return link_pb2.CommandAck.FromString(reply.data[1:])
        raise CommandError(reply.data[1:].decode("utf-8", "replace"))

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._nc is not None:
            await self._nc.close()
            self._nc = None
        await super().stop()

    def write_batch(self, vehicle_id, batch, columns) -> asyncio.Future[bool]:
        assert self._loop is not None, "sink not started"
        fut = self._loop.create_future()
        task = self._loop.create_task(self._publish(vehicle_id, batch, fut))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return fut

    async def _publish(self, vehicle_id: str, batch, fut: asyncio.Future) -> None:
        payload = js_stream.encode(vehicle_id, batch)
        headers = {"Nats-Msg-Id": js_stream.msg_id(vehicle_id, batch.seq)}
        delay = 0.05
        try:
            while True:
                try:
                    async with self._window:
                        assert self._js is not None
                        pending = await self._js.publish_async(js_stream.SUBJECT, payload, headers=headers)
                        ack = await asyncio.wait_for(pending, self.options.ack_timeout_s)
                    self.published += 1
                    if not fut.done():
                        fut.set_result(not ack.duplicate)
                    return
                except (TimeoutError, nats.errors.Error) as exc:  # node gone, no quorum, stream full
                    self.republished += 1
                    if self.republished in (1, 100, 10_000):
                        log.warning(json.dumps({"event": "jetstream_publish_retry", "error": str(exc)}))
                    await asyncio.sleep(delay)
                    delay = min(2.0, delay * 2)
        except asyncio.CancelledError:
            if not fut.done():
                fut.set_exception(GatewayError("gateway stopping: batch not acknowledged by jetstream"))
            raise


class JetStreamBackend(PostgresBackend):
    name = "jetstream"
    Options = JetStreamOptions

    def sink(self) -> Sink:
        assert isinstance(self.options, JetStreamOptions)
        return JetStreamSink(self.dsn, self.options)

    def describe(self) -> str:
        assert isinstance(self.options, JetStreamOptions)
        return f"jetstream:{len(self.options.nats)} servers R{self.options.replicas}, " + super().describe()


__all__ = ["JetStreamBackend", "JetStreamOptions", "JetStreamSink"]

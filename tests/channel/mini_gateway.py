"""A minimal but real receiving endpoint for channel tests and benchmarks.

Serves ``VehicleLink.Session`` over gRPC and ``/v1/link`` over WebSocket (optionally TLS/mTLS),
stores every batch in SQLite with dedup on (vehicle, seq), and acknowledges only after the commit:
exactly the delivery contract of ``link.proto``. The full gateway lives in ``vehicle_mw.gateway``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import ssl
import time
from dataclasses import dataclass, field

import grpc
import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from vehicle_mw.channel.protocol import (
    PROTOCOL_VERSION,
    ProtocolError,
    batch_samples,
    check_batch,
    error_downlink,
    parse_frame,
)
from vehicle_mw.native.records import SAMPLE_DTYPE
from vehicle_mw.v1 import link_pb2, link_pb2_grpc


@dataclass
class ServerTls:
    cert_file: str
    key_file: str
    ca_file: str | None = None  # set: client certificates are required (mTLS)


@dataclass
class GatewayStats:
    batches: int = 0
    duplicates: int = 0
    malformed: int = 0
    sessions: int = 0
    link_events: list[link_pb2.LinkEvent] = field(default_factory=list)
    statuses: int = 0
    bundles: int = 0  # Uplink.batches messages received
    first_batch_at: dict[str, float] = field(default_factory=dict)  # transport -> monotonic time
    last_batch_at: dict[str, float] = field(default_factory=dict)


class MiniGateway:
    """Both endpoints on 127.0.0.1, one SQLite file, acks after commit."""

    def __init__(
        self,
        db_path: str,
        tls: ServerTls | None = None,
        max_message_bytes: int = 1 << 20,
        durable: bool = True,
        max_batches_per_message: int = 64,
    ) -> None:
        self.max_batches_per_message = max_batches_per_message  # 0: a gateway from before SampleBatches
        self.durable = durable  # False: ack without storing (benchmarks of the channel alone)
        self.db = sqlite3.connect(db_path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS batches (vehicle TEXT, seq INTEGER, n INTEGER,"
            " evicted_before INTEGER, data BLOB, PRIMARY KEY (vehicle, seq))"
        )
        self.db.commit()
        self.tls = tls
        self.max_bytes = max_message_bytes
        self.stats = GatewayStats()
        self.grpc_port = 0
        self.ws_port = 0
        self._grpc: grpc.aio.Server | None = None
        self._ws = None
        rows = self.db.execute("SELECT vehicle, MAX(seq) FROM batches GROUP BY vehicle")
        self._acked: dict[str, int] = dict(rows)
        self._done: dict[str, set[int]] = {}  # stored (or evicted) above the watermark

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._grpc = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self.max_bytes),
                ("grpc.max_send_message_length", self.max_bytes),
            ]
        )
        link_pb2_grpc.add_VehicleLinkServicer_to_server(_Servicer(self), self._grpc)
        if self.tls:
            creds = grpc.ssl_server_credentials(
                [(_read(self.tls.key_file), _read(self.tls.cert_file))],
                root_certificates=_read(self.tls.ca_file) if self.tls.ca_file else None,
                require_client_auth=self.tls.ca_file is not None,
            )
            self.grpc_port = self._grpc.add_secure_port("127.0.0.1:0", creds)
        else:
            self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        await self._grpc.start()
        ctx = None
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls.cert_file, self.tls.key_file)
            if self.tls.ca_file:
                ctx.load_verify_locations(self.tls.ca_file)
                ctx.verify_mode = ssl.CERT_REQUIRED
        self._ws = await serve(
            self._ws_handler,
            "127.0.0.1",
            0,
            ssl=ctx,
            max_size=self.max_bytes,
            ping_interval=None,
            compression=None,
        )
        self.ws_port = self._ws.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._ws is not None:
            self._ws.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.wait_closed(), 3)
        if self._grpc is not None:
            await self._grpc.stop(grace=None)
        self.db.close()

    # ------------------------------------------------------------------ protocol

    def welcome_or_error(self, up: link_pb2.Uplink, peer: str) -> tuple[str | None, link_pb2.Downlink]:
        if up.WhichOneof("msg") != "hello":
            return None, error_downlink(link_pb2.Error.MALFORMED, f"{peer}: first message must be Hello")
        hello = up.hello
        if hello.protocol_version != PROTOCOL_VERSION:
            return None, error_downlink(
                link_pb2.Error.UNSUPPORTED_VERSION,
                f"protocol {hello.protocol_version} not supported; accepted: [{PROTOCOL_VERSION}]",
            )
        if not hello.vehicle_id:
            return None, error_downlink(link_pb2.Error.UNAUTHENTICATED, "Hello.vehicle_id is empty")
        self.stats.sessions += 1
        if hello.resume_after_seq > self._acked.get(hello.vehicle_id, 0):  # the vehicle deleted those
            self._acked[hello.vehicle_id] = hello.resume_after_seq
        down = link_pb2.Downlink()
        down.welcome.protocol_version = PROTOCOL_VERSION
        down.welcome.acked_seq = self._acked.get(hello.vehicle_id, 0)
        down.welcome.catalog_known = True
        down.welcome.gateway_id = "mini"
        down.welcome.max_message_bytes = self.max_bytes
        down.welcome.max_batches_per_message = self.max_batches_per_message
        return hello.vehicle_id, down

    def handle(self, vehicle: str, up: link_pb2.Uplink, peer: str) -> list[link_pb2.Downlink]:
        """Downlinks answering ``up``: an Echo, or the cumulative Ack after batches (then one Error
        per refused batch of a bundle: the others are stored and acknowledged as if they came alone)."""
        kind = up.WhichOneof("msg")
        if kind == "probe":
            down = link_pb2.Downlink()
            down.echo.id = up.probe.id
            down.echo.sent_ns = up.probe.sent_ns
            return [down]
        if kind in ("batch", "batches"):
            if kind == "batch":
                self._batch(vehicle, up.batch, peer)  # a refused lone batch: only the Error goes back
                batches = []
            else:
                self.stats.bundles += 1
                batches = list(up.batches.batches)
                if not 1 <= len(batches) <= max(1, self.max_batches_per_message) or (
                    self.max_batches_per_message < 2
                ):
                    raise ProtocolError(
                        peer,
                        f"SampleBatches of {len(batches)} batches; this gateway accepts "
                        f"{self.max_batches_per_message} per message",
                        link_pb2.Error.MESSAGE_TOO_LARGE,
                    )
            errors = []
            for batch in batches:
                try:
                    self._batch(vehicle, batch, peer)
                except ProtocolError as exc:
                    self.stats.malformed += 1
                    errors.append(error_downlink(exc.code, str(exc)))
            down = link_pb2.Downlink()
            down.ack.acked_seq = self._acked.get(vehicle, 0)
            return [down, *errors]
        if kind == "link_event":
            self.stats.link_events.append(up.link_event)
        elif kind == "status":
            self.stats.statuses += 1
        elif kind == "hello":
            raise ProtocolError(peer, "second Hello in one session")
        return []

    def _batch(self, vehicle: str, batch: link_pb2.SampleBatch, peer: str) -> None:
        """Store (or, ack-only, count) one batch and move the vehicle's contiguous watermark."""
        transport = "websocket" if peer.startswith("ws") else "grpc"
        now = time.monotonic()
        self.stats.first_batch_at.setdefault(transport, now)
        self.stats.last_batch_at[transport] = now
        try:
            if not self.durable:  # checked as for storage, but no sample array is built
                check_batch(batch, peer)
                raise _NotStored
            samples = batch_samples(batch, peer)
            self.db.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?)",
                (vehicle, batch.seq, len(samples), batch.evicted_before, samples.tobytes()),
            )
            self.db.commit()  # ack only what is durable
            self.stats.batches += 1
        except sqlite3.IntegrityError:
            self.stats.duplicates += 1
        except _NotStored:
            self.stats.batches += 1
        done = self._done.setdefault(vehicle, set())
        done.update(range(batch.seq - batch.evicted_batches_before, batch.seq + 1))
        acked = self._acked.get(vehicle, 0)
        while acked + 1 in done:  # contiguous watermark; evicted seqs count as done
            acked += 1
            done.discard(acked)
        self._acked[vehicle] = acked

    def stored_samples(self, vehicle: str) -> np.ndarray:
        rows = self.db.execute(
            "SELECT data FROM batches WHERE vehicle = ? ORDER BY seq", (vehicle,)
        ).fetchall()
        if not rows:
            return np.zeros(0, SAMPLE_DTYPE)
        return np.concatenate([np.frombuffer(r[0], SAMPLE_DTYPE) for r in rows])

    def stored_seqs(self, vehicle: str) -> list[int]:
        return [
            r[0]
            for r in self.db.execute("SELECT seq FROM batches WHERE vehicle = ? ORDER BY seq", (vehicle,))
        ]

    # ------------------------------------------------------------------ WebSocket

    async def _ws_handler(self, ws: ServerConnection) -> None:
        peer = f"ws:{ws.remote_address}"
        if ws.request is None or ws.request.path != "/v1/link":
            await ws.close(1008, "unknown path; use /v1/link")
            return
        with contextlib.suppress(ConnectionClosed):
            await self._ws_session(ws, peer)

    async def _ws_session(self, ws: ServerConnection, peer: str) -> None:
        vehicle: str | None = None
        async for data in ws:
            try:
                up = parse_frame(data, link_pb2.Uplink, peer, self.max_bytes)
                if vehicle is None:
                    vehicle, down = self.welcome_or_error(up, peer)
                    await ws.send(down.SerializeToString())
                    if vehicle is None:
                        await ws.close(1008, "session refused")
                        return
                    continue
                downs = self.handle(vehicle, up, peer)
            except ProtocolError as exc:
                self.stats.malformed += 1
                await ws.send(error_downlink(exc.code, str(exc)).SerializeToString())
                continue  # a bad frame is refused; the session goes on
            for down in downs:
                await ws.send(down.SerializeToString())


class _Servicer(link_pb2_grpc.VehicleLinkServicer):
    def __init__(self, gw: MiniGateway) -> None:
        self.gw = gw

    async def Session(self, request_iterator, context: grpc.aio.ServicerContext):  # noqa: N802 - gRPC name
        peer = f"grpc:{context.peer()}"
        vehicle: str | None = None
        while True:
            up = await context.read()
            if up is grpc.aio.EOF:
                return
            try:
                if up.WhichOneof("msg") is None:
                    raise ProtocolError(peer, "empty or unknown Uplink (no message set)")
                if vehicle is None:
                    vehicle, down = self.gw.welcome_or_error(up, peer)
                    await context.write(down)
                    if vehicle is None:
                        return
                    continue
                downs = self.gw.handle(vehicle, up, peer)
            except ProtocolError as exc:
                self.gw.stats.malformed += 1
                await context.write(error_downlink(exc.code, str(exc)))
                continue
            for down in downs:
                await context.write(down)


class _NotStored(Exception):
    """Internal: durable=False skips the SQLite insert."""


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


__all__ = ["GatewayStats", "MiniGateway", "ServerTls"]

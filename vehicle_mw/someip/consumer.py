"""Consumer of one service instance: SD and subscriptions through someipy, events on a fast path.

UDP events are received on the consumer's own socket (``consumer_endpoint``) by a
receiver thread that parses every message of every datagram, decodes it with the
manifest's types and pushes ``vmw_sample`` batches to the sink; the someipy daemon
only does SD for them. TCP events come through the daemon and are decoded the same
way. Method calls and field get/set go through someipy from ``consumer_endpoint.port + 1``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import queue
import select
import socket
import struct
import threading
import time
from collections import Counter
from typing import Any

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.manifest.someip import SomeIpService
from vehicle_mw.native.records import SAMPLE_SIZE
from vehicle_mw.someip import wire
from vehicle_mw.someip.codec import CodecError, build_codec
from vehicle_mw.someip.samples import EventDecoder, SampleSink, event_decoders

log = logging.getLogger("vehicle_mw.someip.consumer")

BATCH_RECORDS = 1024  # samples per push_batch at most
_MAX_SAMPLES_PER_EVENT = 256  # = MAX_SIGNALS_PER_EVENT of the manifest


class SomeIpCallError(VehicleMwError):
    """A method call or field access that failed: not available, timed out, or answered with an error."""


class InputStats:
    """Counters of what arrived and what was dropped, with the peer of every drop."""

    def __init__(self) -> None:
        self.events = 0
        self.sink_overflow = 0  # samples the sink (a full ring) refused
        self.dropped: Counter[tuple[str, str]] = Counter()  # (peer ip, reason) -> count
        self._logged: set[tuple[str, str]] = set()

    def drop(self, peer: str, reason: str, detail: str) -> None:
        self.dropped[(peer, reason)] += 1
        if (peer, reason) not in self._logged:  # first of each kind per peer; the counter has the rest
            self._logged.add((peer, reason))
            log.warning("dropped SOME/IP input from %s: %s (%s)", peer, reason, detail)

    def dropped_total(self, reason: str | None = None) -> int:
        return sum(n for (_, r), n in self.dropped.items() if reason is None or r == reason)


class _EventSink:
    """Accumulates sample records of many events and hands full batches to the sink.

    The UDP receiver and the TCP path each have one; ``lock`` keeps the sink
    single-producer (the sample ring is SPSC). Records a full ring refuses are counted.
    """

    def __init__(self, sink: SampleSink | None, stats: InputStats, on_field: Any, lock: threading.Lock):
        self.sink, self.stats, self.on_field, self.lock = sink, stats, on_field, lock
        self.buf = bytearray((BATCH_RECORDS + _MAX_SAMPLES_PER_EVENT) * SAMPLE_SIZE)
        self.n = 0

    def flush(self) -> None:
        if self.n and self.sink is not None:
            with self.lock:
                accepted = self.sink.push_batch(memoryview(self.buf)[: self.n * SAMPLE_SIZE])
            if isinstance(accepted, int) and accepted < self.n:
                self.stats.sink_overflow += self.n - accepted
        self.n = 0


class Consumer:
    """Uses one service instance; create it with :meth:`SomeIpRuntime.consume`."""

    def __init__(
        self, service: SomeIpService, interface_ip: str, daemon_client: Any, sink: SampleSink | None
    ):
        from someipy import ClientServiceInstance

        from vehicle_mw.someip.service_model import someipy_service

        self.service = service
        self.stats = InputStats()
        self.field_values: dict[str, Any] = {}
        self.available = asyncio.Event()
        self.lost_count = 0
        self.provider_ip: str | None = None
        self._ip = service.consumer_endpoint.ip or interface_ip
        self._port = service.consumer_endpoint.port
        self._daemon = daemon_client
        self._decoders: dict[int, EventDecoder] = event_decoders(service)
        self._field_codecs = {
            f.notifier: (f.name, build_codec(f.type, service.types, service.byte_order))
            for f in service.fields
            if f.notifier is not None
        }
        self._seq = itertools.count()
        self._someipy_service = someipy_service(service)
        self._client = ClientServiceInstance(
            daemon_client,
            self._someipy_service,
            service.instance_id,
            self._ip,
            self._port + 1,
            client_id=0x1000 + service.source_id,
        )
        self._client.register_callback(self._slow_event)
        push_lock = threading.Lock()
        self._slow = _EventSink(sink, self.stats, self._field_changed, push_lock)
        self._fast = _EventSink(sink, self.stats, self._field_changed, push_lock)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._groups: dict[tuple[str, int], socket.socket] = {}
        self._new_socks: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self._monitor: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._loop = asyncio.get_running_loop()

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self, poll_interval: float = 0.1, rt_priority: int | None = None) -> None:
        self._rt_priority = rt_priority
        if any(e.protocol == "udp" for e in self.service.events) or any(
            f.protocol == "udp" for f in self.service.fields
        ):
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            self._sock.bind((self._ip, self._port))
            self._sock.setblocking(False)
            self._thread = threading.Thread(
                target=self._receive_loop, name=f"someip-rx-{self.service.name}", daemon=True
            )
            self._thread.start()
        self.subscribe()
        self._monitor = asyncio.create_task(self._watch_availability(poll_interval))

    def subscribe(self) -> None:
        """Ask the daemon for every eventgroup (again after a daemon restart); it subscribes on each offer."""
        for group in self._someipy_service.eventgroups.values():
            self._daemon.transmit_message_to_daemon(
                {
                    "type": "SubscribeEventGroupRequest",
                    "service_id": self.service.service_id,
                    "instance_id": self.service.instance_id,
                    "major_version": self.service.major_version,
                    "eventgroup": group.to_json(),
                    "ttl_subscription": self.service.sd.ttl,
                    "client_endpoint_ip": self._ip,
                    "client_endpoint_port": self._port,
                    "udp": group.has_udp,
                    "tcp": group.has_tcp,
                    "vmw_external_endpoint": True,
                }
            )

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            try:
                await self._monitor
            except asyncio.CancelledError:
                pass
        for group in self._someipy_service.eventgroups.values():
            self._client.unsubscribe_eventgroup(group)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        for sock in [self._sock, *self._groups.values()]:
            if sock is not None:
                sock.close()

    # ---- availability ---------------------------------------------------------------------

    async def _watch_availability(self, interval: float) -> None:
        while True:
            try:
                await self._check_availability()
            except Exception as exc:  # e.g. the daemon is being restarted: try again next round
                log.debug("%s: availability check failed: %s", self.service.name, exc)
            async with self._changed:
                self._changed.notify_all()
            await asyncio.sleep(interval)

    async def _check_availability(self) -> None:
        found = await self._daemon._find_service(
            self.service.service_id, self.service.instance_id, self.service.major_version, 0xFFFFFFFF
        )
        if found is not None and not self.available.is_set():
            self.provider_ip = str(found.endpoint[0])
            self.available.set()
            log.info("%s available at %s:%s", self.service.name, *found.endpoint)
        elif found is None and self.available.is_set():
            self.available.clear()
            self.lost_count += 1
            log.warning(
                "%s lost (StopOffer or TTL expiry); will resubscribe when it returns", self.service.name
            )
        if found is not None:
            for sid, iid, _, group, port in (await self._daemon.vmw_status()).get("multicast", []):
                if (sid, iid) == (self.service.service_id, self.service.instance_id):
                    self._join_multicast(group, port)

    async def wait_available(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.available.wait(), timeout)
        except TimeoutError:
            raise SomeIpCallError(f"service {self.service.name} not offered within {timeout} s") from None

    async def subscribed(self) -> bool:
        """Whether the provider acknowledged every eventgroup subscription."""
        active = {tuple(a) for a in (await self._daemon.vmw_status())["active"]}
        sid, iid = self.service.service_id, self.service.instance_id
        return all((sid, iid, g.id) in active for g in self.service.eventgroups)

    async def wait_subscribed(self, timeout: float, poll: float = 0.05) -> None:
        """Wait (bounded) until every eventgroup subscription is acknowledged."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await self.subscribed():
            if asyncio.get_running_loop().time() > deadline:
                raise SomeIpCallError(
                    f"{self.service.name}: subscriptions not acknowledged within {timeout} s"
                )
            await asyncio.sleep(poll)

    async def wait_lost(self, timeout: float) -> None:
        async def lost() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: not self.available.is_set())

        try:
            await asyncio.wait_for(lost(), timeout)
        except TimeoutError:
            raise SomeIpCallError(f"service {self.service.name} still offered after {timeout} s") from None

    # ---- events ---------------------------------------------------------------------------

    def _receive_loop(self) -> None:
        fast = self._fast
        assert self._sock is not None
        if self._rt_priority is not None:  # wake-up latency is what p99 is made of on a loaded ECU
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self._rt_priority))
            except (PermissionError, OSError) as exc:
                log.warning(
                    "%s: SCHED_FIFO %d not granted for the receiver: %s",
                    self.service.name,
                    self._rt_priority,
                    exc,
                )
        buf = bytearray(65536)
        view = memoryview(buf)
        poller = select.poll()
        socks: dict[int, socket.socket] = {}
        pending = [self._sock]
        while not self._stop.is_set():
            while pending:  # sockets added since (multicast eventgroups joined by the monitor)
                sock = pending.pop()
                socks[sock.fileno()] = sock
                poller.register(sock, select.POLLIN)
            for fd, _ in poller.poll(100):
                sock = socks[fd]
                while True:  # drain what is queued, then hand the batch over
                    try:
                        size, peer = sock.recvfrom_into(buf)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        return
                    try:
                        self._handle_datagram(view[:size], peer[0], time.time_ns(), fast)
                    except Exception as exc:  # a bug must cost one datagram, not the receiver
                        self.stats.drop(peer[0], "internal error", repr(exc))
                    if fast.n >= BATCH_RECORDS:
                        fast.flush()
            fast.flush()
            while not self._new_socks.empty():
                pending.append(self._new_socks.get())

    def _join_multicast(self, group: str, port: int) -> None:
        """Receive a multicast eventgroup on a socket of its own (someipy would not)."""
        if (group, port) in self._groups or self._thread is None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind((group, port))
        sock.setsockopt(
            socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(self._ip)
        )
        sock.setblocking(False)
        self._groups[(group, port)] = sock
        self._new_socks.put(sock)
        log.info("%s: joined multicast eventgroup %s:%d", self.service.name, group, port)

    def _handle_datagram(self, data: memoryview, peer: str, ts_ns: int, out: _EventSink) -> None:
        stats, sid = self.stats, self.service.service_id
        if self.provider_ip is not None and peer != self.provider_ip:
            stats.drop(peer, "unknown peer", f"not the provider {self.provider_ip}")
            return
        for item in wire.split(data):
            if isinstance(item, wire.Malformed):
                stats.drop(peer, "malformed", f"offset {item.offset}: {item.reason}")
                return
            if item.service_id != sid:
                stats.drop(peer, "unknown service", f"service {item.service_id:#06x}")
                continue
            if item.message_type != wire.NOTIFICATION:
                stats.drop(peer, "unexpected message type", f"type {item.message_type:#04x}")
                continue
            self._event(item.method_id, item.payload, peer, ts_ns, out)

    def _event(self, event_id: int, payload: memoryview, peer: str, ts_ns: int, out: _EventSink) -> None:
        decoder = self._decoders.get(event_id)
        if decoder is None:
            self.stats.drop(peer, "unknown event", f"event {event_id:#06x}")
            return
        try:
            out.n = decoder.write(payload, ts_ns, next(self._seq), out.buf, out.n)
        except (CodecError, KeyError, IndexError, TypeError, ValueError, struct.error) as exc:
            self.stats.drop(peer, "decode error", str(exc))
            return
        self.stats.events += 1
        if event_id in self._field_codecs:
            out.on_field(event_id, payload)

    def _field_changed(self, event_id: int, payload: memoryview) -> None:
        name, codec = self._field_codecs[event_id]
        value = codec.decode(payload)
        self._loop.call_soon_threadsafe(self.field_values.__setitem__, name, value)

    def _slow_event(self, event_id: int, payload: bytes) -> None:
        self._event(event_id, memoryview(payload), self.provider_ip or "daemon", time.time_ns(), self._slow)
        self._slow.flush()

    # ---- methods and fields ---------------------------------------------------------------

    async def call(self, method: str, value: Any = None, timeout: float = 5.0) -> Any:
        """Call a method by name with a request value; returns the decoded response value."""
        spec = next((m for m in self.service.methods if m.name == method), None)
        if spec is None:
            raise SomeIpCallError(f"service {self.service.name} has no method {method!r}")
        req = build_codec(spec.request, self.service.types, self.service.byte_order)
        resp = build_codec(spec.response, self.service.types, self.service.byte_order)
        return await self._invoke(spec.id, req.encode(value), resp, f"{method}()", timeout)

    async def get_field(self, name: str, timeout: float = 5.0) -> Any:
        fld = self._field(name)
        if fld.getter is None:
            raise SomeIpCallError(f"field {name!r} has no getter")
        codec = build_codec(fld.type, self.service.types, self.service.byte_order)
        return await self._invoke(fld.getter, b"", codec, f"get {name}", timeout)

    async def set_field(self, name: str, value: Any, timeout: float = 5.0) -> Any:
        fld = self._field(name)
        if fld.setter is None:
            raise SomeIpCallError(f"field {name!r} has no setter")
        codec = build_codec(fld.type, self.service.types, self.service.byte_order)
        return await self._invoke(fld.setter, codec.encode(value), codec, f"set {name}", timeout)

    def _field(self, name: str) -> Any:
        fld = next((f for f in self.service.fields if f.name == name), None)
        if fld is None:
            raise SomeIpCallError(f"service {self.service.name} has no field {name!r}")
        return fld

    async def _invoke(self, method_id: int, payload: bytes, codec: Any, what: str, timeout: float) -> Any:
        try:
            result = await asyncio.wait_for(self._client.call_method(method_id, payload), timeout)
        except TimeoutError:
            raise SomeIpCallError(f"{self.service.name}: {what} got no response within {timeout} s") from None
        except RuntimeError as exc:  # someipy: service not found
            raise SomeIpCallError(f"{self.service.name}: {what}: {exc}") from None
        if result.return_code.value != wire.E_OK:
            raise SomeIpCallError(f"{self.service.name}: {what} answered {result.return_code.name}")
        try:
            return codec.decode(result.payload)
        except CodecError as exc:
            raise SomeIpCallError(f"{self.service.name}: {what}: bad response: {exc}") from None


__all__ = ["Consumer", "InputStats", "SomeIpCallError", "BATCH_RECORDS"]
